"""Benchmark of PII redaction (bot/guardrails.redact) on bench/data/pii.csv.

    .venv/bin/python bench/pii.py [--misses] [--phonenumbers]

Each CSV row is `text,kind,secret`; an empty kind is a negative (order numbers, prices, dates,
tracking codes...) where nothing should be redacted. A row is caught when its secret no longer
appears in the redacted text; "right kind" is the share caught under a placeholder of its own
kind. Printed: recall per kind, overall recall, the false-positive rate (negatives with any
placeholder) and redact() latency p50/p99 in ms. --phonenumbers also scores Google's
libphonenumber (the `phonenumbers` package, when importable) on the phone rows and negatives,
regions GB/US/DE/FR/NL, to compare with the regex. Prints figures; it does not pass or fail.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.pipeline.guardrails import redact  # noqa: E402

DATA = ROOT / "bench" / "data" / "pii.csv"
PLACEHOLDER = re.compile(r"\[([A-Z_]+)_\d+\]")
REGIONS = ("GB", "US", "DE", "FR", "NL")


def load(path: Path) -> list[tuple[str, str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [(r["text"], (r["kind"] or "").strip(), r["secret"] or "") for r in csv.DictReader(f)]


def timed(fn, text: str):  # noqa: ANN001, ANN201
    t = time.perf_counter()
    out = fn(text)
    return out, (time.perf_counter() - t) * 1000


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


def score_regex(rows: list[tuple[str, str, str]], misses: bool) -> None:
    caught, right, total = defaultdict(int), defaultdict(int), defaultdict(int)
    fps, negs, ms = [], 0, []
    for text, kind, secret in rows:
        r, took = timed(redact, text)
        ms.append(took)
        kinds = {k.lower() for k in PLACEHOLDER.findall(r.text)}
        if not kind:
            negs += 1
            if kinds:
                fps.append(f"{text!r} -> {r.text!r}")
            continue
        total[kind] += 1
        if secret.lower() not in r.text.lower():
            caught[kind] += 1
            right[kind] += kind in kinds
        elif misses:
            print(f"  miss {kind:12} {text!r} -> {r.text!r}")
    print(f"{'kind':12} {'rows':>5} {'recall':>7} {'right kind':>11}")
    for kind in sorted(total):
        print(f"{kind:12} {total[kind]:5} {caught[kind] / total[kind]:7.0%} {right[kind] / total[kind]:11.0%}")
    n = sum(total.values())
    print(f"{'all':12} {n:5} {sum(caught.values()) / n:7.0%} {sum(right.values()) / n:11.0%}")
    print(f"false positives: {len(fps)}/{negs} negatives = {len(fps) / max(negs, 1):.0%}")
    for fp in fps if misses else ():
        print(f"  fp {fp}")
    print(f"redact() latency ms: p50 {statistics.median(ms):.3f}, p99 {pct(ms, 0.99):.3f}")


def score_phonenumbers(rows: list[tuple[str, str, str]], misses: bool) -> None:
    try:
        import phonenumbers
    except ImportError:
        print("phonenumbers is not installed: pip install phonenumbers to compare")
        return

    def find(text: str) -> list[str]:
        spans = set()
        for region in REGIONS:
            for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
                spans.add((m.start, m.end))
        out = text
        for start, end in sorted(spans, reverse=True):
            out = out[:start] + "[PHONE_1]" + out[end:]
        return out

    phones = [(t, s) for t, k, s in rows if k == "phone"]
    negatives = [t for t, k, _ in rows if not k]
    hit, ms = 0, []
    for text, secret in phones:
        out, took = timed(find, text)
        ms.append(took)
        if secret.lower() not in out.lower():
            hit += 1
        elif misses:
            print(f"  miss phone {text!r} -> {out!r}")
    fp = 0
    for text in negatives:
        out, took = timed(find, text)
        ms.append(took)
        if out != text:
            fp += 1
            if misses:
                print(f"  fp {text!r} -> {out!r}")
    regex_hit = sum(secret.lower() not in redact(t).text.lower() for t, secret in phones)
    regex_fp = sum("[PHONE_" in redact(t).text for t in negatives)
    print(f"phones, {len(phones)} rows / {len(negatives)} negatives, regions {'/'.join(REGIONS)}:")
    print(f"  regex          recall {regex_hit / len(phones):.0%}, phone false positives {regex_fp}/{len(negatives)}")
    print(f"  phonenumbers   recall {hit / len(phones):.0%}, phone false positives {fp}/{len(negatives)}, "
          f"latency ms p50 {statistics.median(ms):.3f}, p99 {pct(ms, 0.99):.3f} "
          f"(version {phonenumbers.__version__})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--misses", action="store_true", help="print every miss and false positive")
    ap.add_argument("--phonenumbers", action="store_true", help="compare the phonenumbers library on phones")
    ap.add_argument("--data", type=Path, default=DATA)
    args = ap.parse_args()
    rows = load(args.data)
    print(f"{args.data.relative_to(ROOT) if args.data.is_relative_to(ROOT) else args.data}: {len(rows)} rows")
    score_regex(rows, args.misses)
    if args.phonenumbers:
        score_phonenumbers(rows, args.misses)


if __name__ == "__main__":
    main()
