"""`supportbot replay`: logged traffic re-decided with a candidate policy and catalog, nothing written.

Traffic is logged by the real pipeline (App.open, inbox -> worker -> orchestrator) on SQLite
and PostgreSQL, with a scripted local classifier (test double of our own code, so each message's
confidence is known). Replay then runs the real cascade -> signals -> policy with a candidate.
"""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.quality import replay as rp
from bot.app import App
from bot.cli.main import app as cli
from bot.db import models as m
from bot.pipeline.knowledge import KnowledgeBase
from bot.messages import Classification, InboundMessage, Reply, utcnow
from bot.settings import ConfigError
from tests.helpers import MINI, mini_settings


class Scripted:
    RULES = {"order": ("order_status", 0.97), "unsure": ("order_status", 0.55), "card": ("fraud_report", 0.96),
             "hello": ("greeting", 0.99), "weather": ("out_of_scope", 0.1)}
    model_version = "scripted"

    def classify(self, text: str) -> Classification:
        for word, (intent, p) in self.RULES.items():
            if word in text.lower():
                return Classification(intent, p, ((intent, p),), model_version="scripted")
        return Classification("out_of_scope", 0.05, (("order_status", 0.05),), model_version="scripted")


class Collect:
    name = "test"

    async def deliver(self, reply: Reply, key: str) -> str:
        return key


MESSAGES = ["where is my order", "I'm unsure what to do", "hello", "what's the weather", "someone used my card"]
OVERLAY = """\
policy:
  confidence_threshold: 0.5
  rules:
    - {name: critical, when: {critical: true}, route: human}
    - {name: out_of_scope, when: {out_of_scope: true}, route: cheap_llm}
    - {name: low_confidence, when: {low_confidence: true}, route: human}
    - {name: canned, when: {has_answer: true}, route: template}
    - {name: fallback, route: cheap_llm}
models:
  small: {provider: openai, api_key_env: TEST_KEY_SMALL, input_per_mtok: 1.0, output_per_mtok: 2.0}
  big: {provider: anthropic, api_key_env: TEST_KEY_BIG, input_per_mtok: 3, output_per_mtok: 15}
"""


async def log_traffic(url: str) -> dict[str, int]:
    """Handle MESSAGES through the real pipeline (one customer each); message ids by text."""
    settings = mini_settings()
    settings.database.url = url
    async with App.open(settings, classifier=Scripted()) as a:
        a.channels.register(Collect())
        for i, text in enumerate(MESSAGES):
            await a.inbox.accept(InboundMessage(channel="test", customer_id=f"c{i}", text=text), f"e{i}")
        await a.worker.drain()
        await a.outbox.flush()
        async with a.sessions.begin() as s:
            ids = dict((await s.execute(select(m.Message.text, m.Message.id).where(m.Message.direction == "in"))).all())
            # the LLM calls this message made: tokens the replay re-prices with the candidate's catalog
            for purpose, tin, tout in (("classify", 300, 20), ("answer", 1000, 500)):
                s.add(m.ModelCall(message_id=ids["what's the weather"], purpose=purpose, provider="openai",
                                  model="small", tier="cheap", input_tokens=tin, output_tokens=tout,
                                  cost_usd=0.0001, outcome="ok"))
    return ids


async def counts(sessions) -> dict[str, int]:  # noqa: ANN001
    async with sessions() as s:
        return {t.__tablename__: await s.scalar(select(func.count()).select_from(t))
                for t in (m.Message, m.Classification, m.RouteDecision, m.ModelCall, m.Escalation, m.OutboxMessage)}


