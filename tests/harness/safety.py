"""The safety detector's negatives: `routine_examples`, the shop's routine intent examples."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT


def routine_examples() -> list[str]:
    """The shop's routine intent examples (critical intents left out): the negatives build() takes."""
    raw = yaml.safe_load((ROOT / "examples" / "intents.yaml").read_text(encoding="utf-8"))["intents"]
    return [str(e) for cfg in raw.values() if not cfg.get("critical") for e in cfg.get("examples", [])]
