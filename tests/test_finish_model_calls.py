"""Model calls are written in the finish transaction of the message they were made for (issue 16).

A call made while a message is handled is held, then stored with the outcome; when the outcome is
dropped (another worker finished the event) the held calls are still recorded on their own; a
call for another message is written at once. Both engines.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, update

from bot.db import store as store_mod
from bot.db.engine import make_engine, session_factory
from bot.db.models import InboxEvent, ModelCall
from bot.db.store import AlreadyHandled, Store, hold_model_call, write_held_calls
from bot.messages import Outcome
from bot.runtime.inbox import Inbox
from bot.messages import Decision, InboundMessage, Route, Signals, utcnow


@pytest.fixture
async def sessions(db_url):
    engine = make_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


def call(message_id: int | None, model: str = "m") -> dict:
    return dict(conversation_id=None, message_id=message_id, purpose="answer", provider="openai", model=model,
                tier="cheap", input_tokens=1, output_tokens=1, cached_tokens=0, reasoning_tokens=0, cost_usd=0.001,
                latency_ms=1.0, outcome="ok", error=None, created_at=utcnow())


async def calls(sessions) -> list[tuple[int | None, str]]:  # noqa: ANN001
    async with sessions() as s:
        return [(r.message_id, r.model) for r in (await s.scalars(select(ModelCall).order_by(ModelCall.id))).all()]


def msg(text: str) -> InboundMessage:
    return InboundMessage(channel="test", customer_id="c1", text=text, conversation_key="t1")


OUT = Outcome(Decision(Route.TEMPLATE, "canned", "test"), Signals())


async def test_calls_of_the_message_are_written_with_its_outcome(sessions):
    store, inbox = Store(sessions), Inbox(sessions)
    ev = await inbox.accept(msg("hi"), "e1")
    await inbox.claim("w")

    async def handle() -> int:
        begun = await store.start(msg("hi"), ev)
        mid = begun.message_id
        await asyncio.create_task(_held_in_subtask(mid))  # a model call in a sub-task
        assert hold_model_call(mid, call(mid, "second"))
        assert not hold_model_call(mid + 1000, call(None, "elsewhere"))  # not this message: the caller writes it
        assert await calls(sessions) == []  # nothing written before the finish transaction
        await store.finish(begun.conversation, mid, ev, OUT)
        return mid

    mid = await asyncio.create_task(handle())
    assert await calls(sessions) == [(mid, "first"), (mid, "second")]
    async with sessions() as s:
        assert (await s.scalar(select(InboxEvent.status).where(InboxEvent.id == ev))) == "done"


async def _held_in_subtask(mid: int) -> None:
    assert hold_model_call(mid, call(mid, "first"))


async def test_calls_of_a_dropped_outcome_are_still_recorded(sessions):
    store, inbox = Store(sessions), Inbox(sessions)
    ev = await inbox.accept(msg("hi"), "e1")
    await inbox.claim("w")

    async def handle() -> int:
        begun = await store.start(msg("hi"), ev)
        hold_model_call(begun.message_id, call(begun.message_id))
        async with sessions.begin() as s:  # another worker finished the event meanwhile
            await s.execute(update(InboxEvent).where(InboxEvent.id == ev).values(status="done"))
        with pytest.raises(AlreadyHandled):
            await store.finish(begun.conversation, begun.message_id, ev, OUT)
        assert await calls(sessions) == []  # the finish transaction rolled back
        assert await write_held_calls(sessions) == 1
        assert await write_held_calls(sessions) == 0  # written once
        return begun.message_id

    mid = await asyncio.create_task(handle())
    assert await calls(sessions) == [(mid, "m")]
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(ModelCall)) == 1
    assert store_mod.held_calls() == []  # this task never handled a message
