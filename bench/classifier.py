"""Benchmark of the local intent classifiers on Banking77, CLINC150 and the demo intents (one core).

    .venv/bin/python bench/classifier.py [--kind embeddings|tfidf] [--skip-banking] [--skip-clinc]
                                         [--skip-demo] [--max-train N] [--emb-cache DIR]
                                         [--gate G] [--tokens T] [--threshold T] [--latency-messages N]

Prints figures; it does not pass or fail. Data: ../shared/data (see its README); the demo is
examples/intents.yaml + examples/out_of_scope.yaml. Embeddings are cached per text under
--emb-cache (default /tmp/supportbot-bench-emb), so reruns skip the encoder.
  Banking77: top-1 accuracy, macro-F1; ECE (10 bins, top probability over every class) raw and
    after temperature scaling (2-fold cross-fitted on test: fitted on one half, measured on the
    other); precision@0.90 (answers given at calibrated confidence >= 0.90 that are right);
    classify() CPU time per message (thread time, p50/p99) and the share the encoder saw.
  CLINC150: trained on train + oos_train as the class out_of_scope (like the product with
    examples/out_of_scope.yaml); in-scope accuracy (right intent, not judged out of scope) and
    out-of-scope recall on test + oos_test; temperature fitted on val + oos_val; ECE and
    precision@0.90 on test + oos_test (an off-topic message answered with an intent is wrong).
  Demo: 5-fold cross-validation of the product recipe (each fold's model calibrates itself by
    3-fold CV of its own training examples, as load_or_train does); off-topic probes; time of a
    first start (load_or_train: encode, fit, calibrate, save).

Results (2-vCPU shared AVX-512 VM, load average 4-5 from other jobs; CPU ms = thread time):
  encoder (all-MiniLM-L6-v2, numpy), 400 Banking77 test messages one by one, same run: p50 13.45 /
    p99 23.4 ms before -> 10.9 / 18.8 ms (a 16-token message alone: ~8 ms): activations
    kept (dim, tokens) so each layer is W(out,in) @ X, the form OpenBLAS runs fastest with few
    columns (15x384 @ 384x1536: 0.54 ms; 1536x384 @ 384x16: 0.27 ms), tokens padded to a multiple
    of 8, GELU and layer norm in place. The six layers' matrix products are ~85% of the time
    (42 MB of weights streamed per message: memory-bound, ~0.3 ms more per token past 16; the
    tokenizer is 0.02 ms). Batch encoding packs messages side by side: 11.3 -> 5.7 ms per text.
  kind embeddings, gate 0.8, whole messages encoded (the shipped recipe):
    Banking77  94.12% (F1 94.12); ECE 0.047 raw -> 0.011 temperature; precision@0.90 98.4% (85% of
               messages); classify() p50 0.25 / p99 18.0 / mean 3.1 ms (22.6% encoded)
    CLINC150   with oos_train as out_of_scope: in-scope 92.00% / OOS recall 89.2% @0.6, 93.53 / 87.0
               @0.5, 95.22 / 74.8 @0.3, 95.98 / 43.8 with the class alone; ECE 0.051 -> 0.030;
               precision@0.90 96.5%
    demo       5-fold: 83.57% of in-scope examples right and 88.4% of off-topic ones out of scope at
               the default threshold 0.2 (84.56 / 88.4 with the class alone; 63.83 / 95.5 at 0.6);
               ECE 0.147 raw -> 0.038 with each fold's own CV temperature; precision@0.90 96.3%
               (58% of messages); first start (encode 1,323 texts, fit, 3-fold calibration, save)
               25-35 s on this loaded machine. tfidf: 70.77 / 75.0 (class alone), 68.21 / 80.4 at 0.2,
               precision@0.90 98.4% of only 19% of messages, first start 8.2 s.
  Targets not met: p99 <= 10 ms (a message the gate sends to the encoder costs ~6 ms + ~0.3 ms per
    token; p99 is the longest ~4% of those, 40+ tokens) and CLINC 93% / 90% at one threshold.
Tried and dropped (Banking77 accuracy at gate 0.8):
  encoding only the first 16 / 20 / 24 tokens (TF-IDF still reads everything): 93.28 / 93.60 /
    93.93% against 94.12%; p99 would be the encoder at 20 tokens, ~9-10 ms here;
  + the mean of the static token embeddings of the whole text as a third block, 20 tokens: 93.83%;
  embedding block weight 2 instead of 1: 93.70% (whole), 93.54% (20 tokens);
  CLINC: an extra out-of-scope test on the cosine to the nearest training examples (mean of 5) or
    intent centroids, thresholds picked on val: val 94.6 / 90%, but test 94.1 / 77.9%: the 100
    oos_val messages do not predict oos_test;
  a numpy L-BFGS for the heads (no faster than sklearn's once converged to the same optimum).
  Earlier (issue 8): LinearSVC and calibrated SVCs (<= 91.6%), torch fp32/int8/bf16 and
  onnxruntime int8 encoders (8-28 ms), fewer layers (k=5: 93.73%).
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sklearn.metrics import f1_score  # noqa: E402

from bot.classify import calibration  # noqa: E402
from bot.classify import OOS_THRESHOLD_WITH_CLASS  # noqa: E402
from bot.messages import OUT_OF_SCOPE  # noqa: E402

PROBES = ["how tall is the eiffel tower", "weather in paris", "tell me a joke", "asdkjh qwpoeiru",
          "who won the champions league", "what is the capital of peru", "how do i bake bread",
          "can you write a python function", "where is my order", "i want to return my jacket"]


def read_banking(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def subsample(texts: list[str], labels: list[str], n: int | None, seed: int = 0):
    if not n or n >= len(texts):
        return texts, labels
    idx = sorted(random.Random(seed).sample(range(len(texts)), n))
    return [texts[i] for i in idx], [labels[i] for i in idx]


def table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n{title}\n{'-' * len(title)}", flush=True)
    for k, v in rows:
        print(f"  {k:<{width}}  {v}", flush=True)


class Embeddings:
    """Per-text embedding cache (one .npz per token limit), filled by the real encoder on a miss."""

    def __init__(self, folder: Path, tokens: int | None):
        self.file = folder / f"minilm-t{tokens or 0}.npz"
        self.tokens, self.table, self.seconds_per_text = tokens, {}, None
        if self.file.exists():
            z = np.load(self.file, allow_pickle=True)
            self.table = dict(zip(z["texts"].tolist(), z["emb"]))
            self.seconds_per_text = float(z["seconds_per_text"])

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = sorted(set(texts) - self.table.keys())
        if missing:
            from bot.classify.minilm import shared_encoder

            t = time.perf_counter()
            emb = shared_encoder().encode(missing, max_tokens=self.tokens)
            per = (time.perf_counter() - t) / len(missing)
            self.seconds_per_text = per if self.seconds_per_text is None else self.seconds_per_text
            self.table.update(zip(missing, emb))
            self.file.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.file, texts=np.array(list(self.table), dtype=object),
                     emb=np.stack(list(self.table.values())), seconds_per_text=self.seconds_per_text)
        return np.stack([self.table[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)


class Lookup:
    """The encoder as the classifier sees it, answering from the cache (classify() latency below
    uses the real encoder instead)."""

    def __init__(self, emb: Embeddings):
        self.emb = emb

    def encode(self, texts, max_tokens=None):  # noqa: ANN001, ANN201
        return self.emb(list(texts))


def train(args, texts: list[str], labels: list[str], emb: Embeddings | None, calibrate: bool = False):  # noqa: ANN001, ANN201
    t = time.perf_counter()
    if args.kind == "tfidf":
        from bot.classify.local import LocalClassifier

        return LocalClassifier.train(texts, labels, oos_threshold=args.threshold), time.perf_counter() - t
    from bot.classify.embeddings import EmbeddingsClassifier

    x = emb(texts)
    t = time.perf_counter()
    clf = EmbeddingsClassifier.train(texts, labels, oos_threshold=args.threshold, embeddings=x, gate=args.gate,
                                     encoder=Lookup(emb), calibrate=calibrate, encoder_tokens=args.tokens)
    return clf, time.perf_counter() - t + emb.seconds_per_text * len(texts)


def proba(args, clf, texts: list[str], emb: Embeddings | None) -> tuple[list[str], np.ndarray]:  # noqa: ANN001
    """Uncalibrated (the model's own) probabilities."""
    saved, clf.calibrator = clf.calibrator, None
    try:
        return clf.predict_proba(texts) if args.kind == "tfidf" else clf.predict_proba(texts, embeddings=emb(texts))
    finally:
        clf.calibrator = saved


def served(own: np.ndarray, cal: np.ndarray, classes: list[str], threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """What classify() says per row: (intent or out_of_scope, confidence of the best real intent)."""
    classes_a = np.asarray(classes)
    real = classes_a != OUT_OF_SCOPE
    out = (classes_a[own.argmax(1)] == OUT_OF_SCOPE) | (own[:, real].max(1) < threshold)
    best = cal[:, real].argmax(1)
    return np.where(out, OUT_OF_SCOPE, classes_a[real][best]), cal[:, real].max(1)


def quality(own: np.ndarray, cal: np.ndarray, classes: list[str], gold, threshold: float) -> dict:  # noqa: ANN001
    gold = np.asarray(gold)
    conf, ok = cal.max(1), (np.asarray(classes)[cal.argmax(1)] == gold).astype(float)
    conf_raw, ok_raw = own.max(1), (np.asarray(classes)[own.argmax(1)] == gold).astype(float)
    intent, confidence = served(own, cal, classes, threshold)
    answered = (intent != OUT_OF_SCOPE) & (confidence >= 0.90)
    return {"ece_raw": calibration.ece(conf_raw, ok_raw), "ece": calibration.ece(conf, ok),
            "p90": float(np.mean(intent[answered] == gold[answered])) if answered.any() else float("nan"),
            "answered90": float(answered.mean()), "intent": intent}


def latency(clf, texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    msgs = (texts * (n // len(texts) + 1))[:n]
    for m in msgs[:20]:
        clf.classify(m)
    wall, cpu = [], []
    for m in msgs:
        t, c = time.perf_counter(), time.thread_time()
        clf.classify(m)
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
    return np.asarray(wall), np.asarray(cpu)


def real_encoder(clf) -> None:  # noqa: ANN001
    if hasattr(clf, "_encoder"):
        from bot.classify.minilm import shared_encoder

        clf._encoder = shared_encoder()


def bench_banking(args, emb: Embeddings | None) -> None:  # noqa: ANN001
    data = args.data_dir / "banking77"
    xtr, ytr = subsample(*read_banking(data / "train.csv"), args.max_train)
    xte, yte = read_banking(data / "test.csv")
    clf, train_s = train(args, xtr, ytr, emb)
    classes, own = proba(args, clf, xte, emb)
    half = np.arange(len(xte)) % 2 == 0  # temperature cross-fitted on the two halves of test
    cal = np.empty_like(own)
    temps = []
    for fit_rows in (half, ~half):
        c = calibration.fit(own[fit_rows], classes, np.asarray(yte)[fit_rows])
        cal[~fit_rows] = c.apply(own[~fit_rows])
        temps.append(c.temperature)
    q = quality(own, cal, classes, yte, args.threshold)
    pred = np.asarray(classes)[own.argmax(1)]
    real_encoder(clf)
    gated = hasattr(clf, "gate")  # the embeddings classifier counts what its gate sent to the encoder
    if gated:
        clf.encoded = 0
    wall, cpu = latency(clf, xte, args.latency_messages)
    encoded = clf.encoded if gated else None
    table(f"Banking77, kind {args.kind} ({len(xtr)} train / {len(xte)} test, {len(set(ytr))} intents)", [
        ("accuracy (top-1)", f"{np.mean(pred == np.asarray(yte)):.2%}  (macro-F1 {f1_score(yte, pred, average='macro'):.2%})"),
        ("ECE (10 bins)", f"{q['ece_raw']:.3f} raw, {q['ece']:.3f} after temperature (T={temps[0]:.2f}/{temps[1]:.2f}, "
                          "2-fold cross-fitted on test)"),
        ("precision @ confidence >= 0.90", f"{q['p90']:.2%}  ({q['answered90']:.1%} of messages)"),
        ("judged out of scope", f"{np.mean(q['intent'] == OUT_OF_SCOPE):.2%} of test (threshold {args.threshold})"),
        ("training time", f"{train_s:.1f} s (encoding included)"),
        (f"classify() CPU ms ({len(cpu)} msgs)", f"p50 {np.percentile(cpu, 50):.2f}  p99 {np.percentile(cpu, 99):.2f}  "
                                                  f"mean {cpu.mean():.2f}  (wall p50 {np.percentile(wall, 50):.2f} "
                                                  f"p99 {np.percentile(wall, 99):.2f})"),
        *([("  messages the encoder saw", f"{encoded / (len(cpu) + 20):.1%} (gate {clf.gate:g}, "
                                          f"first {clf.encoder_tokens or 'all'} tokens)")] if encoded is not None else []),
    ])


def bench_clinc(args, emb: Embeddings | None) -> None:  # noqa: ANN001
    d = json.loads((args.data_dir / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    xtr, ytr = subsample([t for t, _ in d["train"]], [y for _, y in d["train"]], args.max_train)
    xtr, ytr = xtr + [t for t, _ in d["oos_train"]], ytr + [OUT_OF_SCOPE] * len(d["oos_train"])
    clf, train_s = train(args, xtr, ytr, emb)
    split = lambda *keys: ([t for k in keys for t, _ in d[k]],  # noqa: E731
                           [y if k.startswith("oos") is False else OUT_OF_SCOPE for k in keys for _, y in d[k]])
    xval, yval = split("val", "oos_val")
    xte, yte = split("test", "oos_test")
    classes, own_val = proba(args, clf, xval, emb)
    cal = calibration.fit(own_val, classes, yval)
    _, own = proba(args, clf, xte, emb)
    yte = np.asarray(yte)
    q = quality(own, cal.apply(own), classes, yte, args.threshold)
    ins = yte != OUT_OF_SCOPE
    rows = [("in-scope accuracy", f"{np.mean(q['intent'][ins] == yte[ins]):.2%}"),
            ("out-of-scope recall", f"{np.mean(q['intent'][~ins] == OUT_OF_SCOPE):.2%}  (threshold {args.threshold})"),
            ("ECE (10 bins, test + oos_test)", f"{q['ece_raw']:.3f} raw, {q['ece']:.3f} after temperature "
                                               f"(T={cal.temperature:.2f}, fitted on val + oos_val)"),
            ("precision @ confidence >= 0.90", f"{q['p90']:.2%}  ({q['answered90']:.1%} of messages)"),
            ("training time", f"{train_s:.1f} s (encoding included)")]
    for th in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        intent, _ = served(own, own, classes, th)
        rows.append((f"  threshold {th:.1f}: in-scope / OOS recall",
                     f"{np.mean(intent[ins] == yte[ins]):.2%} / {np.mean(intent[~ins] == OUT_OF_SCOPE):.2%}"))
    table(f"CLINC150, kind {args.kind} ({len(xtr)} train incl. {len(d['oos_train'])} out_of_scope; "
          f"test {ins.sum()} in-scope + {(~ins).sum()} OOS)", rows)


def bench_demo(args, emb: Embeddings | None) -> None:  # noqa: ANN001
    from bot.settings import load_settings

    s = load_settings(REPO / "examples" / "supportbot.yaml")
    texts = [t for i in s.intents.values() for t in i.examples] + s.classifier.out_of_scope_examples
    labels = [n for n, i in s.intents.items() for _ in i.examples] + [OUT_OF_SCOPE] * len(s.classifier.out_of_scope_examples)
    y = np.asarray(labels)
    fold = np.empty(len(y), dtype=int)
    rng = np.random.default_rng(0)
    for c in sorted(set(labels)):
        rows = rng.permutation(np.flatnonzero(y == c))
        fold[rows] = np.arange(len(rows)) % 5
    own, cal = np.zeros((len(y), len(set(labels)))), np.zeros((len(y), len(set(labels))))
    classes = sorted(set(labels))
    for k in range(5):
        tr, te = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        clf, _ = train(args, [texts[i] for i in tr], y[tr].tolist(), emb, calibrate=args.kind != "tfidf")
        got, p = proba(args, clf, [texts[i] for i in te], emb)
        cols = [classes.index(g) for g in got]
        own[np.ix_(te, cols)] = p
        cal[np.ix_(te, cols)] = clf.calibrator.apply(p) if clf.calibrator is not None else p
    q = quality(own, cal, classes, y, args.threshold)
    ins = y != OUT_OF_SCOPE
    with tempfile.TemporaryDirectory() as tmp:  # a first start: encode, fit, calibrate, save
        t = time.perf_counter()
        if args.kind == "tfidf":
            from bot.classify.local import load_or_train
            clf = load_or_train(texts, labels, tmp, args.threshold)
        else:
            from bot.classify.embeddings import EmbeddingsClassifier
            clf = EmbeddingsClassifier.load_or_train(texts, labels, tmp, args.threshold, calibrate=True)
        first_start = time.perf_counter() - t
    probes = [f"{p!r} -> {c.intent} {c.confidence:.2f}" for p in PROBES for c in [clf.classify(p)]]
    table(f"Demo intents, kind {args.kind} ({ins.sum()} examples of {len(s.intents)} intents + {(~ins).sum()} "
          "off-topic; 5-fold cross-validation)", [
        ("accuracy (in-scope examples)", f"{np.mean(q['intent'][ins] == y[ins]):.2%}"),
        ("off-topic examples judged out of scope", f"{np.mean(q['intent'][~ins] == OUT_OF_SCOPE):.2%}"),
        ("ECE (10 bins)", f"{q['ece_raw']:.3f} raw, {q['ece']:.3f} with each fold model's own CV temperature"),
        ("precision @ confidence >= 0.90", f"{q['p90']:.2%}  ({q['answered90']:.1%} of messages)"),
        ("first start (train + calibrate + save)", f"{first_start:.1f} s"),
        *[("  probe", p) for p in probes],
        *[(f"  threshold {th:.1f} on own / calibrated: in-scope acc, off-topic recall",
           " | ".join(f"{np.mean(i[ins] == y[ins]):.2%}, {np.mean(i[~ins] == OUT_OF_SCOPE):.2%}"
                      for i in (served(own, cal, classes, th)[0], served(cal, cal, classes, th)[0])))
          for th in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)],
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=("embeddings", "tfidf"), default="embeddings")
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--max-train", type=int, default=None, help="sample this many training rows per data set")
    ap.add_argument("--threshold", type=float, default=None, help="out-of-scope threshold (default: the kind's)")
    ap.add_argument("--gate", type=float, default=None, help="embeddings: TF-IDF head answers alone at or above")
    ap.add_argument("--tokens", type=int, default=None, help="embeddings: encode only the first T tokens")
    ap.add_argument("--latency-messages", type=int, default=1000)
    ap.add_argument("--emb-cache", type=Path, default=Path(tempfile.gettempdir()) / "supportbot-bench-emb")
    for name in ("banking", "clinc", "demo"):
        ap.add_argument(f"--skip-{name}", action="store_true")
    args = ap.parse_args()
    emb = None
    if args.kind == "embeddings":
        from bot.classify import embeddings as E
        from bot.classify.minilm import extra_problem

        if extra_problem():
            sys.exit(f"--kind embeddings: {extra_problem()}")
        args.gate = E.GATE if args.gate is None else args.gate
        args.tokens = E.ENCODER_TOKENS if args.tokens is None else args.tokens
        emb = Embeddings(args.emb_cache, args.tokens)
    if args.threshold is None:  # the product default for a model with an out_of_scope class
        args.threshold = OOS_THRESHOLD_WITH_CLASS[args.kind]
    print(f"kind {args.kind}  gate {args.gate}  tokens {args.tokens}  threshold {args.threshold}  threads 1")
    for name, fn in (("banking", bench_banking), ("clinc", bench_clinc), ("demo", bench_demo)):
        if not getattr(args, f"skip_{name}"):
            fn(args, emb)


if __name__ == "__main__":
    main()
