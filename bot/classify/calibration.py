"""Probability calibration: so that "confidence 0.90" is right about 90% of the time.

Two maps, both fitted on held-out (text, intent) pairs the model did not train on:
  temperature  p_i ** (1/T), renormalised (= softmax(logits / T)); one parameter fitted by
               minimising the negative log-likelihood. Keeps the ranking, so accuracy is
               unchanged; the default.
  isotonic     a monotone map of the top probability to the observed accuracy (the other
               probabilities are rescaled to sum to one); more flexible, needs more data.
Saved as calibration.json (plain JSON, no pickle) in the model's folder; the classifiers
load it from there and apply it to every probability vector they produce.

Also here: expected calibration error (ECE) and the reliability table it is made of.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt

CALIBRATION_FILE = "calibration.json"
METHODS = ("temperature", "isotonic")
N_BINS = 10

Probs = npt.NDArray[np.floating[Any]]  # probabilities: a vector, or one row per message
Floats = Sequence[float] | npt.NDArray[np.floating[Any]]
Labels = Sequence[str] | npt.NDArray[np.str_]
Rows = npt.NDArray[np.intp]  # row indices


@dataclass
class Calibrator:
    method: str = "temperature"
    temperature: float = 1.0
    xs: list[float] = field(default_factory=list)  # isotonic: top probability knots
    ys: list[float] = field(default_factory=list)  # isotonic: calibrated values at the knots
    n: int = 0  # examples it was fitted on
    info: dict[str, Any] = field(default_factory=dict)  # ECE before/after etc., for people (JSON)

    def apply(self, probs: Probs) -> npt.NDArray[np.float64]:
        """Calibrated probabilities; a vector (one message) or a matrix (one row per message)."""
        p = np.asarray(probs, dtype=np.float64)
        one = p.ndim == 1
        p = np.atleast_2d(p)
        if self.method == "temperature":
            logp = np.log(np.clip(p, 1e-12, 1.0)) / self.temperature
            e = np.exp(logp - logp.max(1, keepdims=True))
            out: npt.NDArray[np.float64] = e / e.sum(1, keepdims=True)
        elif self.method == "isotonic":
            top_i = p.argmax(1)
            rows = np.arange(len(p))
            top = p[rows, top_i]
            new_top = np.clip(np.interp(top, self.xs, self.ys), 1e-6, 1.0) if self.xs else top
            rest = 1.0 - top
            scale = np.where(rest > 0, (1.0 - new_top) / np.where(rest > 0, rest, 1.0), 0.0)
            out = p * scale[:, None]
            out[rows, top_i] = new_top
        else:
            raise ValueError(f"unknown calibration method {self.method!r}")
        calibrated: npt.NDArray[np.float64] = out[0] if one else out  # a row of the matrix: a vector
        return calibrated

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method, "n": self.n, "info": self.info}
        if self.method == "temperature":
            d["temperature"] = self.temperature
        else:
            d["xs"], d["ys"] = self.xs, self.ys
        return d

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CALIBRATION_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        method = d.get("method")
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}")
        cal = cls(method=method, n=int(d.get("n", 0)), info=dict(d.get("info") or {}))
        if method == "temperature":
            cal.temperature = float(d["temperature"])
            if not cal.temperature > 0:
                raise ValueError("temperature must be positive")
        else:
            cal.xs, cal.ys = [float(x) for x in d["xs"]], [float(y) for y in d["ys"]]
            if len(cal.xs) != len(cal.ys):
                raise ValueError("isotonic knots: xs and ys differ in length")
        return cal


def load_calibrator(directory: str | Path) -> Calibrator | None:
    """The calibration saved in a model folder, None when there is none.

    A file that is there but unreadable is an error: silently serving uncalibrated
    probabilities would move every threshold."""
    path = Path(directory) / CALIBRATION_FILE
    if not path.exists():
        return None
    try:
        return Calibrator.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: unreadable calibration: {e}") from e


def _correct_and_conf(probs: Probs, classes: Sequence[str],
                      labels: Labels) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    pred = np.asarray(classes)[probs.argmax(1)]
    return (pred == np.asarray(labels)).astype(np.float64), probs.max(1)


def reliability(confidence: Floats, correct: Floats, bins: int = N_BINS) -> list[dict[str, Any]]:
    """Equal-width confidence bins: count, mean confidence and accuracy in each (empty bins left out)."""
    conf, ok = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    rows: list[dict[str, Any]] = []
    for b in range(bins):
        sel = idx == b
        if sel.any():
            rows.append({"bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}", "n": int(sel.sum()),
                         "confidence": float(conf[sel].mean()), "accuracy": float(ok[sel].mean())})
    return rows


def ece(confidence: Floats, correct: Floats, bins: int = N_BINS) -> float | None:
    """Expected calibration error: sum over bins of |accuracy - confidence| weighted by the bin's share."""
    n = len(confidence)
    if n == 0:
        return None
    return float(sum(r["n"] / n * abs(r["accuracy"] - r["confidence"]) for r in reliability(confidence, correct, bins)))


