"""The inbox: platform events are stored here before they are acknowledged.

`accept` persists an event and deduplicates on (channel, external id): a redelivered event
is recognised, never handled twice. `claim` hands the oldest ready event to a worker under a
lease; events of one conversation are handed out strictly in order, one at a time. The lease
is short (worker.lease_seconds) and kept alive by the worker's heartbeat (`extend_many`); an
event whose worker died becomes claimable again when its lease expires, or at once when the
process comes back under the same identity (`take_back`).
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import asdict
from datetime import datetime, timedelta
from collections import Counter
from typing import NamedTuple, Protocol

from sqlalchemy import (ColumnElement, FromClause, Insert, SQLColumnExpression, String, Update, and_, bindparam, case,
                        exists, func, literal, null, or_, select, update)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cards import mask_card_numbers
from bot.db.engine import retry_on_disconnect, rows_affected
from bot.db.models import InboxEvent, JsonObject, table
from bot.messages import InboundMessage, utcnow

MAX_ATTEMPTS = 5
LEASE_SECONDS = 15.0  # worker.lease_seconds: renewed by the heartbeat every third of it
# lone UTF-16 surrogates (a JSON body may carry "\ud800") cannot be encoded as UTF-8, and PostgreSQL
# text cannot hold NUL: both would make storing fail forever, so they become U+FFFD on the way in
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> str:
    return UNSTORABLE.sub("\ufffd", text)


def storable(value: object) -> object:
    """A str, or a JSON-like value holding strings (a tuple becomes a list), with every string storable."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value


def to_payload(msg: InboundMessage) -> JsonObject:
    data: JsonObject = {storable_text(k): storable(v) for k, v in asdict(msg).items()}
    data["text"] = mask_card_numbers(data["text"])  # a full card number is never stored: "•••• 4242"
    data["received_at"] = msg.received_at.isoformat()
    return data


def from_payload(payload: JsonObject) -> InboundMessage:
    data = dict(payload)
    data["received_at"] = datetime.fromisoformat(data["received_at"])
    return InboundMessage(**data)


EVENTS = table(InboxEvent)


