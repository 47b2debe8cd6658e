"""Abuse limits (issue 14): browser chat posts and event streams, model calls per customer."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.db import models as m
from bot.db.models import InboxEvent
from bot.llm.types import Spend, TierUnavailable
from bot.settings import ConfigError, load_settings
from tests.fakes.llm_servers import (  # noqa: F401 - fixtures
    KEYS, db_sessions, http_client, llm_server, ok,
)
from tests.helpers import mini_settings
from tests.service_harness import running_service
from tests.harness.llm_router import REQ, make_router
from tests.fakes.doubles import Scripted
from tests.harness.pipeline import rows, say
from tests.harness.llm_app import llm_app

COMPLEX = ("how do I return this, and what is the difference between a return and an exchange, "
           "which is better for me?")  # the mini policy sends it to the strong tier


def ident() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def service(sqlite_db):
    settings = mini_settings()
    settings.database.url = sqlite_db
    settings.rate_limits = settings.rate_limits.model_copy(update={
        "chat_posts_per_visitor": "3/minute", "chat_posts_per_address": "5/minute",
        "chat_streams_per_visitor": 3, "chat_streams_total": 5, "chat_history_per_address": "4/minute"})
    async with running_service(settings, {}, classifier=Scripted()) as svc:
        async with aiohttp.ClientSession() as http:
            svc.http = http
            yield svc


async def post(svc, visitor: str, text: str = "hello") -> aiohttp.ClientResponse:  # noqa: ANN001
    async with svc.http.post(f"{svc.url}/chat/messages", json={"visitor": visitor, "id": ident(), "text": text}) as r:
        await r.read()
        return r


async def test_posts_over_the_visitor_limit_get_429_with_retry_after(service):
    visitor = ident()
    statuses = [(await post(service, visitor)).status for _ in range(3)]
    over = await post(service, visitor)
    assert statuses == [202, 202, 202] and over.status == 429
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert (await post(service, ident())).status == 202  # another visitor is not held back
    async with service.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(InboxEvent)) == 4  # the refused one is not stored


async def test_posts_over_the_address_limit_get_429_whatever_the_visitor(service):
    statuses = [(await post(service, ident())).status for _ in range(5)]
    over = await post(service, ident())
    assert statuses == [202] * 5 and over.status == 429 and int(over.headers["Retry-After"]) >= 1
    async with service.http.post(f"{service.url}/chat/messages", data=b"not json",
                                 headers={"Content-Type": "application/json"}) as r:
        assert r.status == 429  # counted before the body is read: a flood of garbage is limited too


async def test_history_reads_over_the_address_limit_get_429(service):
    """/chat/history is a database read per request: limited per client address like the posts."""
    statuses = []
    for _ in range(5):
        async with service.http.get(f"{service.url}/chat/history", params={"visitor": ident()}) as r:
            await r.read()
            statuses.append((r.status, r.headers.get("Retry-After")))
    assert [s for s, _ in statuses[:4]] == [200] * 4
    assert statuses[4][0] == 429 and int(statuses[4][1]) >= 1


async def test_the_fourth_event_stream_of_a_visitor_is_refused(service):
    visitor = ident()
    async with AsyncExitStack() as open_streams:
        for _ in range(3):
            r = await open_streams.enter_async_context(
                service.http.get(f"{service.url}/chat/events", params={"visitor": visitor}))
            assert r.status == 200
            await r.content.readline()  # ": connected"
        async with service.http.get(f"{service.url}/chat/events", params={"visitor": visitor}) as fourth:
            assert fourth.status == 429 and int(fourth.headers["Retry-After"]) >= 1
        r = await open_streams.enter_async_context(  # others still get theirs, up to the overall cap (5)
            service.http.get(f"{service.url}/chat/events", params={"visitor": ident()}))
        assert r.status == 200
        await r.content.readline()
        r = await open_streams.enter_async_context(
            service.http.get(f"{service.url}/chat/events", params={"visitor": ident()}))
        assert r.status == 200
        await r.content.readline()
        async with service.http.get(f"{service.url}/chat/events", params={"visitor": ident()}) as sixth:
            assert sixth.status == 429 and "Retry-After" in sixth.headers
    # closed streams free their places (the server notices the disconnect when it next writes or reads)


async def test_the_customer_llm_limit_stops_the_router_before_any_request(llm_server, http_client, db_sessions):
    router = make_router(llm_server, http_client, db_sessions)
    router.per_customer = router.settings.rate_limits.model_copy(
        update={"llm_calls_per_customer": "2/hour"}).item("llm_calls_per_customer")
    for _ in range(2):
        await router.complete("cheap", REQ, purpose="answer", spend=Spend(customer=7))
    with pytest.raises(TierUnavailable) as e:
        await router.complete("cheap", REQ, purpose="answer", spend=Spend(customer=7))
    assert e.value.rate_limited and not e.value.budget_blocked
    assert len(llm_server.requests_for("gpt-test-mini")) == 2  # the third call was never made
    await router.complete("cheap", REQ, purpose="answer", spend=Spend(customer=8))  # another customer: fine
    await router.complete("cheap", REQ, purpose="answer")  # no customer (eval, replay): no per-customer cap
    assert len(llm_server.requests_for("gpt-test-mini")) == 4
    async with db_sessions() as s:
        kinds = (await s.scalars(select(m.GuardrailEvent.kind))).all()
    assert kinds == ["llm_rate_limited"]


@pytest.fixture
async def app(db_url, llm_server, monkeypatch):  # noqa: F811
    def two_calls(settings) -> None:  # noqa: ANN001
        settings.rate_limits.llm_calls_per_customer = "2/hour"

    async with llm_app(db_url, llm_server, monkeypatch, two_calls) as a:
        yield a


async def test_a_customer_flooding_a_channel_gets_no_more_model_calls(app):
    answer = ok(json.dumps({"answer": "The Trail 4 is roomier; the Summit 2 is lighter.", "confidence": 0.95}))
    app.llm.script("big", answer, answer, answer, answer)
    results = [await say(app, COMPLEX, f"e{i}", customer="flood", thread="flood") for i in range(3)]
    assert [r.decision.route.value for r in results[:2]] == ["strong_llm", "strong_llm"]
    third = results[2]
    assert third.decision.degraded_from.value == "strong_llm" and "LLM call limit" in third.decision.reason
    assert len(app.llm.requests_for("big")) == 2  # the third message cost nothing
    assert app.out.sent[-1].text  # the customer still hears back (the policy's degrade_to)
    other = await say(app, COMPLEX, "o1", customer="calm", thread="calm")
    assert other.decision.route.value == "strong_llm" and len(app.llm.requests_for("big")) == 3
    assert [g.kind for g in await rows(app, m.GuardrailEvent) if g.kind == "llm_rate_limited"] == ["llm_rate_limited"]


def test_rate_limits_are_settings_with_checked_rates(tmp_path):
    s = mini_settings().rate_limits
    assert (s.chat_posts_per_visitor, s.chat_posts_per_address, s.chat_streams_per_visitor, s.chat_streams_total,
            s.llm_calls_per_customer) == ("10/minute", "60/minute", 3, 500, "30/hour")
    cfg = tmp_path / "supportbot.yaml"
    mini = mini_settings()
    cfg.write_text(f"company: {{name: X}}\nintents_file: {mini.path(mini.intents_file)}\n"
                   "policy: {rules: [{name: all, route: human}]}\n"
                   "rate_limits: {chat_posts_per_visitor: lots}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    assert e.value.key == "rate_limits.chat_posts_per_visitor" and "'10/minute'" in e.value.reason
