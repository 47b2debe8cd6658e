"""What is on: the one summary `serve` and `chat` print and log at start, and `doctor` prints.

    config      examples/supportbot.yaml
    database    sqlite+aiosqlite:///supportbot.db
    classifier  embeddings emb-3f2a9c01d4e5-sk1.5.2
    tier cheap  gpt-4o-mini: no key ($OPENAI_API_KEY is not set) -> the route degrades
    channels    web: on; telegram: off (TELEGRAM_BOT_TOKEN is not set); slack: off (...)
    desk        web console /agent; Slack: off (handoff.slack_channel is not set)
    budgets     none

Secrets never appear: the database URL is shown without its password and keys only by the name
of their variable.
"""

from __future__ import annotations

import logging
import os
from typing import Mapping

from sqlalchemy.engine import make_url

from bot.settings import Cap, Settings

log = logging.getLogger("supportbot.startup")


def channel_states(on: list[str], env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Each installed channel plugin: "on", or "off" and the variables it waits for (a plugin's
    REQUIRED_ENV, when it names them)."""
    from bot.runtime.channel import load_plugin, plugin_names

    states: dict[str, str] = {}
    for name in plugin_names():
        plugin = load_plugin(name)
        if getattr(plugin, "create", None) is None:
            continue  # not a service channel (the terminal chat)
        if name in on:
            states[name] = "on"
            continue
        missing = [k for k in getattr(plugin, "REQUIRED_ENV", ()) if not (env.get(k) or "").strip()]
        states[name] = f"off ({', '.join(missing)} not set)" if missing else "off"
    return states


def model_state(settings: Settings, name: str, env: Mapping[str, str]) -> str:
    """"ready", or why the router will skip the model."""
    entry = settings.models.get(name)
    if entry is None:
        return "not in the catalog"
    if entry.api_key_env is None:
        return "ready (no key needed)"
    if not (env.get(entry.api_key_env) or "").strip():
        return f"no key (${entry.api_key_env} is not set)"
    return "ready"


def _cap(cap: Cap) -> str:
    parts = [f"${v:g}/{period}" for v, period in ((cap.daily_usd, "day"), (cap.monthly_usd, "month")) if v is not None]
    return ", ".join(parts) or "no cap"


def summary(settings: Settings, *, classifier: str, channels: Mapping[str, str],
            env: Mapping[str, str] = os.environ) -> list[tuple[str, str]]:
    """(label, value) rows. `classifier`: kind and model version; `channels`: name -> "on" or "off (why)"."""
    rows = [("config", str(settings.source)),
            ("database", make_url(settings.database.url).render_as_string(hide_password=True)),
            ("classifier", classifier)]
    for tier, names in settings.tiers.items():
        states = [f"{n}: {model_state(settings, n, env)}" for n in names] or ["no models"]
        ready = any(model_state(settings, n, env).startswith("ready") for n in names)
        rows.append((f"tier {tier}", "; ".join(states) + ("" if ready else " -> the route degrades (policy.degrade_to)")))
    if not settings.tiers:
        rows.append(("tiers", "none: the LLM routes degrade (policy.degrade_to)"))
    rows.append(("channels", "; ".join(f"{name}: {state}" for name, state in channels.items()) or "none"))
    slack = settings.handoff.slack_channel
    desk = "web console /agent"
    desk += f"; Slack channel {slack}" if slack else "; Slack: off (handoff.slack_channel is not set)"
    rows.append(("desk", desk))
    b = settings.budgets
    caps = [] if b.daily_usd is None and b.monthly_usd is None else [f"all {_cap(b)}"]
    caps += [f"{tier} {_cap(cap)}" for tier, cap in b.tiers.items()]
    rows.append(("budgets", "; ".join(caps) or "none"))
    lang = settings.language
    if lang.on:
        others = [c for c in lang.detect if c != lang.default]
        rows.append(("languages", f"{lang.default} (default), " + ", ".join(
            f"{c}: {'canned answers' if c in settings.translations else 'no canned answers'}" for c in others)))
    else:
        rows.append(("languages", f"{lang.default} only (language.detect lists fewer than two)"))
    return rows


def render(rows: list[tuple[str, str]]) -> str:
    width = max((len(label) for label, _ in rows), default=0)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def announce(rows: list[tuple[str, str]]) -> None:
    """Log the summary once, as one record with the rows as fields (key=value in text logs)."""
    log.info("what is on", extra={k.replace(" ", "_"): v for k, v in rows})
