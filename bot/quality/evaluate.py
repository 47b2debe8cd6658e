"""`supportbot eval DATA.csv`: the real decision path on labelled messages.

Nothing is sent and no paid model is called (unless --with-llm): each row goes through
bot/pipeline/decide.py's Decider.choose, the function live handling calls, as the first message of a
fresh conversation: the local model (the cascade without its LLM stage unless --with-llm),
signals (safety included), the knowledge base, the policy and the plan (routes that cannot
be served here degrade as they would for a customer: without --with-llm, as with no key).
The figures:

  intent       accuracy, macro-F1, the most confused (expected, predicted) pairs, and
               out-of-scope precision/recall when some rows are labelled `oos`
  routes       expected x decided table, human-needed recall (rows labelled human that went
               to a person), false escalation rate (rows labelled auto or another route that
               went to a person), containment (rows the bot kept), route accuracy
  calibration  ECE and a reliability table of the local model's top probability, and how
               accurate it is at or above the confidence threshold

The CSV: UTF-8, a header row; `text` required; `intent` optional (an intent name, or `oos`
for out of scope); `route` optional (template, knowledge, cheap_llm, strong_llm, human, or
`auto` = any route but human; `expected` and `expected_route` are read as `route`); `channel` optional.
Rows are numbered as in a spreadsheet (header = row 1).
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bot.classify import calibration
from bot.classify.protocol import Classifier
from bot.history import History
from bot.pipeline.decide import Decider
from bot.messages import OUT_OF_SCOPE, Classification, Decision, Route, Signals
from bot.settings import Settings
from bot.csvfile import open_csv

ROUTES = tuple(r.value for r in Route)
AUTO = "auto"
OOS_LABELS = {"oos", OUT_OF_SCOPE}
DEFAULT_CHANNEL = "web"
TOP_CONFUSED = 10


class EvalDataError(ValueError):
    """A problem with the evaluation file a person can fix: which row and why."""


@dataclass(frozen=True)
class EvalRow:
    row: int  # spreadsheet row number (header = 1)
    text: str
    intent: str | None = None  # OUT_OF_SCOPE for `oos`
    route: str | None = None  # a Route value or "auto"
    channel: str = DEFAULT_CHANNEL


def read_eval_csv(path: str | Path) -> list[EvalRow]:
    p = Path(path)
    try:
        header, reader = open_csv(p, EvalDataError, "a header with a text column")
    except OSError as e:
        raise EvalDataError(f"{p}: cannot read: {e.strerror or e}") from None
    for alias in ("expected_route", "expected"):
        if "route" not in header and alias in header:
            header[header.index(alias)] = "route"
    if "text" not in header:
        raise EvalDataError(f"{p}: row 1: missing column 'text' in the header (found: {', '.join(header) or 'nothing'})")
    col = {name: header.index(name) for name in ("text", "intent", "route", "channel") if name in header}
    rows: list[EvalRow] = []
    n = 1
    try:
        for n, rec in enumerate(reader, start=2):
            if not any(f.strip() for f in rec):
                continue

            def get(name: str) -> str:
                return rec[col[name]].strip() if name in col and col[name] < len(rec) else ""

            text = get("text")
            if not text:
                raise EvalDataError(f"{p}: row {n}: empty text")
            intent = get("intent") or None
            if intent is not None and intent.lower() in OOS_LABELS:
                intent = OUT_OF_SCOPE
            route = get("route").lower() or None
            if route is not None and route not in (*ROUTES, AUTO):
                raise EvalDataError(f"{p}: row {n}: unknown route {route!r}; use one of {', '.join((*ROUTES, AUTO))}")
            rows.append(EvalRow(n, text, intent, route, get("channel") or DEFAULT_CHANNEL))
    except csv.Error as e:
        raise EvalDataError(f"{p}: row {n + 1}: invalid CSV: {e}") from None
    if not rows:
        raise EvalDataError(f"{p}: row 2: no rows after the header")
    return rows


# --- the decision path: bot/pipeline/decide.py, as live handling runs it -----------------------------

@dataclass
class Decided:
    classification: Classification
    signals: Signals
    decision: Decision
    article_score: float


async def decide(text: str, decider: Decider, channel: str = DEFAULT_CHANNEL, history: History | None = None) -> Decided:
    """One message through Decider.choose as a new conversation's first message; nothing sent or stored."""
    choice = await decider.choose(text, channel=channel, history=history or History())
    return Decided(choice.classification, choice.signals, choice.decision, choice.facts.article_score)


# --- figures ------------------------------------------------------------------------------

def _div(a: float, b: float) -> float | None:
    return a / b if b else None


