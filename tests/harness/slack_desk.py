"""Agents in Slack: the real serve() with the agents' channel (AGENTS) against the fake Slack Web API.
Fixtures `migrated` (one migrated SQLite file per module), `slack_only` (autouse where imported: no
Telegram plugin), `settings` (a copy of it) and `service`; `escalate` (a customer's message until its
card is posted), `click` (a card's button), and readers of what the bot posted (`posts`, `ephemerals`,
`slack_of`, `thread_message`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.db import models as m
from bot.db.migrate import upgrade
from channels.slack import SlackChannel
from tests.fakes.doubles import Scripted
from tests.fakes.slack_api import FakeSlack, deliver_event, deliver_interaction
from tests.harness.slack import SECRET, http_env, rows
from tests.helpers import mini_settings
from tests.service_harness import running_service, wait_until


AGENTS = "CAGENTS"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """One migrated SQLite file for the module; each test gets a copy (migrating takes a second)."""
    path = tmp_path_factory.mktemp("slack_desk") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(autouse=True)
def slack_only(monkeypatch):
    """Only the channels these tests use: importing aiogram for a channel that stays off takes seconds."""
    import bot.service as service

    names = service.plugin_names
    monkeypatch.setattr(service, "plugin_names", lambda: [n for n in names() if n != "telegram"])


@pytest.fixture
def settings(migrated, tmp_path):
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{migrated}{suffix}").exists():
            shutil.copy(f"{migrated}{suffix}", tmp_path / f"supportbot.db{suffix}")
    s = mini_settings()
    s.database.url = f"sqlite+aiosqlite:///{tmp_path / 'supportbot.db'}"
    s.handoff.slack_channel = AGENTS
    return s


@pytest.fixture
async def service(fake_slack, settings):
    async with running_service(settings, http_env(fake_slack), classifier=Scripted()) as svc:
        svc.events = svc.url + "/slack/events"
        yield svc


def slack_of(svc) -> SlackChannel:  # noqa: ANN001
    [rt] = [rt for rt in svc.runtimes if rt.name == "slack"]
    return rt


def posts(fake: FakeSlack, channel: str = AGENTS, thread_ts: str | None = None) -> list[dict]:
    """Messages the bot posted in a channel: top level (thread_ts None) or in one thread."""
    return [p for p in fake.posted_messages() if p["channel"] == channel and p.get("thread_ts") == thread_ts]


async def escalate(fake: FakeSlack, svc, text: str = "someone used my card!", user: str = "U1") -> str:  # noqa: ANN001
    """The customer writes; returns the ts of the card that appears in the agents' channel."""
    assert (await deliver_event(svc.events, fake.message_event(user, text), SECRET))[0] == 200
    n = len(posts(fake))
    await wait_until(lambda: len(posts(fake)) > n, timeout=5)
    await wait_until(lambda: rows(svc, m.Escalation, m.Escalation.desk_refs.is_not(None)), timeout=5)
    card = fake.bot_messages(AGENTS)[-1]
    return card["ts"]


async def click(fake: FakeSlack, svc, user: str, action: str, value: str, ts: str,  # noqa: ANN001
                channel: str = AGENTS, **kw: str) -> int:
    status, _ = await deliver_interaction(svc.events, fake.block_action_payload(user, action, value, channel, ts, **kw),
                                          SECRET)
    return status


def ephemerals(fake: FakeSlack, user: str) -> list[str]:
    return [p["text"] for p in fake.calls_of("chat.postEphemeral") if p["user"] == user]


def thread_message(fake: FakeSlack, user: str, text: str, ts: str) -> dict:
    return fake.message_event(user, text, channel=AGENTS, channel_type="channel", thread_ts=ts)
