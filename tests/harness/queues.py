"""Rows of the inbox and the outbox for the queue tests: `_queue_many` (outbox rows queued in order,
one conversation per thread), `_registry` (a ChannelRegistry of one channel), and `event` / `row`
(an inbox event or outbox row read back by id), `aware` (SQLite's naive UTC made aware)."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.app import App
from bot.db import models as m
from bot.db.models import Conversation, Customer, OutboxMessage
from bot.runtime.channel import ChannelRegistry


def _registry(channel) -> ChannelRegistry:  # noqa: ANN001
    reg = ChannelRegistry()
    reg.register(channel)
    return reg


async def _queue_many(sessions, rows: list[tuple[str, str]]) -> dict[str, int]:  # noqa: ANN001
    """(thread, text) rows queued in this order, one conversation per thread; text -> row id."""
    out, convs = {}, {}
    async with sessions.begin() as s:
        cust = Customer(channel="test", external_id="c1")
        s.add(cust)
        await s.flush()
        for thread, text in rows:
            if thread not in convs:
                convs[thread] = Conversation(customer_id=cust.id, channel="test", thread_key=thread)
                s.add(convs[thread])
                await s.flush()
            row = OutboxMessage(idempotency_key=f"k-{text}", channel="test", conversation_id=convs[thread].id,
                                text=text, recipient={"customer_id": "c1", "conversation_key": thread})
            s.add(row)
            await s.flush()
            out[text] = row.id
    return out


def aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)  # SQLite gives naive UTC back


async def event(app: App, event_id: int) -> m.InboxEvent:
    async with app.sessions() as s:
        return await s.get(m.InboxEvent, event_id)


async def row(app: App, row_id: int) -> m.OutboxMessage:
    async with app.sessions() as s:
        return await s.get(m.OutboxMessage, row_id)
