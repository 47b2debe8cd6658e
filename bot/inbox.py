"""The inbox: platform events are stored here before they are acknowledged.

`accept` persists an event and deduplicates on (channel, external id): a redelivered event
is recognised, never handled twice. `claim` hands the oldest ready event to a worker under a
lease; events of one conversation are handed out strictly in order, one at a time, and an
event whose worker died becomes claimable again when its lease expires.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.db.models import InboxEvent
from bot.messages import InboundMessage, utcnow

MAX_ATTEMPTS = 5
# lone UTF-16 surrogates (a JSON body may carry "\ud800") cannot be encoded as UTF-8, and PostgreSQL
# text cannot hold NUL: both would make storing fail forever, so they become U+FFFD on the way in
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value):  # noqa: ANN001, ANN201 - str, or any JSON-like value holding strings
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value


def to_payload(msg: InboundMessage) -> dict:
    data = storable(asdict(msg))
    data["received_at"] = msg.received_at.isoformat()
    return data


def from_payload(payload: dict) -> InboundMessage:
    data = dict(payload)
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    return InboundMessage(**data)


class Inbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions
        self.arrived = asyncio.Event()  # set when this process accepts an event

    async def accept(self, msg: InboundMessage, external_id: str) -> int | None:
        """Store the event; its id, or None when (channel, external_id) was seen before."""
        values = dict(channel=msg.channel, external_id=storable(external_id),
                      thread_key=storable(f"{msg.channel}:{msg.thread}"), payload=to_payload(msg),
                      status="pending", attempts=0, received_at=utcnow())
        async with self.sessions.begin() as s:
            dialect = s.bind.dialect.name
            insert = pg_insert if dialect == "postgresql" else sqlite_insert
            stmt = insert(InboxEvent).values(**values).on_conflict_do_nothing(
                index_elements=["channel", "external_id"]).returning(InboxEvent.id)
            event_id = await s.scalar(stmt)
        if event_id is not None:
            self.arrived.set()
        return event_id

    async def claim(self, worker: str, lease_seconds: float = 120.0) -> InboxEvent | None:
        """Lease the oldest ready event whose conversation has nothing earlier unfinished."""
        now = utcnow()
        earlier = aliased(InboxEvent)
        ready = or_(InboxEvent.status == "pending",
                    and_(InboxEvent.status == "processing", InboxEvent.locked_until < now))
        blocked = exists().where(earlier.thread_key == InboxEvent.thread_key, earlier.id < InboxEvent.id,
                                 earlier.status.in_(("pending", "processing")))
        async with self.sessions.begin() as s:
            for candidate in (await s.scalars(
                    select(InboxEvent.id).where(ready, ~blocked).order_by(InboxEvent.id).limit(5))).all():
                won = await s.execute(
                    update(InboxEvent)
                    .where(InboxEvent.id == candidate, ready)
                    .values(status="processing", locked_by=worker, attempts=InboxEvent.attempts + 1,
                            locked_until=now + timedelta(seconds=lease_seconds)))
                if won.rowcount == 1:
                    return await s.get(InboxEvent, candidate)
        return None

    async def release_all(self) -> int:
        """Hand back every leased event (only safe when no other process can hold one: SQLite)."""
        async with self.sessions.begin() as s:
            done = await s.execute(update(InboxEvent).where(InboxEvent.status == "processing")
                                   .values(status="pending", locked_until=None, locked_by=None))
        return done.rowcount

    async def fail(self, event_id: int, error: str, attempts: int) -> None:
        """Give the event back for a retry, or park it as failed after MAX_ATTEMPTS."""
        status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
        async with self.sessions.begin() as s:
            await s.execute(update(InboxEvent).where(InboxEvent.id == event_id)
                            .values(status=status, error=error[:2000], locked_until=None, locked_by=None))

    async def backlog(self) -> int:
        from sqlalchemy import func

        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(InboxEvent)
                                      .where(InboxEvent.status.in_(("pending", "processing")))) or 0)
