"""The start-up summary (bot/startup.py): what is on, and why not, without a secret in it."""

from __future__ import annotations

from bot.startup import channel_states, render, summary
from tests.fakes.llm_servers import llm_settings


def test_what_is_on_and_why_not():
    s = llm_settings("http://127.0.0.1:9", tiers={"cheap": ["oa-mini", "claude-small"], "strong": ["oa-big"]},
                     budgets={"daily_usd": 5, "tiers": {"strong": {"monthly_usd": 50}}})
    s.database.url = "postgresql+asyncpg://bot:hunter2@db.internal:5432/support"
    env = {"TEST_ANTHROPIC_KEY": "sk-ant-secret"}
    channels = channel_states(["web"], env)
    rows = dict(summary(s, classifier="embeddings emb-123", channels=channels, env=env))
    assert "hunter2" not in rows["database"] and "db.internal" in rows["database"]
    assert rows["tier cheap"] == "oa-mini: no key ($TEST_OPENAI_KEY is not set); claude-small: ready"
    assert rows["tier strong"].endswith("-> the route degrades (policy.degrade_to)")
    assert channels["web"] == "on" and channels["telegram"] == "off (TELEGRAM_BOT_TOKEN not set)"
    assert channels["slack"] == "off (SLACK_BOT_TOKEN not set)" and "console" not in channels
    assert rows["budgets"] == "all $5/day; strong $50/month"
    assert "Slack: off (handoff.slack_channel is not set)" in rows["desk"]
    assert rows["languages"] == "en only (language.detect lists fewer than two)"
    text = render(summary(s, classifier="embeddings emb-123", channels=channels, env=env))
    assert "sk-ant-secret" not in text and "hunter2" not in text


def test_the_languages_row_says_which_have_canned_answers():
    from bot.settings import load_settings
    from tests.conftest import EXAMPLE_CONFIG

    s = load_settings(EXAMPLE_CONFIG)
    rows = dict(summary(s, classifier="embeddings", channels={}, env={}))
    assert rows["languages"] == "en (default), de: canned answers, fr: canned answers"
