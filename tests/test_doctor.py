"""`supportbot doctor` (bot/doctor.py) against the fakes: the database, the platform tokens (fake
Telegram and Slack APIs) and the models (the fake provider APIs), one of each kind down."""

from __future__ import annotations

import json

from bot.doctor import render, run
from tests.fakes.llm_servers import ENV, http_client, llm_server, llm_settings, ok  # noqa: F401
from tests.fakes.slack_api import fake_slack  # noqa: F401
from tests.fakes.telegram_api import fake_telegram  # noqa: F401

ANSWER = json.dumps({"answer": "ok", "confidence": 1})


async def test_everything_it_names_is_checked(db_url, llm_server, http_client, fake_telegram, fake_slack):
    settings = llm_settings(llm_server.url)
    settings.database.url = db_url
    env = {**ENV, "TELEGRAM_BOT_TOKEN": fake_telegram.token, "TELEGRAM_API_URL": fake_telegram.base_url,
           "SLACK_BOT_TOKEN": "xoxb-wrong", "SLACK_SIGNING_SECRET": "s" * 32, "SLACK_API_URL": fake_slack.api_url}
    del env["TEST_GEMINI_KEY"]
    llm_server.script("gpt-test-mini", ok(ANSWER))
    llm_server.script("claude-test", "500")  # one model down
    rows, findings = await run(settings, env, http_client)
    by = {f.what: f for f in findings}
    assert by["database"].ok and "newest revision" in by["database"].detail
    assert by["channel telegram"].ok and by["channel telegram"].detail == "getMe: @supportbot_test_bot"
    assert not by["channel slack"].ok and "invalid_auth" in by["channel slack"].detail  # a wrong token
    assert by["model oa-mini"].ok and "structured output yes" in by["model oa-mini"].detail
    assert not by["model claude-small"].ok and "500" in by["model claude-small"].detail
    assert by["model gem-flash"].ok and by["model gem-flash"].detail.startswith("skipped: no key")
    assert dict(rows)["channels"] == "slack: on; telegram: on; web: on"
    text = render(findings)
    assert fake_telegram.token not in text and "xoxb-wrong" not in text
    assert all(key not in text for key in ENV.values())


async def test_a_database_that_is_not_migrated_is_a_finding(empty_db_url, llm_server, http_client):
    settings = llm_settings(llm_server.url)
    settings.models.clear()
    settings.tiers.clear()
    settings.database.url = empty_db_url
    _, findings = await run(settings, {}, http_client)
    [db] = [f for f in findings if f.what == "database"]
    assert not db.ok and "supportbot migrate" in db.detail


def test_the_cli_exits_1_on_a_problem_and_0_when_all_is_well(sqlite_url, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli.main import app
    from bot.db.migrate import upgrade

    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY", "TELEGRAM_BOT_TOKEN",
                "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", sqlite_url)
    first = CliRunner().invoke(app, ["doctor"])
    assert first.exit_code == 1 and "supportbot migrate" in first.output
    upgrade(sqlite_url)
    second = CliRunner().invoke(app, ["doctor"])
    assert second.exit_code == 0, second.output
    assert "channels" in second.output and "web: on" in second.output
