"""Routing benchmark: the whole pipeline on a labelled set of customer messages (one core).

    .venv/bin/python bench/routing.py [--data CSV] [--latency-ms MS] [--db FILE] [--json] [--rows]
                                      [--model-misses-human]

Prints figures; it does not pass or fail (it prints TARGET MET / NOT MET for the two
targets: >= 80% saved versus always-strong, and no human-needed message answered by
the bot). Data: bench/data/routing_eval.csv, written for the Northwind Goods demo shop;
columns text, category (routine | complex | emotional | critical | out_of_scope),
needs_human (true | false) and expected_route (template | knowledge | cheap_llm |
strong_llm | human, or `auto` where any non-human route is fine).

What runs: the demo config (examples/supportbot.yaml) unchanged except that every catalog
model's base_url points at the local fake provider APIs (tests/fakes/llm_servers.py;
OpenAI-compatible models at <fake>/v1) and the key variables the catalog names are set
in-process to the fake's keys. A fresh SQLite file is migrated with Alembic, App.open
builds the real pipeline (local classifier, cascade, policy, LLM router, orchestrator,
inbox / worker / outbox) and each message goes through inbox.accept -> worker.drain ->
outbox.flush in a conversation of its own (one customer per row, so repeat-contact
detection does not chain rows together).

The fake plays a well-behaved model that knows the row being processed:
  classify requests  -> {"intent": <the local classifier's best candidate, or out_of_scope
                        for out_of_scope rows>, "confidence": 0.92, "needs_human": <the
                        row's label>, "complexity": 0.8 for complex rows else 0.15}
  answer requests    -> {"answer": <a 60-120 word reply built from the first article in the
                        prompt>, "confidence": 0.93}
  usage              -> input tokens = prompt characters / 4 (system + messages, as sent);
                        output = the verdict's characters / 4 for classify, 150-250 tokens
                        for an answer (stable per row)
So the figures measure the routing (policy, signals, cascade) and its cost, not the
quality of a real model's judgement. Because that model is told the truth about needs_human,
--model-misses-human runs the sensitivity case: the verdict never says needs_human, which
shows what the local classifier, the signal lexicon and the policy catch on their own.
Every figure is read back from the database (route_decisions, model_calls, escalations),
as an analyst would.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import select  # noqa: E402

from bot.app import App  # noqa: E402
from bot.db import models as m  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from bot.messages import OUT_OF_SCOPE, InboundMessage, Reply, Route  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402
from tests.fakes.llm_servers import KEYS, Behaviour, FakeLLMServer, U, ok, prompt_strings  # noqa: E402

DEFAULT_DATA = REPO / "bench" / "data" / "routing_eval.csv"
DEMO_CONFIG = REPO / "examples" / "supportbot.yaml"
CATEGORIES = ("routine", "complex", "emotional", "critical", "out_of_scope")
ROUTES = tuple(r.value for r in Route)
SAVINGS_TARGET = 0.80
CLASSIFY_MARK = "You classify customer-support messages"


# --- data --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    index: int
    text: str
    category: str
    needs_human: bool
    expected: str  # a route, or "auto"


def read_rows(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = []
        for i, r in enumerate(csv.DictReader(f)):
            category, expected = r["category"].strip(), r["expected_route"].strip()
            if category not in CATEGORIES:
                raise SystemExit(f"{path}: row {i + 2}: unknown category {category!r}")
            if expected not in (*ROUTES, "auto"):
                raise SystemExit(f"{path}: row {i + 2}: unknown expected_route {expected!r}")
            rows.append(Row(i, r["text"], category, r["needs_human"].strip().lower() in ("true", "1", "yes"),
                            expected))
    return rows


# --- the model the fake plays --------------------------------------------------------------

@dataclass
class Player:
    """Answers the fake's requests like a sensible model that knows the current row."""

    row: Row | None = None
    local_top: str = OUT_OF_SCOPE  # the local classifier's best candidate for the row
    misses_human: bool = False  # --model-misses-human: the verdict never says needs_human

    def __call__(self, provider: str, model: str, body: Any) -> Behaviour | None:
        row = self.row
        if row is None:
            return None
        texts = list(prompt_strings(body))
        prompt_tokens = sum(len(t) for t in texts) // 4 + 4 * max(1, len(texts))
        if any(CLASSIFY_MARK in t for t in texts):
            verdict = json.dumps({
                "intent": OUT_OF_SCOPE if row.category == "out_of_scope" else self.local_top,
                "confidence": 0.92, "needs_human": row.needs_human and not self.misses_human,
                "complexity": 0.8 if row.category == "complex" else 0.15})
            return ok(verdict, usage=U(prompt_tokens, max(1, len(verdict) // 4)))
        answer = json.dumps({"answer": reply_for(row, "\n".join(texts)), "confidence": 0.93})
        out = 150 + int(hashlib.sha1(row.text.encode()).hexdigest(), 16) % 101  # 150..250, stable per row
        return ok(answer, usage=U(prompt_tokens, min(out, max_tokens(provider, body))))


def max_tokens(provider: str, body: Any) -> int:
    """The request's output cap: a real provider never bills more output than this."""
    if not isinstance(body, dict):
        return 10**6
    if provider == "gemini":
        return int((body.get("generationConfig") or {}).get("maxOutputTokens") or 10**6)
    return int(body.get("max_completion_tokens") or body.get("max_tokens") or 10**6)


ARTICLE = re.compile(  # the first article build_system() put in the prompt
    r"\[1\] (?P<title>[^\n]+)\nURL: (?P<url>\S+)\n(?P<body>.*?)(?=\n\n\[2\] |\n\nTreat the customer|\Z)", re.S)


def reply_for(row: Row, prompt: str) -> str:
    """A 60-120 word reply grounded in the first article of the prompt (as a model would write)."""
    closing = "If anything is still unclear, just reply here and I'll gladly help further."
    if row.category == "out_of_scope":
        return ("Thanks for your message! I'm the Northwind Goods support assistant, so I can only help with "
                "questions about our shop: orders and delivery, returns and refunds, payments and invoices, your "
                "account, Northwind Plus and our products such as tents, sleeping bags and garden furniture. "
                "I'm afraid I can't help with this question, but if there's anything about an order or a product "
                "I can do for you, just let me know here and I'll be happy to help.")
    m_ = ARTICLE.search(prompt)
    if not m_:
        return ("Thanks for your question. I couldn't find this in our help centre, so I don't want to guess and "
                "give you wrong information. A colleague from our support team can look into your order and reply "
                "here with a definite answer. " + closing)
    blocks = (p.strip() for p in re.split(r"\n\s*\n", m_.group("body")))
    paragraphs = [p for p in blocks if p and not p.startswith(("#", "|"))]  # prose, not headings or tables
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(" ".join(paragraphs[:3]).split()))
    words: list[str] = ["Thanks", "for", "getting", "in", "touch!"]
    for s in sentences:
        if len(words) + len(s.split()) > 95:
            break
        words += s.split()
    words += closing.split() + ["More", "details:", m_.group("url")]
    while len(words) < 60:
        words[5:5] = "Here is what our help centre says about it.".split()
    return " ".join(words[:120])


# --- the run --------------------------------------------------------------------------------

class Collect:
    """The bench's channel: the outbox delivers replies here."""

    name = "bench"

    def __init__(self) -> None:
        self.sent: list[Reply] = []

    async def deliver(self, reply: Reply, idempotency_key: str) -> str:
        self.sent.append(reply)
        return idempotency_key


def point_at_fake(settings: Settings, url: str) -> None:
    for entry in settings.models.values():
        entry.base_url = url + "/v1" if entry.provider == "openai" else url
        os.environ[entry.api_key_env] = KEYS[entry.provider]
    no_proxy = os.environ.get("NO_PROXY", "")
    os.environ["NO_PROXY"] = ",".join(p for p in (no_proxy, "127.0.0.1", "localhost") if p)


async def run(rows: list[Row], db_url: str, latency_ms: float, model_cache: Path, *,
              misses_human: bool = False) -> dict:
    settings = load_settings(DEMO_CONFIG)
    settings.database.url = db_url
    settings.classifier.cache_dir = str(model_cache)
    player = Player(misses_human=misses_human)
    started = time.perf_counter()
    async with FakeLLMServer(responder=player, latency_ms=latency_ms) as srv:
        point_at_fake(settings, srv.url)
        async with App.open(settings) as app:
            out = Collect()
            app.channels.register(out)
            local = app.orchestrator.cascade.local
            conv_of: dict[int, int] = {}
            t_msgs = time.perf_counter()
            for row in rows:
                c = local.classify(row.text)
                player.row, player.local_top = row, (c.top[0][0] if c.top else c.intent)
                msg = InboundMessage(channel="bench", customer_id=f"bench-{row.index}", text=row.text,
                                     conversation_key=f"bench-{row.index}", customer_name="Sam")
                event_id = await app.inbox.accept(msg, f"row-{row.index}")
                results = await app.worker.drain()
                await app.outbox.flush()
                result = results.get(event_id)
                if result is None:
                    raise SystemExit(f"row {row.index + 2}: the worker did not handle the message")
                conv_of[row.index] = result.conversation_id
            msgs_s = time.perf_counter() - t_msgs
            player.row = None
            figures = await report(app, rows, conv_of)
    figures["run"] = {"wall_s": round(time.perf_counter() - started, 2), "messages_s": round(msgs_s, 2),
                      "fake_latency_ms": latency_ms, "fake_requests": len(srv.requests),
                      "replies_delivered": len(out.sent), "db": db_url,
                      "model_misses_human": misses_human}
    return figures


# --- figures, all from the database ---------------------------------------------------------

def pct(a: float, b: float) -> float:
    return round(100 * a / b, 1) if b else 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


async def report(app: App, rows: list[Row], conv_of: dict[int, int]) -> dict:
    async with app.sessions() as s:
        decisions = {d.conversation_id: d for d in (await s.scalars(select(m.RouteDecision))).all()}
        calls = (await s.scalars(select(m.ModelCall))).all()
        escalations = (await s.scalars(select(m.Escalation))).all()
    esc_by_conv = {e.conversation_id: e for e in escalations}
    n = len(rows)
    per_row = []
    for row in rows:
        d = decisions[conv_of[row.index]]
        e = esc_by_conv.get(d.conversation_id)
        per_row.append({"csv_line": row.index + 2, "text": row.text, "category": row.category,
                        "needs_human": row.needs_human, "expected": row.expected, "route": d.route,
                        "rule": d.rule, "reason": d.reason, "degraded_from": d.degraded_from,
                        "intent": d.intent, "confidence": round(d.confidence or 0, 3), "stage": d.stage,
                        "signals": d.signals or [], "cost_usd": d.cost_usd,
                        "counterfactual_usd": d.counterfactual_usd, "latency_ms": d.latency_ms,
                        "escalation": e.reason_kind if e else None})

    route_counts = Counter(r["route"] for r in per_row)
    by_category: dict[str, dict] = {}
    for cat in CATEGORIES:
        sub = [r for r in per_row if r["category"] == cat]
        if sub:
            by_category[cat] = {"n": len(sub), "routes": dict(Counter(r["route"] for r in sub))}

    per_model: dict[tuple, dict] = defaultdict(lambda: {"calls": 0, "ok": 0, "input_tokens": 0,
                                                        "output_tokens": 0, "cost_usd": 0.0})
    for c in calls:
        agg = per_model[(c.model, c.tier, c.purpose)]
        agg["calls"] += 1
        agg["ok"] += c.outcome == "ok"
        agg["input_tokens"] += c.input_tokens
        agg["output_tokens"] += c.output_tokens
        agg["cost_usd"] += c.cost_usd

    actual = sum(r["cost_usd"] for r in per_row)
    cost_by_route = {route: {"actual_usd": round(sum(r["cost_usd"] for r in per_row if r["route"] == route), 6),
                             "counterfactual_usd": round(sum(r["counterfactual_usd"] for r in per_row
                                                             if r["route"] == route), 6)}
                     for route in ROUTES if route_counts.get(route)}
    counterfactual = sum(r["counterfactual_usd"] for r in per_row)
    bot_rows = [r for r in per_row if r["route"] != "human"]
    bot_actual = sum(r["cost_usd"] for r in bot_rows)
    bot_cf = sum(r["counterfactual_usd"] for r in bot_rows)

    needs = [r for r in per_row if r["needs_human"]]
    to_human = [r for r in needs if r["route"] == "human"]
    answered = [r for r in needs if r["route"] != "human"]
    not_needs = [r for r in per_row if not r["needs_human"]]
    false_esc = [r for r in not_needs if r["route"] == "human"]
    scored = [r for r in per_row if r["expected"] != "auto"]
    disagree = [r for r in scored if r["route"] != r["expected"]]
    missing_esc = [r for r in per_row if r["route"] == "human" and not r["escalation"]]
    latencies = [r["latency_ms"] for r in per_row]
    savings = 1 - actual / counterfactual if counterfactual else 0.0
    llm_stage = sum(1 for r in per_row if r["stage"] == "llm")
    model_cost = sum(c.cost_usd for c in calls)

    return {
        "n": n,
        "routes": {r: {"n": route_counts.get(r, 0), "pct": pct(route_counts.get(r, 0), n)} for r in ROUTES},
        "by_category": by_category,
        "classified_by_llm": {"n": llm_stage, "pct": pct(llm_stage, n)},
        "model_calls": [{"model": k[0], "tier": k[1], "purpose": k[2], **{**v, "cost_usd": round(v["cost_usd"], 6)}}
                        for k, v in sorted(per_model.items())],
        "cost": {"actual_usd": round(actual, 6), "model_calls_usd": round(model_cost, 6),
                 "counterfactual_usd": round(counterfactual, 6), "savings_pct": round(100 * savings, 1),
                 "per_message_actual_usd": round(actual / n, 6) if n else 0.0,
                 "per_message_counterfactual_usd": round(counterfactual / n, 6) if n else 0.0,
                 "bot_answered_savings_pct": round(100 * (1 - bot_actual / bot_cf), 1) if bot_cf else 0.0,
                 "by_route": cost_by_route},
        "escalation": {
            "needs_human": len(needs), "routed_to_human": len(to_human),
            "recall": round(len(to_human) / len(needs), 3) if needs else None,
            "answered_although_human_needed": len(answered),
            "false_escalations": len(false_esc),
            "false_escalation_rate": round(len(false_esc) / len(not_needs), 3) if not_needs else None,
            "escalation_rows": len(escalations),
            "escalation_kinds": dict(Counter(e.reason_kind for e in escalations)),
            "human_route_without_escalation_row": len(missing_esc),
        },
        "expected_route": {"scored": len(scored), "agree": len(scored) - len(disagree),
                           "agreement": round((len(scored) - len(disagree)) / len(scored), 3) if scored else None},
        "latency_ms": {"mean": round(sum(latencies) / n, 2) if n else 0.0,
                       "p95": round(percentile(latencies, 0.95), 2)},
        "targets": {"savings_met": savings >= SAVINGS_TARGET, "no_human_needed_answered_met": not answered},
        "misses": {"answered_although_human_needed": answered, "false_escalations": false_esc,
                   "expected_route_disagreements": disagree},
        "rows": per_row,
    }


# --- printing -----------------------------------------------------------------------------

def short(r: dict) -> str:
    text = r["text"] if len(r["text"]) <= 90 else r["text"][:87] + "..."
    sig = ",".join(r["signals"]) or "-"
    return (f"  line {r['csv_line']:>3} [{r['category']}] {text!r}\n"
            f"          -> {r['route']} (rule {r['rule']}; intent {r['intent']} {r['confidence']:.2f} "
            f"by {r['stage']}; signals {sig}; expected {r['expected']})\n"
            f"          reason: {r['reason'][:160]}")


def show(f: dict, every_row: bool = False) -> None:
    n = f["n"]
    run_ = f["run"]
    variant = ", the model never says needs_human" if run_["model_misses_human"] else ""
    print(f"Routing benchmark: {n} messages, demo config, fake providers "
          f"(latency {run_['fake_latency_ms']:g} ms{variant})\n")
    print("Share of messages per route")
    for route, v in f["routes"].items():
        print(f"  {route:<11} {v['n']:>4}  {v['pct']:>5.1f}%")
    print(f"  (the cascade asked the cheap LLM to classify {f['classified_by_llm']['n']} "
          f"= {f['classified_by_llm']['pct']:.1f}% of messages)")

    print("\nRoute mix per category")
    print(f"  {'category':<13}{'n':>4}  " + "  ".join(f"{r:>10}" for r in ROUTES))
    for cat, v in f["by_category"].items():
        print(f"  {cat:<13}{v['n']:>4}  " + "  ".join(f"{v['routes'].get(r, 0):>10}" for r in ROUTES))

    print("\nModel calls")
    print(f"  {'model':<20}{'tier':<8}{'purpose':<10}{'calls':>6}{'ok':>5}{'in tok':>9}{'out tok':>9}{'cost $':>11}")
    for c in f["model_calls"]:
        print(f"  {c['model']:<20}{c['tier']:<8}{c['purpose']:<10}{c['calls']:>6}{c['ok']:>5}"
              f"{c['input_tokens']:>9}{c['output_tokens']:>9}{c['cost_usd']:>11.5f}")

    c = f["cost"]
    print("\nCost")
    print(f"  actual (route_decisions)          ${c['actual_usd']:.5f}  (${c['per_message_actual_usd']:.6f}/message;"
          f" model_calls sum ${c['model_calls_usd']:.5f})")
    print(f"  always-strong counterfactual      ${c['counterfactual_usd']:.5f}  "
          f"(${c['per_message_counterfactual_usd']:.6f}/message)")
    print(f"  savings                           {c['savings_pct']:.1f}%")
    print(f"  savings on bot-answered messages  {c['bot_answered_savings_pct']:.1f}%  "
          "(messages handed to a person left out of both sides)")
    print(f"  {'by route':<13}{'actual $':>11}{'always-strong $':>17}")
    for route, v in c["by_route"].items():
        print(f"  {route:<13}{v['actual_usd']:>11.5f}{v['counterfactual_usd']:>17.5f}")

    e = f["escalation"]
    print("\nEscalation")
    print(f"  recall (needs_human -> human)     {e['routed_to_human']}/{e['needs_human']} = {e['recall']:.3f}")
    print(f"  answered although human-needed    {e['answered_although_human_needed']}")
    print(f"  false escalations                 {e['false_escalations']}/{n - e['needs_human']} "
          f"= {e['false_escalation_rate']:.3f}")
    print(f"  escalation rows                   {e['escalation_rows']}  {e['escalation_kinds']}")
    if e["human_route_without_escalation_row"]:
        print(f"  human route without an escalation row: {e['human_route_without_escalation_row']}")

    x = f["expected_route"]
    print(f"\nAgreement with expected_route (not auto): {x['agree']}/{x['scored']} = {x['agreement']:.3f}")
    lat = f["latency_ms"]
    print(f"Orchestration latency (route_decisions.latency_ms): mean {lat['mean']:.1f} ms, p95 {lat['p95']:.1f} ms")
    print(f"Run: {run_['wall_s']:.1f} s wall ({run_['messages_s']:.1f} s for the messages), "
          f"{run_['fake_requests']} provider requests, {run_['replies_delivered']} replies delivered")

    for title, key in (("Answered automatically although a person was needed", "answered_although_human_needed"),
                       ("False escalations (no person needed, sent to one)", "false_escalations"),
                       ("Route differs from expected_route", "expected_route_disagreements")):
        rows = f["misses"][key]
        print(f"\n{title}: {len(rows)}")
        for r in rows:
            print(short(r))

    if every_row:
        print(f"\nEvery row: {n}")
        for r in f["rows"]:
            print(short(r))

    t = f["targets"]
    print(f"\nTARGET savings >= {SAVINGS_TARGET:.0%} versus always-strong: "
          f"{'MET' if t['savings_met'] else 'NOT MET'} ({c['savings_pct']:.1f}%)")
    print(f"TARGET no human-needed message answered automatically: "
          f"{'MET' if t['no_human_needed_answered_met'] else 'NOT MET'} ({e['answered_although_human_needed']})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled CSV (default: %(default)s)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="fake provider latency per request (default 0)")
    ap.add_argument("--db", type=Path, help="SQLite file to create and keep (default: a temporary file)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    ap.add_argument("--rows", action="store_true", help="also print every row's route and reason")
    ap.add_argument("--model-misses-human", action="store_true",
                    help="sensitivity: the cheap model's verdict never says needs_human (what the local "
                         "classifier, signals and policy catch on their own)")
    args = ap.parse_args()

    rows = read_rows(args.data)
    model_cache = Path(tempfile.gettempdir()) / "supportbot-bench" / "models"  # trained once, reused
    with tempfile.TemporaryDirectory(prefix="supportbot-routing-") as tmp:
        db = args.db or Path(tmp) / "routing.db"
        if db.exists() and db.stat().st_size:
            raise SystemExit(f"{db} exists: the benchmark needs a fresh database")
        url = f"sqlite+aiosqlite:///{db.resolve()}"
        upgrade(url)  # Alembic runs its own event loop: before asyncio.run
        figures = asyncio.run(run(rows, url, args.latency_ms, model_cache,
                                  misses_human=args.model_misses_human))
    if args.json:
        print(json.dumps(figures, default=str))
    else:
        show(figures, every_row=args.rows)


if __name__ == "__main__":
    main()
