"""The three providers over real HTTP against the local fake: wire shapes, usage, errors."""

from __future__ import annotations

import socket

import httpx
import pytest

from bot.llm.gemini import GeminiProvider
from bot.llm.openai import OpenAIProvider
from bot.llm.types import ChatTurn, LLMRequest, ProviderError, Usage, parse_json_object, parse_retry_after
from tests.fakes.llm_servers import DEEP, KEYS, U, http_client, llm_server, ok, rate_limited  # noqa: F401
from tests.harness.llm_providers import MODEL, PROVIDERS, REQ, TIMEOUT, entry, make


async def test_openai_wire_and_usage(llm_server, http_client):
    llm_server.script("gpt-t", ok("Your order ships today.", usage=U(1200, 300, cached=1024, reasoning=128)))
    p = make("openai", llm_server, http_client)
    resp = await p.complete(LLMRequest(REQ.system, REQ.messages, 300, 0.1, json_output=True), TIMEOUT)
    assert resp.text == "Your order ships today."
    assert resp.usage == Usage(input_tokens=1200, output_tokens=300, cached_tokens=1024, reasoning_tokens=128)
    assert (resp.provider, resp.model) == ("openai", "gpt-t") and resp.latency_ms > 0
    (rec,) = llm_server.requests
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["Authorization"] == f"Bearer {KEYS['openai']}"
    assert rec.body["model"] == "gpt-t" and rec.body["max_tokens"] == 300 and rec.body["temperature"] == 0.1
    assert rec.body["response_format"] == {"type": "json_object"}
    assert rec.body["messages"][0] == {"role": "system", "content": "You are Acme support."}
    assert [m["role"] for m in rec.body["messages"]] == ["system", "user", "assistant", "user", "user"]


def test_openai_public_api_gets_max_completion_tokens():
    p = OpenAIProvider("oa", entry("openai", "gpt-t"), httpx.AsyncClient(), "k", "https://api.openai.com/v1")
    body = p.build_body(REQ)
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body and "response_format" not in body


async def test_openai_deepseek_cache_field(llm_server, http_client):
    llm_server.script("gpt-t", ok("x", raw_usage={"prompt_tokens": 500, "completion_tokens": 10,
                                                  "prompt_cache_hit_tokens": 320, "prompt_cache_miss_tokens": 180}))
    resp = await make("openai", llm_server, http_client).complete(REQ, TIMEOUT)
    assert resp.usage == Usage(500, 10, cached_tokens=320)


