"""LLM provider faults on every model of every tier: the customer always hears back.

Every request to every model (cheap tier "small" over the OpenAI API, strong tier "big" over the
Anthropic API) fails the same way: a 429 storm, 500s, hangs past the timeout, 200s with a
non-JSON body, or connections reset by the peer (a raw socket server that closes on accept).
Messages exercise each place a model is asked: the cascade's classification (the local model
is unsure of an out-of-scope question), a cheap-LLM answer, a strong-LLM answer and an escalation summary. Each still gets
exactly one reply (an answer from the knowledge base or a handoff), and model_calls records
the failures.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.app import App
from bot.db import models as m
from tests.fakes.llm_servers import KEYS, Behaviour, FakeLLMServer, rate_limited
from tests.helpers import mini_settings
from tests.fakes.doubles import Collect, Scripted
from tests.harness.pipeline import rows, say

MESSAGES = {
    "weather": "what's the weather",  # out of scope: cascade asks the cheap LLM, then a cheap-LLM answer
    "complex": "how do I return this, and what is the difference between a return and an exchange, "
               "which is better for me?",  # strong tier
    "card": "someone used my card!",  # critical: handoff with a summary from the cheap model
}
FAULTS = {
    "429_storm": lambda: rate_limited(0),
    "500": lambda: Behaviour("500"),
    "hang": lambda: Behaviour("hang"),
    "malformed": lambda: Behaviour("malformed"),
    "reset": None,  # served by ResetServer
}


class ResetServer:
    """Accepts a connection, reads a little, and resets it (RST via SO_LINGER 0 on abort)."""

    async def __aenter__(self) -> ResetServer:
        self.connections = 0

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            await reader.read(1)  # bounded: one byte, then the peer hangs up on the client
            writer.transport.abort()

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture(params=list(FAULTS))
async def faulty(request, sqlite_db, monkeypatch):
    monkeypatch.setenv("TEST_KEY_SMALL", KEYS["openai"])
    monkeypatch.setenv("TEST_KEY_BIG", KEYS["anthropic"])
    fault = FAULTS[request.param]
    async with FakeLLMServer() as srv, ResetServer() as reset:
        srv.responder = (lambda provider, model, body: fault()) if fault else None
        base = reset.url if fault is None else srv.url
        settings = mini_settings()
        settings.database.url = sqlite_db
        settings.models["small"].base_url = base + "/v1"
        settings.models["big"].base_url = base
        settings.llm.max_retries = 1  # a retry is made, and fails too
        settings.llm.timeout_s = 0.5  # a hang becomes a timeout quickly
        settings.llm.connect_timeout_s = 0.5
        async with App.open(settings, classifier=Scripted()) as a:
            a.out = Collect()
            a.channels.register(a.out)
            a.fault, a.srv, a.reset = request.param, srv, reset
            yield a


async def test_every_message_gets_a_reply_whatever_the_models_do(faulty):
    app = faulty
    for i, (name, text) in enumerate(MESSAGES.items()):
        before = len(app.out.sent)
        r = await say(app, text, f"e{i}", customer=f"c{i}", thread=f"t{i}")
        assert r is not None, name
        assert len(app.out.sent) == before + 1, f"{app.fault}/{name}: silence"  # never silence, never two
        reply = app.out.sent[-1].text
        assert reply.strip(), name
        assert r.decision.route.value in ("knowledge", "clarify", "human", "template"), (name, r.decision)
    calls = await rows(app, m.ModelCall)
    assert calls, "no model call was recorded"
    assert all(c.outcome != "ok" for c in calls), [(c.model, c.outcome) for c in calls]
    assert {c.model for c in calls} == {"small", "big"}  # both tiers were tried
    assert {c.purpose for c in calls} >= {"classify", "answer"}
    assert all(c.error for c in calls)  # the failure is on record
    events = await rows(app, m.InboxEvent)
    assert [e.status for e in events] == ["done"] * len(MESSAGES)
    if app.fault == "reset":
        assert app.reset.connections > 0
    else:
        assert app.srv.requests