def fit_temperature(probs: Probs, classes: Sequence[str], labels: Labels) -> float:
    """The temperature minimising the negative log-likelihood of the true labels."""
    from scipy.optimize import minimize_scalar

    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    index = {c: i for i, c in enumerate(classes)}
    known = np.array([lb in index for lb in labels])
    if not known.any():
        raise ValueError("no held-out example has an intent the model knows")
    logp = np.log(np.clip(probs[known], 1e-12, 1.0))
    y = np.array([index[lb] for lb, k in zip(labels, known) if k])

    def nll(log_t: float) -> float:
        z = logp / np.exp(log_t)
        z = z - z.max(1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


def fit_isotonic(probs: Probs, classes: Sequence[str], labels: Labels) -> tuple[list[float], list[float]]:
    from sklearn.isotonic import IsotonicRegression

    correct, conf = _correct_and_conf(probs, classes, labels)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(conf, correct)
    return [float(x) for x in iso.X_thresholds_], [float(y) for y in iso.y_thresholds_]


def fit(probs: Probs, classes: Sequence[str], labels: Labels, method: str = "temperature") -> Calibrator:
    """A calibrator fitted on held-out probabilities (rows) with their true labels."""
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; use one of {', '.join(METHODS)}")
    if len(labels) == 0:
        raise ValueError("no examples to calibrate on")
    if method == "temperature":
        cal = Calibrator("temperature", temperature=fit_temperature(probs, classes, labels), n=len(labels))
    else:
        xs, ys = fit_isotonic(probs, classes, labels)
        cal = Calibrator("isotonic", xs=xs, ys=ys, n=len(labels))
    correct, conf = _correct_and_conf(probs, classes, labels)
    after_ok, after_conf = _correct_and_conf(cal.apply(probs), classes, labels)
    cal.info = {"ece_before": ece(conf, correct), "ece_after_in_sample": ece(after_conf, after_ok)}
    return cal


def cross_fitted_ece(probs: Probs, classes: Sequence[str], labels: Labels, method: str = "temperature",
                     folds: int = 2, seed: int = 0) -> float | None:
    """ECE of a calibrator judged on examples it was not fitted on (k-fold), the honest figure."""
    probs = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    n = len(labels)
    if n < 2 * folds:
        return None
    order = np.random.default_rng(seed).permutation(n)
    gold = np.asarray(labels)
    confs: list[npt.NDArray[np.float64]] = []
    oks: list[npt.NDArray[np.float64]] = []
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        cal = fit(probs[train], classes, gold[train], method)
        ok, conf = _correct_and_conf(cal.apply(probs[test]), classes, gold[test])
        confs.append(conf)
        oks.append(ok)
    return ece(np.concatenate(confs), np.concatenate(oks))


def cross_validated(fit_predict: Callable[[Rows, Rows], tuple[Sequence[str], Probs]],
                    labels: Sequence[str], folds: int = 3, seed: int = 0, min_examples: int = 50) -> Calibrator | None:
    """A temperature fitted on out-of-fold probabilities of a model's own training examples.

    A model trained from the config's intents has no held-out set: k-fold (stratified by label)
    gives every example a probability from a model that did not see it, and the temperature is
    fitted on those. `fit_predict(train_rows, test_rows)` trains on the first and returns
    (classes, probabilities of the test rows). Off-topic examples (the out_of_scope class) must be
    among the labels: fitted on in-scope examples alone, a temperature says nothing about
    off-topic traffic and makes it confident too. None when there is too little data to fold.
    """
    gold = np.asarray([str(lb) for lb in labels])
    classes = sorted(set(gold))
    if len(gold) < min_examples or len(classes) < 2:
        return None
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(gold), dtype=int)
    start = 0
    for c in classes:  # stratified: each class dealt round-robin over the folds
        rows = rng.permutation(np.flatnonzero(gold == c))
        fold_of[rows] = (np.arange(len(rows)) + start) % folds
        start += len(rows)
    column = {c: i for i, c in enumerate(classes)}
    probs = np.zeros((len(gold), len(classes)))
    for k in range(folds):
        test, train = np.flatnonzero(fold_of == k), np.flatnonzero(fold_of != k)
        if len(set(gold[train])) < 2 or not len(test):
            return None
        got, p = fit_predict(train, test)
        probs[np.ix_(test, np.asarray([column[str(c)] for c in got], dtype=np.intp))] = p  # an intent missing from this fold stays 0
    cal = Calibrator("temperature", temperature=fit_temperature(probs, classes, gold), n=len(gold))
    correct, conf = _correct_and_conf(probs, classes, gold)
    after_ok, after_conf = _correct_and_conf(cal.apply(probs), classes, gold)
    cal.info = {"fitted_on": f"{folds}-fold cross-validation of the training examples",
                "oof_accuracy": float(correct.mean()), "ece_before": ece(conf, correct),
                "ece_after_in_sample": ece(after_conf, after_ok)}
    return cal