@functools.cache
def _accept_statement(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT (channel, external_id) DO NOTHING RETURNING id: None for a redelivery."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(EVENTS).on_conflict_do_nothing(index_elements=["channel", "external_id"]).returning(EVENTS.c.id)


@functools.cache
def _handover_statement(dialect: str) -> Insert:
    """The accept statement that also leases the event to a local worker (attempt 1), unless an earlier
    event of its conversation is unfinished: then it is stored pending, as `_accept_statement` would.

    RETURNING id and status ("processing": handed over; "pending": the claim path takes it)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    earlier = EVENTS.alias("earlier")
    blocked = exists().where(earlier.c.thread_key == bindparam("thread_key"),
                             earlier.c.status.in_(("pending", "processing")))
    until = bindparam("until", type_=EVENTS.c.locked_until.type)
    return (insert(EVENTS).values(
        channel=bindparam("channel"), external_id=bindparam("external_id"), thread_key=bindparam("thread_key"),
        payload=bindparam("payload", type_=EVENTS.c.payload.type), received_at=bindparam(
            "received_at", type_=EVENTS.c.received_at.type),
        status=case((blocked, literal("pending")), else_=literal("processing")),
        attempts=case((blocked, literal(0)), else_=literal(1)),
        locked_by=case((blocked, null()), else_=bindparam("worker", type_=String)),
        locked_until=case((blocked, null()), else_=until))
        .on_conflict_do_nothing(index_elements=["channel", "external_id"])
        .returning(EVENTS.c.id, EVENTS.c.status))


@functools.cache
def _claim_statement(dialect: str) -> Update:
    """UPDATE ... RETURNING that leases the oldest ready events, at most one per conversation.

    Built once per dialect with bound parameters (now, limit, worker, until): building and
    caching such a statement on every claim cost more CPU than running it. A materialised CTE,
    not `id IN (subquery)`: PostgreSQL may re-run such a subquery and then update more rows than
    LIMIT allows (seen here: a claim of 1 took 2 events). On PostgreSQL the candidates are locked
    with SKIP LOCKED, so concurrent claimers take different events and never wait on each other.
    """
    now = bindparam("now", type_=EVENTS.c.locked_until.type)

    def ready(t: FromClause) -> ColumnElement[bool]:  # the table or an alias of it
        return or_(t.c.status == "pending", and_(t.c.status == "processing", t.c.locked_until < now))

    cand, earlier = EVENTS.alias("cand"), EVENTS.alias("earlier")
    blocked = exists().where(earlier.c.thread_key == cand.c.thread_key, earlier.c.id < cand.c.id,
                             earlier.c.status.in_(("pending", "processing")))
    candidates = select(cand.c.id).where(ready(cand), ~blocked).order_by(cand.c.id).limit(bindparam("limit"))
    if dialect == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    chosen = candidates.cte("chosen").prefix_with("MATERIALIZED")
    return (update(EVENTS).where(EVENTS.c.id == chosen.c.id, ready(EVENTS))
            .values(status="processing", locked_by=bindparam("worker"), attempts=EVENTS.c.attempts + 1,
                    locked_until=bindparam("until", type_=EVENTS.c.locked_until.type))
            .returning(EVENTS.c.id, EVENTS.c.payload, EVENTS.c.attempts, EVENTS.c.thread_key, EVENTS.c.locked_by))


EXTEND = (update(EVENTS)
          .where(EVENTS.c.id == bindparam("event_id"), EVENTS.c.status == "processing",
                 EVENTS.c.locked_by == bindparam("worker"))
          .values(locked_until=bindparam("until", type_=EVENTS.c.locked_until.type)))


EXTEND_MANY = (update(EVENTS)
               .where(EVENTS.c.id.in_(bindparam("ids", expanding=True)), EVENTS.c.status == "processing",
                      EVENTS.c.locked_by == bindparam("worker"))
               .values(locked_until=bindparam("until", type_=EVENTS.c.locked_until.type))
               .returning(EVENTS.c.id))


def held_by(column: SQLColumnExpression[str | None], identity: str) -> ColumnElement[bool]:
    """Rows locked by this process identity or by one of its workers ("identity/1", "identity/2"...)."""
    prefix = identity + "/"  # substr, not LIKE: SQLite's LIKE ignores case, and no wildcard to escape
    return or_(column == identity, func.substr(column, 1, len(prefix)) == prefix)


# a transaction-scoped lock per conversation (PostgreSQL), held from before the id is drawn to commit
THREAD_LOCK = select(func.pg_advisory_xact_lock(func.hashtext(bindparam("thread_key", type_=String))))


class ClaimedEvent(NamedTuple):
    """An event leased to a worker (a row of the claim's RETURNING)."""

    id: int
    payload: JsonObject  # to_payload of the InboundMessage
    attempts: int  # this claim included
    thread_key: str
    locked_by: str | None


class Taker(Protocol):
    """A local worker that takes a just-stored event by id (bot/runtime/worker.py's Worker)."""

    name: str
    lease_seconds: float

    def free_slots(self) -> int: ...

    def reserve(self) -> None: ...

    def unreserve(self) -> None: ...

    def take(self, event: ClaimedEvent) -> None: ...


class Inbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions
        self.arrived = asyncio.Event()  # set when an event may be ready for a claim (stored pending here, handed back)
        self.takers: list[Taker] = []  # the running workers of this process (Worker.run registers)
        self.in_hand: Counter[str] = Counter()  # thread keys of the events this process's workers handle
        self.waiting_here: set[str] = set()  # thread keys of events stored pending behind one in hand here
        # events stored pending here for want of a free slot and not claimed yet: until a claim drains
        # them, new events queue behind them (no hand-over), so under load the oldest goes first
        self.queueing = False
        self.stored_pending = 0  # how many events were stored pending here (a claim compares it)

    def let_go(self, thread_key: str) -> None:
        """A worker of this process is done with an event of this conversation (Worker.handle)."""
        self.in_hand[thread_key] -= 1
        if self.in_hand[thread_key] > 0:
            return
        del self.in_hand[thread_key]
        if thread_key in self.waiting_here:
            self.waiting_here.discard(thread_key)
            self.arrived.set()  # its next event, stored while this one was in hand, is ready now

    def _taker(self, thread_key: str) -> Taker | None:
        """A local worker with a free slot, reserved for this event; None when all are busy or none runs,
        or the conversation has an event in hand here (it would be stored pending anyway)."""
        if self.queueing or thread_key in self.in_hand or not self.takers:
            return None
        taker = max(self.takers, key=lambda t: t.free_slots())
        if taker.free_slots() <= 0:
            return None
        taker.reserve()
        return taker

    async def accept(self, msg: InboundMessage, external_id: str) -> int | None:
        """Store the event; its id, or None when (channel, external_id) was seen before.

        Handed over by id to an idle local worker when there is one (see the module's docstring)."""
        thread_key = storable_text(f"{msg.channel}:{msg.thread}")
        payload = to_payload(msg)
        values: dict[str, object] = dict(channel=msg.channel, external_id=storable_text(external_id),
                                         thread_key=thread_key, payload=payload, received_at=utcnow())
        taker = self._taker(thread_key)
        if taker is None:
            values.update(status="pending", attempts=0)
        else:
            values.update(worker=taker.name, until=utcnow() + timedelta(seconds=taker.lease_seconds))
        try:
            row = await retry_on_disconnect(lambda: self._store(values, handover=taker is not None))
        except BaseException:
            if taker is not None:
                taker.unreserve()
            raise
        handed = row is not None and row[1] == "processing"
        if taker is not None:
            if handed and row is not None:
                taker.take(ClaimedEvent(row[0], payload, 1, thread_key, taker.name))
            else:
                taker.unreserve()
        if row is not None and not handed:
            if thread_key in self.in_hand:  # behind an event of its conversation in hand here: claimed when
                self.waiting_here.add(thread_key)  # that one is finished (Worker.handle), not before
            else:
                self.arrived.set()  # stored pending: a claim may take it now
                self.stored_pending += 1
                self.queueing = self.queueing or taker is None
        return row[0] if row is not None else None

    async def _store(self, values: dict[str, object], *, handover: bool) -> tuple[int, str] | None:
        async with self.sessions.begin() as s:
            dialect = s.get_bind().dialect.name
            if dialect == "postgresql":
                # one conversation's events get ids in the order they commit: two accepted at once
                # could otherwise commit out of id order, and a claim in between would hand out the
                # later one first (SQLite has one writer, so its ids already commit in order)
                await s.execute(THREAD_LOCK, {"thread_key": values["thread_key"]})
            if handover:
                row = (await s.execute(_handover_statement(dialect), values)).first()
                return (int(row[0]), str(row[1])) if row is not None else None
            event_id: int | None = await s.scalar(_accept_statement(dialect), values)
            return (event_id, "pending") if event_id is not None else None

    async def claim(self, worker: str, lease_seconds: float = LEASE_SECONDS) -> ClaimedEvent | None:
        """Lease the oldest ready event whose conversation has nothing earlier unfinished."""
        claimed = await self.claim_many(worker, 1, lease_seconds)
        return claimed[0] if claimed else None

    async def claim_many(self, worker: str, limit: int, lease_seconds: float = LEASE_SECONDS) -> list[ClaimedEvent]:
        """Lease up to `limit` ready events in one statement, oldest first, at most one per conversation.

        An event is ready when pending (or its lease expired) and nothing earlier of its conversation
        is unfinished, so a conversation's messages are handed out one at a time, in order.
        """
        async def claim() -> list[ClaimedEvent]:
            now = utcnow()
            async with self.sessions.begin() as s:
                won = (await s.execute(_claim_statement(s.get_bind().dialect.name), dict(
                    now=now, limit=limit, worker=worker, until=now + timedelta(seconds=lease_seconds)))).all()
            return sorted((ClaimedEvent(*e) for e in won), key=lambda e: e.id)

        return await retry_on_disconnect(claim)

    async def release_all(self) -> int:
        """Hand back every leased event (only safe when no other process can hold one: SQLite)."""
        async with self.sessions.begin() as s:
            done = await s.execute(update(InboxEvent).where(InboxEvent.status == "processing")
                                   .values(status="pending", locked_until=None, locked_by=None))
        return rows_affected(done)

    async def take_back(self, identity: str) -> int:
        """At start: hand back at once what this process identity's previous life held (it was killed).

        Only safe because no live process shares the identity (see worker_identity)."""
        async with self.sessions.begin() as s:
            done = await s.execute(update(InboxEvent).where(InboxEvent.status == "processing",
                                                            held_by(InboxEvent.locked_by, identity))
                                   .values(status="pending", locked_until=None, locked_by=None))
        return rows_affected(done)

    async def fail(self, event_id: int, error: str, attempts: int, worker: str | None = None) -> None:
        """Give the event back for a retry, or park it as failed after MAX_ATTEMPTS.

        With `worker`, only while that worker still holds it: an event another worker took over
        (its lease expired) or finished is not handed back by the one that lost it."""
        status = "failed" if attempts >= MAX_ATTEMPTS else "pending"
        held = (InboxEvent.status == "processing", InboxEvent.locked_by == worker) if worker else ()
        async with self.sessions.begin() as s:
            await s.execute(update(InboxEvent).where(InboxEvent.id == event_id, *held)
                            .values(status=status, error=error[:2000], locked_until=None, locked_by=None))
        if status == "pending":
            self.arrived.set()  # ready for its retry (and the conversation's next waits behind it)

    async def extend(self, event_id: int, worker: str, lease_seconds: float) -> bool:
        """Renew the lease of an event this worker is still handling; False when it no longer holds it."""
        async with self.sessions.begin() as s:
            done = await s.execute(EXTEND, dict(event_id=event_id, worker=worker,
                                                until=utcnow() + timedelta(seconds=lease_seconds)))
        return rows_affected(done) == 1

    async def extend_many(self, event_ids: list[int], worker: str, lease_seconds: float) -> set[int]:
        """Renew the leases of the events this worker handles in one statement; the ids it still holds."""
        if not event_ids:
            return set()
        async with self.sessions.begin() as s:
            kept = await s.scalars(EXTEND_MANY, dict(ids=list(event_ids), worker=worker,
                                                     until=utcnow() + timedelta(seconds=lease_seconds)))
            return set(kept)

    async def backlog(self) -> int:
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(InboxEvent)
                                      .where(InboxEvent.status.in_(("pending", "processing")))) or 0)
