"""Issue 19: the README's list of rule conditions, signals and routes is the settings model's."""

from __future__ import annotations

import re
from pathlib import Path

from bot.messages import Route
from bot.settings_policy import SIGNAL_NAMES, When

README = Path(__file__).resolve().parent.parent / "README.md"


def conditions_paragraph() -> set[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index("A rule's `when` may use:")
    para = text[start:text.index("All given conditions", start)]
    return set(re.findall(r"`([a-z_]+)`", para)) - {"when"}  # the key itself


def test_every_rule_condition_signal_and_route_is_in_the_readme():
    named = conditions_paragraph()
    missing = ({*When.model_fields, *SIGNAL_NAMES, *(r.value for r in Route)}) - named
    assert not missing, f"README.md's rule conditions omit: {sorted(missing)}"


def test_the_readme_names_no_condition_the_settings_refuse():
    unknown = conditions_paragraph() - {*When.model_fields, *SIGNAL_NAMES, *(r.value for r in Route)}
    assert not unknown, f"README.md names conditions the settings do not know: {sorted(unknown)}"
