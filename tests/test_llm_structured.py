"""Structured output per provider, against the fake APIs (tests/fakes/llm_servers.py) that reject what
the real ones reject: OpenAI json_schema with strict, Anthropic tool use, Gemini responseSchema; the
`structured_output` switch of a model entry ("schema", "json", "none")."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.llm.answer import ANSWER_SCHEMA, parse_structured
from bot.llm.gemini import gemini_schema
from bot.llm.types import ProviderError
from tests.fakes.llm_servers import gemini_schema_problem, http_client, llm_server, ok  # noqa: F401
from tests.harness.llm_providers import MODEL, PROVIDERS, REQ, TIMEOUT, make

ANSWER = json.dumps({"answer": "It ships today.", "confidence": 0.93})
ASKED = replace(REQ, json_output=True, schema=ANSWER_SCHEMA)


def with_mode(provider, mode: str):  # noqa: ANN001, ANN201
    provider.entry = provider.entry.model_copy(update={"structured_output": mode})
    return provider


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_a_schema_comes_back_as_its_json_object(llm_server, http_client, kind):
    llm_server.script(MODEL[kind], ok(ANSWER))
    resp = await make(kind, llm_server, http_client).complete(ASKED, TIMEOUT)
    assert parse_structured(resp.text) == ("It ships today.", 0.93, True)


async def test_openai_sends_a_strict_json_schema(llm_server, http_client):
    llm_server.script("gpt-t", ok(ANSWER))
    await make("openai", llm_server, http_client).complete(ASKED, TIMEOUT)
    (rec,) = llm_server.requests
    fmt = rec.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "support_answer" and fmt["json_schema"]["schema"] == ANSWER_SCHEMA.schema


async def test_anthropic_forces_the_schema_tool_and_reads_its_input(llm_server, http_client):
    llm_server.script("claude-t", ok(ANSWER))
    resp = await make("anthropic", llm_server, http_client).complete(ASKED, TIMEOUT)
    (rec,) = llm_server.requests
    assert rec.body["tool_choice"] == {"type": "tool", "name": "support_answer"}
    assert rec.body["tools"] == [{"name": "support_answer", "description": ANSWER_SCHEMA.description,
                                  "input_schema": ANSWER_SCHEMA.schema}]
    assert json.loads(resp.text) == {"answer": "It ships today.", "confidence": 0.93}


async def test_gemini_gets_the_schema_in_its_own_dialect(llm_server, http_client):
    llm_server.script("gemini-t", ok(ANSWER))
    await make("gemini", llm_server, http_client).complete(ASKED, TIMEOUT)
    (rec,) = llm_server.requests
    sent = rec.body["generationConfig"]["responseSchema"]
    assert sent["type"] == "OBJECT" and sent["properties"]["confidence"]["type"] == "NUMBER"
    assert "additionalProperties" not in sent and sent == gemini_schema(ANSWER_SCHEMA.schema)
    # the plain JSON Schema is what the API would refuse
    assert gemini_schema_problem(ANSWER_SCHEMA.schema) and gemini_schema_problem(sent) is None


async def test_the_fake_refuses_a_schema_strict_mode_cannot_use(llm_server, http_client):
    loose = replace(ASKED, schema=replace(ANSWER_SCHEMA, schema={**ANSWER_SCHEMA.schema, "additionalProperties": True}))
    with pytest.raises(ProviderError) as e:
        await make("openai", llm_server, http_client).complete(loose, TIMEOUT)
    assert e.value.kind == "bad_request"


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_json_mode_and_none(llm_server, http_client, kind):
    llm_server.script(MODEL[kind], ok(ANSWER), ok("It ships today."))
    await with_mode(make(kind, llm_server, http_client), "json").complete(ASKED, TIMEOUT)
    resp = await with_mode(make(kind, llm_server, http_client), "none").complete(ASKED, TIMEOUT)
    json_mode, none = (r.body for r in llm_server.requests)
    if kind == "openai":
        assert json_mode["response_format"] == {"type": "json_object"} and "response_format" not in none
    elif kind == "anthropic":
        assert "tools" not in json_mode and "tools" not in none
    else:
        assert json_mode["generationConfig"]["responseMimeType"] == "application/json"
        assert "responseSchema" not in json_mode["generationConfig"] and "responseMimeType" not in none["generationConfig"]
    assert parse_structured(resp.text)[2] is False  # plain text: the caller takes the confidence from elsewhere
