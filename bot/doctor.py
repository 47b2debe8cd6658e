"""`supportbot doctor`: the start-up summary, then a check of each thing it names.

The database (reachable, migrated to the newest revision), each configured platform token
(Telegram getMe, Slack auth.test: channels/checks.py) and each model with its key set (one tiny
call: bot/llm/check.py). A model without its key is reported, not counted as a problem: its
route degrades by design. Anything else that fails makes the exit code 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import httpx
from sqlalchemy.engine import make_url

from bot.db.engine import NotMigrated, check_migrated, make_engine
from bot.llm.check import check_models
from bot.settings import Settings
from bot.startup import channel_states, summary


@dataclass(frozen=True)
class Finding:
    what: str  # "database", "channel telegram", "model gpt-4o-mini"
    ok: bool
    detail: str


async def check_database(settings: Settings) -> Finding:
    from bot.db.migrate import head_revision

    safe = make_url(settings.database.url).render_as_string(hide_password=True)
    engine = make_engine(settings.database.url, pool_size=1)
    try:
        await check_migrated(engine)
        return Finding("database", True, f"{safe}: reachable, at the newest revision {head_revision()}")
    except NotMigrated as e:
        return Finding("database", False, str(e))
    finally:
        await engine.dispose()


async def check_channels(states: Mapping[str, str], env: Mapping[str, str]) -> list[Finding]:
    from channels.checks import CHECKS

    found = []
    for name, state in states.items():
        if state != "on" or name not in CHECKS:
            continue
        try:
            found.append(Finding(f"channel {name}", True, await CHECKS[name](env)))
        except Exception as e:  # noqa: BLE001 - any failure of the platform call is the finding
            found.append(Finding(f"channel {name}", False, f"{type(e).__name__}: {str(e)[:200]}"))
    return found


def configured_channels(env: Mapping[str, str]) -> list[str]:
    """The channels `serve` would start: the browser chat, and each whose variables are set (asked as if
    none were on, a plugin is "off" with nothing missing exactly when its variables are all there)."""
    states = channel_states([], env)
    return [name for name, state in states.items() if name == "web" or state == "off"]


async def run(settings: Settings, env: Mapping[str, str] = os.environ,
              client: httpx.AsyncClient | None = None) -> tuple[list[tuple[str, str]], list[Finding]]:
    """(the summary rows, the findings)."""
    states = channel_states(configured_channels(env), env)
    rows = summary(settings, classifier=f"{settings.classifier.kind} (not loaded by doctor)", channels=states, env=env)
    findings = [await check_database(settings)]
    findings += await check_channels(states, env)
    for c in await check_models(settings, env, client):
        if c.ok:
            findings.append(Finding(f"model {c.name}", True, f"answered in {c.latency_ms:.0f} ms, "
                                    f"${c.cost_usd:.6f} per call, structured output {c.structured}"))
        elif c.detail.startswith("no key"):
            findings.append(Finding(f"model {c.name}", True, f"skipped: {c.detail}"))
        else:
            findings.append(Finding(f"model {c.name}", False, c.detail))
    return rows, findings


def render(findings: list[Finding]) -> str:
    width = max((len(f.what) for f in findings), default=0)
    return "\n".join(f"{'ok  ' if f.ok else 'FAIL'}  {f.what:<{width}}  {f.detail}" for f in findings)