async def test_anthropic_wire_and_usage(llm_server, http_client):
    llm_server.script("claude-t", ok("Shipped.", raw_usage={
        "input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 400, "cache_creation_input_tokens": 20}))
    resp = await make("anthropic", llm_server, http_client).complete(REQ, TIMEOUT)
    assert resp.text == "Shipped."
    # input_tokens counts every prompt token: 100 uncached + 400 read + 20 written
    assert resp.usage == Usage(input_tokens=520, output_tokens=50, cached_tokens=400)
    (rec,) = llm_server.requests
    assert rec.path == "/v1/messages"
    assert rec.headers["x-api-key"] == KEYS["anthropic"] and rec.headers["anthropic-version"] == "2023-06-01"
    assert "Authorization" not in rec.headers
    assert rec.body["system"] == "You are Acme support." and rec.body["max_tokens"] == 300
    assert rec.body["messages"] == [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Where is my order?\n\nIt is late."},  # same-role turns joined
    ]


async def test_gemini_wire_and_usage(llm_server, http_client):
    llm_server.script("gemini-t", ok("On its way.", raw_usage={
        "promptTokenCount": 900, "candidatesTokenCount": 40, "cachedContentTokenCount": 512,
        "thoughtsTokenCount": 60, "totalTokenCount": 1000}))
    resp = await make("gemini", llm_server, http_client).complete(
        LLMRequest("sys", [ChatTurn("assistant", "Hi! How can I help?"), ChatTurn("user", "order?")], 200,
                   json_output=True), TIMEOUT)
    assert resp.text == "On its way."
    assert resp.usage == Usage(input_tokens=900, output_tokens=100, cached_tokens=512, reasoning_tokens=60)
    (rec,) = llm_server.requests
    assert rec.path == "/v1beta/models/gemini-t:generateContent"
    assert rec.headers["x-goog-api-key"] == KEYS["gemini"] and rec.query == ""  # never ?key= in the URL
    assert rec.body["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert [c["role"] for c in rec.body["contents"]] == ["user", "model", "user"]  # starts with the user
    assert rec.body["contents"][2]["parts"] == [{"text": "order?"}]
    assert rec.body["generationConfig"] == {"maxOutputTokens": 200, "temperature": 0.2,
                                            "responseMimeType": "application/json"}


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_default_usage_is_realistic(llm_server, http_client, kind):
    resp = await make(kind, llm_server, http_client).complete(REQ, TIMEOUT)
    assert resp.text.startswith("Hello from")
    assert 10 < resp.usage.input_tokens < 200 and resp.usage.output_tokens >= 1


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_error_mapping(llm_server, http_client, kind):
    llm_server.script(MODEL[kind], rate_limited(2), "500", "503", "malformed", "401", "400")
    p = make(kind, llm_server, http_client)
    errors = []
    for _ in range(6):
        with pytest.raises(ProviderError) as ei:
            await p.complete(REQ, TIMEOUT)
        errors.append(ei.value)
    assert [(e.kind, e.retryable) for e in errors] == [
        ("rate_limited", True), ("server", True), ("server", True), ("malformed", True), ("auth", False),
        ("bad_request", False)]
    assert errors[0].retry_after == 2 and errors[0].status == 429
    assert errors[2].status in (503, 529)
    for e in errors:
        assert KEYS[kind] not in str(e) and KEYS[kind] not in repr(e.args)


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_wrong_key_is_auth_error_without_the_key(llm_server, http_client, kind):
    bad = "sk-WRONG-secret-value-42"
    with pytest.raises(ProviderError) as ei:
        await make(kind, llm_server, http_client, key=bad).complete(REQ, TIMEOUT)
    assert ei.value.kind == "auth" and not ei.value.retryable
    assert bad not in str(ei.value) and bad not in repr(ei.value.args) and ei.value.__cause__ is None


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_hang_times_out(llm_server, http_client, kind):
    llm_server.script(MODEL[kind], "hang")
    with pytest.raises(ProviderError) as ei:
        await make(kind, llm_server, http_client).complete(REQ, httpx.Timeout(0.2))
    assert ei.value.kind == "timeout" and ei.value.retryable


async def test_connection_refused(http_client):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = OpenAIProvider("oa", entry("openai", "gpt-t"), http_client, "sk-secret", f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderError) as ei:
        await p.complete(REQ, TIMEOUT)
    assert ei.value.kind == "connection" and ei.value.retryable and "sk-secret" not in str(ei.value)


def test_gemini_error_bodies():
    p = GeminiProvider("gm", entry("gemini", "g"), httpx.AsyncClient(), "k", "http://x")
    bad_key = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "API key not valid.",
                         "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}
    assert p._error_hook(400, bad_key).kind == "auth"
    quota = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34s"}]}}
    e = p._error_hook(429, quota)
    assert e.kind == "rate_limited" and e.retry_after == 34
    assert p._error_hook(500, None) is None


def test_retry_after_forms():
    assert parse_retry_after({"retry-after": "3"}) == 3
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480) == 10
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None


def test_parse_json_object_is_lenient():
    assert parse_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_object('Sure! {"a": 2} Hope that helps.') == {"a": 2}
    assert parse_json_object("[1, 2]") is None and parse_json_object("nope") is None and parse_json_object("") is None


@pytest.mark.parametrize("kind", PROVIDERS)
async def test_deeply_nested_json_is_malformed_not_a_crash(llm_server, http_client, kind):
    """json.loads raises RecursionError (not a ValueError) on [[[[...]]]]: a provider's body nested
    that deep is a malformed response, and a model's answer nested that deep is no JSON object."""
    llm_server.script(MODEL[kind], "nested", ok(DEEP))
    p = make(kind, llm_server, http_client)
    with pytest.raises(ProviderError) as ei:
        await p.complete(REQ, TIMEOUT)
    assert ei.value.kind == "malformed"
    answer = await p.complete(REQ, TIMEOUT)  # the model's text is the deep JSON
    assert answer.text == DEEP and parse_json_object(answer.text) is None
    assert parse_json_object("```json\n" + DEEP + "\n```") is None
