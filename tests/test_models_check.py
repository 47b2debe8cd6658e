"""`supportbot models check` (bot/llm/check.py) against the fake provider APIs."""

from __future__ import annotations

import json

from bot.llm.check import check_models, render
from tests.fakes.llm_servers import ENV, http_client, llm_server, llm_settings, ok  # noqa: F401

ANSWER = json.dumps({"answer": "ok", "confidence": 1})


async def test_each_model_once_with_what_came_back(llm_server, http_client):
    env = {k: v for k, v in ENV.items() if k != "TEST_ANTHROPIC_KEY"}
    llm_server.script("gpt-test-mini", ok(ANSWER))
    llm_server.script("gemini-test-flash", ok("ok"))  # plain text despite the schema
    llm_server.script("gpt-test-big", "401")
    checks = {c.name: c for c in await check_models(llm_settings(llm_server.url), env, http_client)}
    assert list(checks) == ["oa-mini", "claude-small", "gem-flash", "oa-big"]  # tier order
    mini = checks["oa-mini"]
    assert mini.ok and mini.structured == "yes" and mini.tiers == ("cheap",)
    assert mini.input_tokens and mini.output_tokens and mini.cost_usd and mini.cost_usd > 0 and mini.latency_ms
    assert not checks["claude-small"].ok and checks["claude-small"].detail == "no key: $TEST_ANTHROPIC_KEY is not set"
    assert checks["gem-flash"].ok and checks["gem-flash"].structured == "plain text: confidence from the cascade"
    big = checks["oa-big"]
    assert not big.ok and "401" in big.detail and ENV["TEST_OPENAI_KEY"] not in big.detail
    table = render(list(checks.values()))
    assert "FAILED" in table and "no key: $TEST_ANTHROPIC_KEY" in table
    assert ENV["TEST_OPENAI_KEY"] not in table  # never a key
    assert len(llm_server.requests) == 3  # one call per model with a key, none for the one without


async def test_an_api_that_refuses_schemas_is_told_apart(llm_server, http_client):
    llm_server.json_schema = False
    llm_server.script("gpt-test-mini", ok(ANSWER))
    settings = llm_settings(llm_server.url, tiers={"cheap": ["oa-mini"]})
    [check] = [c for c in await check_models(settings, ENV, http_client) if c.name == "oa-mini"]
    assert check.ok and check.structured and check.structured.startswith("refused")
    assert "structured_output: json" in check.structured
    assert [r.body["response_format"]["type"] for r in llm_server.requests[:2]] == ["json_schema", "json_object"]


def test_the_cli_without_keys_says_so_and_exits_0(monkeypatch):
    from typer.testing import CliRunner

    from bot.cli.main import app

    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    result = CliRunner().invoke(app, ["models", "check"])
    assert result.exit_code == 0, result.output
    assert "no key" in result.output and "FAILED" not in result.output
