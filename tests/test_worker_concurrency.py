"""One worker handles several conversations at once, never two messages of one conversation.

Both engines. The orchestrator is the real one; a gate in front of it holds every message until
as many as the worker may handle at once have arrived, so the test sees the overlap by events
(who is inside), not by timing.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.app import App
from bot.db import models as m
from bot.messages import InboundMessage
from tests.helpers import mini_settings
from tests.service_harness import wait_until
from tests.fakes.doubles import Collect, Scripted

CONCURRENCY = 3


@pytest.fixture
async def app(db_url, monkeypatch):
    monkeypatch.delenv("TEST_KEY_SMALL", raising=False)
    monkeypatch.delenv("TEST_KEY_BIG", raising=False)
    settings = mini_settings()
    settings.database.url = db_url
    settings.worker.concurrency = CONCURRENCY
    async with App.open(settings, classifier=Scripted()) as a:
        a.out = Collect()
        a.channels.register(a.out)
        yield a


async def test_several_conversations_at_once_each_in_order(app):
    inside: set[str] = set()  # threads being handled right now
    seen_together, order = [0], []
    gate = asyncio.Event()
    real = app.orchestrator.handle

    async def gated(msg: InboundMessage, event_id: int | None = None):  # noqa: ANN202
        assert msg.thread not in inside, "two messages of one conversation handled at once"
        inside.add(msg.thread)
        seen_together[0] = max(seen_together[0], len(inside))
        if len(inside) == CONCURRENCY:
            gate.set()  # the worker filled every slot: let them all go
        try:
            await gate.wait()
            order.append(msg.text)
            return await real(msg, event_id)
        finally:
            inside.discard(msg.thread)

    app.orchestrator.handle = gated
    texts = []
    for i in range(2 * CONCURRENCY):  # two messages in each of CONCURRENCY + 2 conversations, interleaved
        for t in range(CONCURRENCY + 2):
            text = f"hello {t}-{i}"
            texts.append(text)
            await app.inbox.accept(InboundMessage(channel="test", customer_id=f"c{t}", text=text,
                                                  conversation_key=f"t{t}"), f"e{t}-{i}")
    stop = asyncio.Event()
    task = asyncio.create_task(app.worker.run(stop, idle=0.05))
    try:
        await wait_until(lambda: len(order) == len(texts), timeout=30)
    finally:
        stop.set()
        await task
    assert seen_together[0] == CONCURRENCY  # it used every slot, and never more
    for t in range(CONCURRENCY + 2):  # each conversation's messages in the order they came
        assert [x for x in order if x.startswith(f"hello {t}-")] == [f"hello {t}-{i}" for i in range(2 * CONCURRENCY)]
    async with app.sessions() as s:
        statuses = (await s.scalars(select(m.InboxEvent.status))).all()
    assert statuses == ["done"] * len(texts)


async def test_stopping_finishes_the_messages_in_hand(app):
    entered = asyncio.Event()
    release = asyncio.Event()
    real = app.orchestrator.handle

    async def slow(msg: InboundMessage, event_id: int | None = None):  # noqa: ANN202
        entered.set()
        await release.wait()
        return await real(msg, event_id)

    app.orchestrator.handle = slow
    await app.inbox.accept(InboundMessage(channel="test", customer_id="c", text="hello", conversation_key="t"), "e1")
    stop = asyncio.Event()
    task = asyncio.create_task(app.worker.run(stop, idle=0.05))
    await entered.wait()
    stop.set()  # asked to stop while a message is in hand
    release.set()
    await task
    async with app.sessions() as s:
        assert (await s.scalar(select(m.InboxEvent.status))) == "done"


async def test_a_slow_message_keeps_its_lease_and_a_lost_lease_writes_nothing(app):
    """The worker renews the lease while it handles; if it still loses the event (e.g. it was
    paused past the lease), the worker that took over answers and the slow one writes nothing."""
    from bot.runtime.worker import Worker

    await app.inbox.accept(InboundMessage(channel="test", customer_id="c", text="hello", conversation_key="t"), "e1")
    slow = Worker(app.inbox, app.orchestrator, name="slow", lease_seconds=0.3)
    event = await app.inbox.claim("slow", lease_seconds=0.3)
    renewed = asyncio.Event()
    real_extend = app.inbox.extend_many

    async def extend(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        ok = await real_extend(*args, **kwargs)
        renewed.set()
        return ok

    app.inbox.extend_many = extend
    release = asyncio.Event()
    real = app.orchestrator.handle

    async def held(msg: InboundMessage, event_id: int | None = None):  # noqa: ANN202
        await release.wait()
        return await real(msg, event_id)

    app.orchestrator.handle = held
    task = asyncio.create_task(slow.handle(event))
    await renewed.wait()  # the heartbeat renewed the lease while the message was held
    assert await app.inbox.claim("other") is None  # so nobody else could take it
    async with app.sessions.begin() as s:  # now it is lost anyway: the lease runs out, another worker takes over
        await s.execute(m.InboxEvent.__table__.update().values(locked_by="gone"))
    app.inbox.extend_many = real_extend
    async with app.sessions.begin() as s:
        await s.execute(m.InboxEvent.__table__.update().values(locked_until=m.InboxEvent.received_at))
    app.orchestrator.handle = real
    other = Worker(app.inbox, app.orchestrator, name="other")
    assert (await other.process_next())[1].reply is not None  # the new holder answers
    release.set()
    assert await task is None  # the slow one finds it handled: nothing written, nothing handed back
    async with app.sessions() as s:
        assert (await s.scalars(select(m.InboxEvent.status))).all() == ["done"]
        assert len((await s.scalars(select(m.OutboxMessage.id))).all()) == 1  # one reply
        assert len((await s.scalars(select(m.RouteDecision.id))).all()) == 1