def intent_figures(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import f1_score

    if not gold:
        return {"n": 0, "accuracy": None, "macro_f1": None, "confused": [], "oos_precision": None, "oos_recall": None}
    g, p = np.asarray(gold), np.asarray(pred)
    confused = Counter((a, b) for a, b in zip(gold, pred) if a != b).most_common(TOP_CONFUSED)
    gold_oos, pred_oos = g == OUT_OF_SCOPE, p == OUT_OF_SCOPE
    has_oos = bool(gold_oos.any())
    return {
        "n": len(gold),
        "accuracy": float(np.mean(g == p)),
        "macro_f1": float(f1_score(g, p, average="macro", zero_division=0)),
        "confused": [{"expected": a, "predicted": b, "n": k} for (a, b), k in confused],
        "oos_precision": _div(float((gold_oos & pred_oos).sum()), float(pred_oos.sum())) if has_oos else None,
        "oos_recall": _div(float((gold_oos & pred_oos).sum()), float(gold_oos.sum())) if has_oos else None,
    }


def route_figures(expected: Sequence[str | None], decided: Sequence[str]) -> dict[str, Any]:
    """expected: a route, "auto" or None (unlabelled) per row; decided: the policy's route per row."""
    mix = Counter(decided)
    labelled = [(e, d) for e, d in zip(expected, decided) if e is not None]
    human = [d for e, d in labelled if e == Route.HUMAN.value]
    not_human = [d for e, d in labelled if e != Route.HUMAN.value]
    confusion: dict[str, dict[str, int]] = {}
    for e, d in labelled:
        confusion.setdefault(e, Counter())[d] += 1
    ok = sum(1 for e, d in labelled if e == d or (e == AUTO and d != Route.HUMAN.value))
    return {
        "n": len(labelled),
        "decided": {r: mix.get(r, 0) for r in ROUTES},
        "confusion": {e: dict(row) for e, row in sorted(confusion.items())},
        "accuracy": _div(ok, len(labelled)),
        "human_recall": _div(sum(1 for d in human if d == Route.HUMAN.value), len(human)),
        "false_escalation_rate": _div(sum(1 for d in not_human if d == Route.HUMAN.value), len(not_human)),
        "containment": _div(sum(1 for d in decided if d != Route.HUMAN.value), len(decided)),
    }


def calibration_figures(probs: np.ndarray, classes: Sequence[str], gold: Sequence[str],
                        threshold: float) -> dict[str, Any]:
    """Reliability of the top probability on rows whose intent the model knows."""
    known = set(classes)
    keep = [i for i, g in enumerate(gold) if g in known]
    if not keep:
        return {"n": 0, "ece": None, "reliability": [], "threshold": threshold,
                "share_at_threshold": None, "accuracy_at_threshold": None}
    p = np.atleast_2d(probs)[keep]
    conf = p.max(1)
    ok = (np.asarray(classes)[p.argmax(1)] == np.asarray([gold[i] for i in keep])).astype(float)
    above = conf >= threshold
    return {"n": len(keep), "ece": calibration.ece(conf, ok), "reliability": calibration.reliability(conf, ok),
            "threshold": threshold, "share_at_threshold": float(above.mean()),
            "accuracy_at_threshold": float(ok[above].mean()) if above.any() else None}


@dataclass
class EvalResult:
    rows: list[EvalRow]
    decided: list[Decided]
    intent: dict[str, Any]  # intent_figures
    routes: dict[str, Any]  # route_figures
    calibration: dict[str, Any]  # calibration_figures
    model_version: str
    threshold: float
    unknown_intents: list[str] = field(default_factory=list)  # labels the model was not trained on
    calibrated: dict[str, Any] | None = None  # what --calibrate fitted and saved

    def as_json(self) -> dict[str, Any]:
        return {
            "n": len(self.rows),
            "intent_accuracy": self.intent["accuracy"],
            "macro_f1": self.intent["macro_f1"],
            "oos_precision": self.intent["oos_precision"],
            "oos_recall": self.intent["oos_recall"],
            "human_recall": self.routes["human_recall"],
            "false_escalation_rate": self.routes["false_escalation_rate"],
            "containment": self.routes["containment"],
            "route_accuracy": self.routes["accuracy"],
            "ece": self.calibration["ece"],
            "routes": {"decided": self.routes["decided"], "confusion": self.routes["confusion"]},
            "confused": self.intent["confused"],
            "reliability": self.calibration["reliability"],
            "accuracy_at_threshold": self.calibration["accuracy_at_threshold"],
            "share_at_threshold": self.calibration["share_at_threshold"],
            "n_intent": self.intent["n"], "n_route": self.routes["n"], "n_calibration": self.calibration["n"],
            "threshold": self.threshold, "model_version": self.model_version,
            "unknown_intents": self.unknown_intents, "calibrated": self.calibrated,
        }


async def evaluate(rows: list[EvalRow], settings: Settings, classifier: Classifier, decider: Decider) -> EvalResult:
    decided = [await decide(r.text, decider, r.channel) for r in rows]
    labelled = [(r, r.intent, d) for r, d in zip(rows, decided) if r.intent is not None]
    gold = [g for _, g, _ in labelled]
    intent = intent_figures(gold, [d.classification.intent for _, _, d in labelled])
    routes = route_figures([r.route for r in rows], [d.decision.route.value for d in decided])
    threshold = settings.policy.confidence_threshold
    if labelled:
        classes, probs = classifier.predict_proba([r.text for r, _, _ in labelled])
    else:
        classes, probs = classifier.intents, np.zeros((0, len(classifier.intents)))
    cal = calibration_figures(probs, classes, gold, threshold)
    unknown = sorted({g for g in gold if g not in set(classes) and g != OUT_OF_SCOPE})
    return EvalResult(rows, decided, intent, routes, cal, classifier.model_version, threshold, unknown)


def calibrate(classifier: Classifier, rows: list[EvalRow],
              method: str = "temperature") -> tuple[calibration.Calibrator, dict[str, Any]]:
    """Fit a calibration map on the rows with a known intent (uncalibrated probabilities)."""
    known = [(r, r.intent) for r in rows if r.intent is not None and r.intent in set(classifier.intents)]
    rows = [r for r, _ in known]
    if len(rows) < 10:
        raise EvalDataError(f"--calibrate needs at least 10 rows with an intent the model knows, got {len(rows)}")
    previous, classifier.calibrator = classifier.calibrator, None
    try:
        classes, probs = classifier.predict_proba([r.text for r in rows])
    finally:
        classifier.calibrator = previous
    gold = [g for _, g in known]
    cal = calibration.fit(probs, classes, gold, method)
    cal.info["ece_after_cross_fitted"] = calibration.cross_fitted_ece(probs, classes, gold, method)
    return cal, {"method": method, "n": len(rows), **cal.info,
                 **({"temperature": cal.temperature} if method == "temperature" else {})}


# --- text report ------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def render(result: EvalResult) -> str:
    out: list[str] = []
    w = out.append
    w(f"supportbot eval: {len(result.rows)} rows, model {result.model_version}, "
      f"confidence threshold {result.threshold:.2f}")
    i = result.intent
    w("")
    w(f"intent ({i['n']} rows with an intent)")
    if i["n"]:
        w(f"  accuracy        {_pct(i['accuracy'])}")
        w(f"  macro-F1        {_pct(i['macro_f1'])}")
        if i["oos_recall"] is not None:
            w(f"  out of scope    precision {_pct(i['oos_precision'])}  recall {_pct(i['oos_recall'])}")
        if i["confused"]:
            w("  most confused (expected -> predicted):")
            for c in i["confused"]:
                w(f"    {c['n']:>4}  {c['expected']} -> {c['predicted']}")
        if result.unknown_intents:
            w(f"  note: intents the model does not know: {', '.join(result.unknown_intents)}")
    else:
        w("  no intent column (or no intents filled in)")
    r = result.routes
    w("")
    w(f"routes ({r['n']} rows with a route)")
    w("  decided: " + ", ".join(f"{k} {v}" for k, v in r["decided"].items()))
    if r["n"]:
        cols = list(ROUTES)
        w("  expected \\ decided " + "".join(f"{c:>11}" for c in cols))
        for e, row in r["confusion"].items():
            w(f"  {e:<19}" + "".join(f"{row.get(c, 0):>11}" for c in cols))
        w(f"  route accuracy          {_pct(r['accuracy'])}   (auto = any route but human)")
        w(f"  human-needed recall     {_pct(r['human_recall'])}")
        w(f"  false escalation rate   {_pct(r['false_escalation_rate'])}")
    w(f"  containment             {_pct(r['containment'])}   (rows the bot answers itself)")
    c = result.calibration
    w("")
    w(f"calibration ({c['n']} rows with an intent the model knows)")
    if c["n"]:
        w(f"  ECE                     {c['ece']:.3f}")
        w(f"  at confidence >= {c['threshold']:.2f}: {_pct(c['share_at_threshold'])} of rows, "
          f"{_pct(c['accuracy_at_threshold'])} of them right")
        w("  confidence      n   mean conf   accuracy")
        for b in c["reliability"]:
            w(f"  {b['bin']:<10}{b['n']:>6}   {b['confidence']:>9.3f}   {b['accuracy']:>8.3f}")
    else:
        w("  needs rows with an intent")
    if result.calibrated:
        k = result.calibrated
        w("")
        extra = f", temperature {k['temperature']:.3f}" if "temperature" in k else ""
        after = k.get("ece_after_cross_fitted")
        w(f"calibrated ({k['method']}{extra}) on {k['n']} rows: ECE {k['ece_before']:.3f} -> "
          f"{'n/a' if after is None else f'{after:.3f}'} (2-fold cross-fitted); saved to {k.get('path')}")
        w("  note: classifier.oos_threshold now applies to calibrated probabilities: re-check out-of-scope recall")
    return "\n".join(out)