async def test_replay_with_a_candidate_policy_and_catalog(db_url, tmp_path, monkeypatch):
    monkeypatch.delenv("TEST_KEY_SMALL", raising=False)
    monkeypatch.delenv("TEST_KEY_BIG", raising=False)
    ids = await log_traffic(db_url)
    current = mini_settings()
    current.database.url = db_url
    overlay = tmp_path / "candidate.yaml"
    overlay.write_text(OVERLAY)
    candidate = rp.load_candidate(current, overlay)
    assert candidate.policy.confidence_threshold == 0.5 and candidate.intents == current.intents

    from bot.db.engine import make_engine, session_factory

    engine = make_engine(db_url)
    try:
        sessions = session_factory(engine)
        before = await counts(sessions)
        items, earlier, skipped = await rp.load_logged(sessions, utcnow() - timedelta(days=7), 72)
        assert len(items) == len(MESSAGES) and skipped == 0 and earlier == []
        kb = KnowledgeBase.load(candidate.path(candidate.knowledge.path), set(candidate.intents))
        results = await rp.replay(items, earlier, candidate, Scripted(), kb)
        assert await counts(sessions) == before  # nothing written
    finally:
        await engine.dispose()

    by_id = {r.logged.message_id: r for r in results}
    unsure = by_id[ids["I'm unsure what to do"]]
    assert (unsure.logged.decided, unsure.route, unsure.rule) == ("human", "template", "canned")
    weather = by_id[ids["what's the weather"]]
    # logged: the policy chose cheap_llm, degraded (no keys); replay compares decisions, not outages
    assert weather.logged.decided == "cheap_llm" and weather.logged.route != "cheap_llm" and not weather.changed
    # the logged tokens at the candidate's prices: classify 300 in / 20 out, answer 1000 / 500 at $1 / $2 per M
    assert weather.cost_usd == pytest.approx((300 * 1 + 20 * 2 + 1000 * 1 + 500 * 2) / 1e6)
    assert by_id[ids["someone used my card"]].route == "human"
    s = rp.summary(results, skipped)
    assert s["changed"] == 1 and s["transitions"] == {"human -> template": 1}
    # really escalated: 2 (the out-of-scope message, no keys, got "I can only help with ..." instead of a
    # person); decided: 2; replayed: 1
    assert s["escalations"] == {"logged": 2, "logged_decided": 2, "replayed": 1}
    assert s["cost_usd"]["logged"] == pytest.approx(0.0002)
    text = rp.render(s, rp.changed_rows(results), utcnow().date(), "candidate.yaml")
    assert "1 messages would change route" in text and "I'm unsure what to do" in text


def test_overlay_keys_are_checked(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("database: {url: x}\n")
    with pytest.raises(ConfigError, match="replay overlay may hold only"):
        rp.load_candidate(mini_settings(), bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("policy: {rules: [{name: x, when: {intent_in: [nope]}, route: human}]}\n")
    with pytest.raises(ConfigError, match="unknown intent 'nope'"):
        rp.load_candidate(mini_settings(), wrong)


def test_replay_command_prints_side_by_side_and_writes_csv(sqlite_db, tmp_path, monkeypatch):
    asyncio.run(log_traffic(sqlite_db))
    shutil.copytree(MINI.parent, tmp_path / "cfg")
    (tmp_path / "candidate.yaml").write_text(OVERLAY)
    monkeypatch.chdir(tmp_path)  # the classifier cache goes under the working directory
    out = CliRunner().invoke(cli, ["replay", "--config", str(tmp_path / "cfg" / MINI.name), "--url", sqlite_db,
                                   "--policy", "candidate.yaml", "--threshold", "0.0", "--csv", "changes.csv"])
    assert out.exit_code == 0, out.output
    assert f"replay of {len(MESSAGES)} logged messages" in out.stdout
    for phrase in ("escalations", "cost USD", "would change route", "changed messages written to changes.csv"):
        assert phrase in out.stdout, phrase
    rows = list(csv.DictReader(io.StringIO((tmp_path / "changes.csv").read_text())))
    assert list(rows[0].keys()) == list(rp.CSV_FIELDS) if rows else True
    assert all(r["logged_route"] != r["new_route"] for r in rows)
    bad = CliRunner().invoke(cli, ["replay", "--config", str(tmp_path / "cfg" / MINI.name), "--url", sqlite_db,
                                   "--since", "last week"])
    assert bad.exit_code == 2 and "Invalid value for '--since'" in bad.output and "Traceback" not in bad.output
    recent = CliRunner().invoke(cli, ["replay", "--config", str(tmp_path / "cfg" / MINI.name), "--url", sqlite_db,
                                      "--since", "1h"])
    assert recent.exit_code == 0, recent.output
    assert "logged messages since 20" in recent.stdout
