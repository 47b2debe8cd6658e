"""One local fake of the OpenAI, Anthropic and Gemini APIs (aiohttp on 127.0.0.1).

    async with FakeLLMServer() as srv:
        srv.script("gpt-x", "500", rate_limited(2), ok("hello", usage=U(100, 20, cached=40)))
        base = srv.url + "/v1"            # OpenAI-compatible base; Anthropic and Gemini use srv.url
        ...
        srv.requests                      # every request: provider, path, headers, JSON body

Each model has a queue of behaviours; when it is empty the answer is "ok" with a
deterministic usage (input ~ prompt characters / 4). Behaviours: ok, 429 (Retry-After),
500, 503, hang (until the client gives up; shutdown releases it), malformed (200 with a
non-JSON body), 401, 400 (request refused). Bodies, headers and usage fields follow each API's real shapes.

Two optional knobs for callers that play a whole model rather than a script (bench/routing.py):
``responder(provider, model, body)`` is asked when a model's queue is empty and may return a
Behaviour (None: the default "ok"); ``latency_ms`` delays every answer, like a real API.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

import pytest_asyncio
from aiohttp import web

from tests.fakes.llm_checks import (
    anthropic_tools_problem, gemini_schema_problem, gemini_tools_problem, openai_schema_problem, openai_tools_problem,
)

KEYS = {"openai": "sk-test-openai-0123456789", "anthropic": "sk-ant-test-0123456789", "gemini": "gm-test-0123456789"}


DEEP = '{"choices": ' + "[" * 100_000 + "]" * 100_000 + "}"  # nested too deeply for json.loads


@dataclass(frozen=True)
class U:
    """Usage in normalised terms (input incl. cached, output incl. reasoning); the fake
    translates it into each API's own fields."""

    input: int
    output: int
    cached: int = 0
    reasoning: int = 0


@dataclass(frozen=True)
class Behaviour:
    kind: str  # ok | 400 | 401 | 429 | 500 | 503 | hang | malformed | nested (JSON too deep to parse)
    text: str | None = None
    usage: U | None = None
    raw_usage: dict | None = None  # the API's usage object verbatim, overriding ``usage``
    retry_after: float | None = None
    tools: tuple[tuple[str, dict], ...] = ()  # tool calls (name, arguments) the model makes instead of answering


def ok(text: str | None = None, usage: U | None = None, raw_usage: dict | None = None) -> Behaviour:
    return Behaviour("ok", text=text, usage=usage, raw_usage=raw_usage)


def calls_tool(name: str, arguments: dict, *more: tuple[str, dict], usage: U | None = None) -> Behaviour:
    """The model calls tools (each API's own format); the request must have offered them."""
    return Behaviour("ok", text="", usage=usage, tools=((name, arguments), *more))


def rate_limited(retry_after: float | None = 1) -> Behaviour:
    return Behaviour("429", retry_after=retry_after)


def unavailable(retry_after: float | None = None) -> Behaviour:
    return Behaviour("503", retry_after=retry_after)


@dataclass
class Recorded:
    provider: str
    path: str
    model: str
    headers: dict[str, str]
    body: Any
    query: str = ""


@dataclass
class FakeLLMServer:
    keys: dict[str, str] = field(default_factory=lambda: dict(KEYS))
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""
    # asked when a model's scripted queue is empty: (provider, model, body) -> Behaviour, or None for "ok"
    responder: Callable[[str, str, Any], Behaviour | None] | None = None
    latency_ms: float = 0.0  # added before every answer (not before 401s)
    keyless: bool = False  # the OpenAI-compatible API asks for no key, like a local Ollama or vLLM
    json_schema: bool = True  # False: the OpenAI-compatible API refuses json_schema, like DeepSeek's

    def __post_init__(self) -> None:
        self._queues: dict[str, list[Behaviour]] = {}
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.hanging = 0  # requests currently held by a "hang"
        self.hang_started = asyncio.Event()  # set when a request starts hanging

    # --- scripting --------------------------------------------------------------------

    def script(self, model: str, *behaviours: Behaviour | str) -> None:
        q = self._queues.setdefault(model, [])
        q.extend(b if isinstance(b, Behaviour) else Behaviour(b) for b in behaviours)

    def requests_for(self, model: str) -> list[Recorded]:
        return [r for r in self.requests if r.model == model]

    # --- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> "FakeLLMServer":
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        app.router.add_post("/v1beta/models/{tail}", self._gemini)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()  # let every "hang" finish so shutdown does not wait on it
        if self._runner is not None:
            await self._runner.cleanup()

    # --- shared -----------------------------------------------------------------------

    async def _serve(self, provider: str, request: web.Request, model: str | None, key_ok: bool):
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        model = model or (body.get("model", "") if isinstance(body, dict) else "")
        self.requests.append(Recorded(provider, request.path, model, dict(request.headers), body,
                                      request.query_string))
        if not key_ok:
            return None, Behaviour("401"), model, body
        q = self._queues.get(model)
        behaviour = q.pop(0) if q else None
        if behaviour is None and self.responder is not None:
            behaviour = self.responder(provider, model, body)
        if behaviour is None:
            behaviour = Behaviour("ok")
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)
        if behaviour.kind == "hang":
            self.hanging += 1
            self.hang_started.set()
            try:
                await self._release.wait()
            finally:
                self.hanging -= 1
            return web.Response(status=503, text="released at shutdown"), behaviour, model, body
        if behaviour.kind == "malformed":
            return web.Response(status=200, text="<html>upstream proxy error", content_type="text/html"), \
                behaviour, model, body
        if behaviour.kind == "nested":  # valid JSON, but json.loads runs out of recursion depth
            return web.Response(status=200, text=DEEP, content_type="application/json"), behaviour, model, body
        return None, behaviour, model, body

    @staticmethod
    def _default_usage(body: Any, text: str) -> U:
        return U(input=max(1, len(json.dumps(body)) // 4), output=max(1, len(text) // 4))

    @staticmethod
    def _headers(b: Behaviour) -> dict[str, str]:
        return {"retry-after": f"{b.retry_after:g}"} if b.retry_after is not None else {}

    # --- OpenAI -----------------------------------------------------------------------

    async def _openai(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        done, b, model, body = await self._serve("openai", request, None, self.keyless or auth == f"Bearer {self.keys['openai']}")
        if done:
            return done
        errors = {"400": (400, "invalid_request_error", "context_length_exceeded", "Too many tokens."),
                  "401": (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
                  "429": (429, "requests", "rate_limit_exceeded", "Rate limit reached."),
                  "500": (500, "server_error", None, "The server had an error."),
                  "503": (503, "server_error", None, "The engine is currently overloaded.")}
        if b.kind in errors:
            status, typ, code, msg = errors[b.kind]
            return web.json_response({"error": {"message": msg, "type": typ, "param": None, "code": code}},
                                     status=status, headers=self._headers(b))
        fmt = body.get("response_format")
        problem = openai_schema_problem(fmt)
        if not self.json_schema and isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            problem = "This response_format type is unavailable now"
        if problem:  # what api.openai.com answers a response_format it cannot use
            return web.json_response({"error": {"message": f"Invalid schema for response_format: {problem}",
                                                "type": "invalid_request_error", "param": "response_format",
                                                "code": None}}, status=400)
        problem = openai_tools_problem(body, b)
        if problem:  # what api.openai.com answers ill-formed tools or tool messages
            return web.json_response({"error": {"message": problem, "type": "invalid_request_error",
                                                "param": "messages", "code": None}}, status=400)
        text = b.text if b.text is not None else f"Hello from {model}."
        u = b.usage or self._default_usage(body, text)
        usage = b.raw_usage or {
            "prompt_tokens": u.input, "completion_tokens": u.output, "total_tokens": u.input + u.output,
            "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }
        return web.json_response({
            "id": f"chatcmpl-fake{len(self.requests)}", "object": "chat.completion", "created": 1700000000,
            "model": model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "message": {
                "role": "assistant", "content": text if not b.tools else None, "refusal": None,
                **({"tool_calls": [{"id": f"call_fake{len(self.requests)}_{i}", "type": "function",
                                    "function": {"name": name, "arguments": json.dumps(args)}}
                                   for i, (name, args) in enumerate(b.tools)]} if b.tools else {})},
                "logprobs": None, "finish_reason": "tool_calls" if b.tools else "stop"}],
            "usage": usage,
        })

    # --- Anthropic --------------------------------------------------------------------

    async def _anthropic(self, request: web.Request) -> web.Response:
        key_ok = request.headers.get("x-api-key") == self.keys["anthropic"]
        done, b, model, body = await self._serve("anthropic", request, None, key_ok)
        if done:
            return done
        if key_ok and request.headers.get("anthropic-version") != "2023-06-01":
            return web.json_response({"type": "error", "error": {"type": "invalid_request_error",
                                      "message": "anthropic-version: header is required"}}, status=400)
        errors = {"400": (400, "invalid_request_error", "prompt is too long"),
                  "401": (401, "authentication_error", "invalid x-api-key"),
                  "429": (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit."),
                  "500": (500, "api_error", "Internal server error"),
                  "503": (529, "overloaded_error", "Overloaded")}
        if b.kind in errors:
            status, typ, msg = errors[b.kind]
            return web.json_response({"type": "error", "error": {"type": typ, "message": msg}},
                                     status=status, headers=self._headers(b))
        problem = anthropic_tools_problem(body, b)
        if problem:
            return web.json_response({"type": "error", "error": {"type": "invalid_request_error", "message": problem}},
                                     status=400)
        text = b.text if b.text is not None else f"Hello from {model}."
        u = b.usage or self._default_usage(body, text)
        usage = b.raw_usage or {"input_tokens": u.input - u.cached, "output_tokens": u.output,
                                "cache_creation_input_tokens": 0, "cache_read_input_tokens": u.cached}
        content, stop = [{"type": "text", "text": text}], "end_turn"
        forced = (body.get("tool_choice") or {}) if isinstance(body, dict) else {}
        if forced.get("type") == "tool":  # the model must call this tool: the scripted JSON is its input
            tools = {t.get("name"): t for t in body.get("tools") or [] if isinstance(t, dict)}
            if forced.get("name") not in tools or not isinstance(tools[forced["name"]].get("input_schema"), dict):
                return web.json_response({"type": "error", "error": {
                    "type": "invalid_request_error", "message": "tool_choice names a tool that is not defined"}},
                    status=400)
            try:
                args = json.loads(text)
            except ValueError:
                args = None
            if isinstance(args, dict):
                content = [{"type": "tool_use", "id": f"toolu_fake{len(self.requests)}", "name": forced["name"],
                            "input": args}]
                stop = "tool_use"
        if b.tools:
            content = [{"type": "tool_use", "id": f"toolu_fake{len(self.requests)}_{i}", "name": name, "input": args}
                       for i, (name, args) in enumerate(b.tools)]
            stop = "tool_use"
        elif forced.get("type") == "any":  # a tool must be called: the scripted JSON is the answer tool's input
            answer = [t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)][-1:]
            try:
                args = json.loads(text)
            except ValueError:
                args = None
            if answer and isinstance(args, dict):
                content, stop = [{"type": "tool_use", "id": f"toolu_fake{len(self.requests)}", "name": answer[0],
                                  "input": args}], "tool_use"
        return web.json_response({
            "id": f"msg_fake{len(self.requests)}", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": None, "usage": usage,
        })

    # --- Gemini -----------------------------------------------------------------------

    async def _gemini(self, request: web.Request) -> web.Response:
        model, _, action = request.match_info["tail"].partition(":")
        key_ok = request.headers.get("x-goog-api-key") == self.keys["gemini"]
        done, b, model, body = await self._serve("gemini", request, model, key_ok)
        if done:
            return done
        if action != "generateContent":
            return web.json_response({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}},
                                     status=404)
        errors = {"400": (400, "INVALID_ARGUMENT", "The input token count exceeds the maximum."),
                  "401": (401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
                  "429": (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
                  "500": (500, "INTERNAL", "An internal error has occurred."),
                  "503": (503, "UNAVAILABLE", "The model is overloaded. Please try again later.")}
        if b.kind in errors:
            status, st, msg = errors[b.kind]
            return web.json_response({"error": {"code": status, "message": msg, "status": st}},
                                     status=status, headers=self._headers(b))
        problem = gemini_schema_problem((body.get("generationConfig") or {}).get("responseSchema"))
        if problem:
            return web.json_response({"error": {"code": 400, "message": f"Invalid JSON payload received. {problem}",
                                                "status": "INVALID_ARGUMENT"}}, status=400)
        problem = gemini_tools_problem(body, b)
        if problem:
            return web.json_response({"error": {"code": 400, "message": problem, "status": "INVALID_ARGUMENT"}},
                                     status=400)
        text = b.text if b.text is not None else f"Hello from {model}."
        u = b.usage or self._default_usage(body, text)
        usage = b.raw_usage or {"promptTokenCount": u.input, "candidatesTokenCount": u.output - u.reasoning,
                                "totalTokenCount": u.input + u.output, "cachedContentTokenCount": u.cached,
                                "thoughtsTokenCount": u.reasoning}
        return web.json_response({
            "candidates": [{"content": {"parts": [{"functionCall": {"name": name, "args": args}} for name, args in b.tools]
                                        if b.tools else [{"text": text}], "role": "model"}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": usage, "modelVersion": model, "responseId": f"fake{len(self.requests)}",
        })


@pytest_asyncio.fixture
async def llm_server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as srv:
        yield srv


# --- helpers for tests that route through the fake ---------------------------------------

ENV = {"TEST_OPENAI_KEY": KEYS["openai"], "TEST_ANTHROPIC_KEY": KEYS["anthropic"], "TEST_GEMINI_KEY": KEYS["gemini"]}


def llm_settings(url: str, *, tiers: dict | None = None, llm: dict | None = None, budgets: dict | None = None):
    """Settings whose catalog points at the fake: cheap = openai, anthropic, gemini; strong = openai."""
    from bot.settings import Settings

    def entry(provider: str, model: str, env: str, base: str, i: float, o: float, c: float) -> dict:
        return {"provider": provider, "model": model, "base_url": base, "api_key_env": env,
                "input_per_mtok": i, "output_per_mtok": o, "cached_input_per_mtok": c}

    return Settings.model_validate({
        "company": {"name": "Acme"},
        "policy": {"rules": [{"name": "all", "route": "human"}]},
        "models": {
            "oa-mini": entry("openai", "gpt-test-mini", "TEST_OPENAI_KEY", url + "/v1", 0.15, 0.60, 0.075),
            "claude-small": entry("anthropic", "claude-test", "TEST_ANTHROPIC_KEY", url, 1.0, 5.0, 0.10),
            "gem-flash": entry("gemini", "gemini-test-flash", "TEST_GEMINI_KEY", url, 0.30, 2.50, 0.075),
            "oa-big": entry("openai", "gpt-test-big", "TEST_OPENAI_KEY", url + "/v1", 2.50, 10.0, 1.25),
        },
        "tiers": tiers or {"cheap": ["oa-mini", "claude-small", "gem-flash"], "strong": ["oa-big"]},
        "llm": {"timeout_s": 5, "connect_timeout_s": 2, "max_retries": 2, "backoff_base_s": 0.5,
                "backoff_max_s": 8, "breaker_failures": 3, "breaker_cooldown_s": 60, **(llm or {})},
        "budgets": budgets or {},
    })


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingSleep:
    """An asyncio.sleep stand-in that records the waits and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest_asyncio.fixture
async def db_sessions(tmp_path) -> AsyncIterator[Any]:
    """An async_sessionmaker on a fresh SQLite file with every table created."""
    from sqlalchemy import event
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from bot.db.models import Base

    engine = create_async_engine("sqlite+aiosqlite:///" + str(tmp_path / "t.db"))

    @event.listens_for(engine.sync_engine, "connect")
    def _no_fsync(dbapi_conn, _record) -> None:  # a throwaway test file: durability buys nothing
        dbapi_conn.execute("PRAGMA synchronous=OFF")
        dbapi_conn.execute("PRAGMA journal_mode=MEMORY")

    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


@pytest_asyncio.fixture
async def http_client() -> AsyncIterator[Any]:
    import httpx

    async with httpx.AsyncClient(trust_env=False) as client:  # no proxies: 127.0.0.1 only
        yield client


def prompt_strings(body: Any, key: str = ""):  # noqa: ANN201 - yields str
    """The prompt text of a request in any of the three wire formats (system + messages)."""
    if isinstance(body, dict):
        for k, v in body.items():
            yield from prompt_strings(v, k)
    elif isinstance(body, list):
        for v in body:
            yield from prompt_strings(v, key)
    elif isinstance(body, str) and key in ("content", "system", "text"):
        yield body
