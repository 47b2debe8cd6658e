"""In-process hand-overs (issue 16), both engines: an event stored while a local worker has a free
slot is stored leased to it and handed over by id, and the reply it produces is stored leased to
the local outbox and sent at once: no claim either way. Every guarantee of the claim path holds:

- one conversation is handled one message at a time, in order (later messages wait, stored
  pending, and are claimed when the earlier one is finished: woken by that, not by a poll);
- a busy worker leaves the event to the claim path;
- a handed-over event or reply is stored and leased like a claimed one, so a process killed right
  after the hand-over loses nothing: its restart takes both back, another process takes them
  after the lease;
- a reply behind an unsent earlier reply of its conversation waits for the claim.

The worker and the outbox poll once an hour here, so whatever reaches them after their first pass
reached them by an event. No fixed sleeps: the tests wait on predicates.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator

from bot.app import App
from bot.db import models as m
from bot.messages import InboundMessage
from bot.runtime.inbox import ClaimedEvent
from bot.runtime.outbox import Outbox
from bot.runtime.worker import Worker
from tests.service_harness import wait_until
from tests.harness.queues import aware, event, row
from tests.harness.pipeline import app  # noqa: F401 - the app fixture

HOUR = 3600.0


def message(thread: str, text: str = "where is my order") -> InboundMessage:
    return InboundMessage(channel="test", customer_id=f"c-{thread}", conversation_key=thread, text=text,
                          customer_name="Ann")


class Claims:
    """Counts the claim round trips of the inbox and the outbox (once each is over)."""

    def __init__(self, app: App):
        self.inbox = self.outbox = 0
        real_inbox, real_outbox = app.inbox.claim_many, app.outbox._claim

        async def inbox_claim(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            try:
                return await real_inbox(*a, **kw)
            finally:
                self.inbox += 1  # counted once done: serving() waits for the first pass to be over

        async def outbox_claim(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            try:
                return await real_outbox(*a, **kw)
            finally:
                self.outbox += 1

        app.inbox.claim_many, app.outbox._claim = inbox_claim, outbox_claim


class Gate:
    """Wraps the orchestrator: records the order messages are handled in, holds the texts in `held`
    until released, and notes any two messages of one conversation handled at once."""

    def __init__(self, app: App, held: set[str] = frozenset()):  # type: ignore[assignment]
        self.started: list[str] = []
        self.overlaps: list[str] = []
        self.open = asyncio.Event()
        self.held = set(held)
        self._busy: set[str] = set()
        real = app.orchestrator.handle

        async def handle(msg: InboundMessage, event_id: int | None = None):  # noqa: ANN202
            if msg.thread in self._busy:
                self.overlaps.append(msg.text)
            self._busy.add(msg.thread)
            self.started.append(msg.text)
            try:
                if msg.text in self.held:
                    await self.open.wait()
                return await real(msg, event_id=event_id)
            finally:
                self._busy.discard(msg.thread)

        app.orchestrator.handle = handle


@asynccontextmanager
async def serving(app: App, concurrency: int = 4) -> AsyncIterator[Claims]:
    """The app's worker and outbox running as `serve` runs them; claims counted from after their first pass."""
    app.worker.concurrency = concurrency
    app.worker.outbox = app.outbox
    claims = Claims(app)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(app.worker.run(stop, idle=HOUR)),
             asyncio.create_task(app.outbox.run(stop, app.worker.replies_queued, idle=HOUR))]
    await wait_until(lambda: claims.inbox >= 1 and claims.outbox >= 1 and app.inbox.takers)
    claims.inbox = claims.outbox = 0
    try:
        yield claims
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    for t in tasks:
        t.result()


async def replies_sent(app: App, n: int) -> bool:
    async with app.sessions() as s:
        rows = (await s.execute(m.OutboxMessage.__table__.select())).all()
    return len(rows) >= n and all(r.status == "sent" for r in rows)


async def test_a_just_stored_event_is_handed_over_and_its_reply_sent_without_a_claim(app):
    async with serving(app) as claims:
        event_id = await app.inbox.accept(message("t1"), "e1")
        await wait_until(lambda: replies_sent(app, 1), timeout=30)
        assert (claims.inbox, claims.outbox) == (0, 0)
    ev = await event(app, event_id)
    assert (ev.status, ev.attempts, ev.locked_by) == ("done", 1, app.worker.name)
    async with app.sessions() as s:
        (out,) = (await s.scalars(m.OutboxMessage.__table__.select())).all()
    reply = await row(app, out)
    assert (reply.status, reply.attempts, reply.locked_by) == ("sent", 1, app.outbox.name)
    assert len(app.out.sent) == 1


async def test_one_conversation_stays_in_order_while_others_are_handed_over(app):
    gate = Gate(app, held={"where is my order a1"})
    async with serving(app) as claims:
        a = [await app.inbox.accept(message("A", f"where is my order a{i}"), f"a{i}") for i in (1,)]
        await wait_until(lambda: gate.started == ["where is my order a1"])
        a += [await app.inbox.accept(message("A", f"where is my order a{i}"), f"a{i}") for i in (2, 3)]
        b1 = await app.inbox.accept(message("B", "where is my order b1"), "b1")
        await wait_until(lambda: event(app, b1), timeout=30)
        await wait_until(lambda: _status(app, b1, "done"), timeout=30)  # B is not held up by A
        assert [(await event(app, i)).status for i in a] == ["processing", "pending", "pending"]
        gate.open.set()
        await wait_until(lambda: _all_done(app, [*a, b1]), timeout=30)
        await wait_until(lambda: replies_sent(app, 4), timeout=30)
        assert claims.inbox >= 1  # A's later messages came by the claim, woken when the earlier one finished
    assert [t for t in gate.started if " a" in t] == [f"where is my order a{i}" for i in (1, 2, 3)]
    assert gate.overlaps == []
    assert [(await event(app, i)).locked_by for i in (a[0], b1)] == [app.worker.name] * 2
    assert len(app.out.sent) == 4


async def test_a_busy_worker_leaves_the_event_to_the_claim(app):
    gate = Gate(app, held={"where is my order x"})
    async with serving(app, concurrency=1):
        first = await app.inbox.accept(message("X", "where is my order x"), "x")
        await wait_until(lambda: gate.started == ["where is my order x"])
        second = await app.inbox.accept(message("Y", "where is my order y"), "y")
        ev = await event(app, second)
        assert (ev.status, ev.locked_by) == ("pending", None)  # no free slot: not handed over
        gate.open.set()
        await wait_until(lambda: _all_done(app, [first, second]), timeout=30)
        await wait_until(lambda: replies_sent(app, 2), timeout=30)
    assert (await event(app, second)).attempts == 1


class Dies:
    """A worker of a process killed right after the hand-over committed: it never handles the event."""

    def __init__(self, name: str, lease_seconds: float):
        self.name, self.lease_seconds, self.taken = name, lease_seconds, []

    def free_slots(self) -> int:
        return 1

    def reserve(self) -> None: ...

    def unreserve(self) -> None: ...

    def take(self, claimed: ClaimedEvent) -> None:
        self.taken.append(claimed.id)


async def test_a_handed_over_event_is_taken_back_by_the_restarted_process(app):
    dead = Dies("host:web-1", lease_seconds=HOUR)
    app.inbox.takers.append(dead)
    event_id = await app.inbox.accept(message("t1"), "e1")
    app.inbox.takers.remove(dead)
    assert dead.taken == [event_id]
    ev = await event(app, event_id)
    assert (ev.status, ev.locked_by, ev.attempts) == ("processing", "host:web-1", 1)  # stored before the hand-over
    assert await app.inbox.claim("host:web-2") is None  # leased: nobody else takes it meanwhile

    assert await app.inbox.take_back("host:web-1") == 1  # the restart, long before the hour's lease ends
    done = await Worker(app.inbox, app.orchestrator, name="host:web-1").drain()
    assert list(done) == [event_id] and done[event_id] is not None
    assert await app.outbox.flush() == 1
    assert (await event(app, event_id)).attempts == 2 and len(app.out.sent) == 1


async def test_a_handed_over_event_is_taken_over_by_another_process_after_its_lease(app):
    dead = Dies("host:web-1", lease_seconds=1.0)
    app.inbox.takers.append(dead)
    event_id = await app.inbox.accept(message("t1"), "e1")
    app.inbox.takers.remove(dead)
    lease_end = aware((await event(app, event_id)).locked_until)
    other = Worker(app.inbox, app.orchestrator, name="host:web-2")
    taken = await wait_until(lambda: other.process_next(), timeout=30)
    assert taken[0] == event_id and taken[1] is not None
    assert aware((await event(app, event_id)).processed_at) >= lease_end  # only once the lease ended
    assert await app.outbox.flush() == 1 and len(app.out.sent) == 1


async def test_a_handed_over_reply_is_sent_once_by_the_restarted_process(app):
    dead = Outbox(app.sessions, app.channels, name="host:web-1", lease_seconds=HOUR)
    dead.taking = True
    dead.hand = lambda claimed: True  # killed before it delivered: the row stays leased to it
    worker = Worker(app.inbox, app.orchestrator, name="host:web-1", outbox=dead)
    event_id = await app.inbox.accept(message("t1"), "e1")
    assert (await worker.process_next())[0] == event_id
    async with app.sessions() as s:
        (out,) = (await s.scalars(m.OutboxMessage.__table__.select())).all()
    r = await row(app, out)
    assert (r.status, r.locked_by) == ("sending", "host:web-1")
    assert await app.outbox.flush() == 0 and app.out.sent == []  # leased: nobody else sends it meanwhile
    assert await app.outbox.take_back("host:web-1") == 1
    restarted = Outbox(app.sessions, app.channels, name="host:web-1", lease_seconds=HOUR)
    assert await restarted.flush() == 1
    assert (await row(app, out)).status == "sent" and len(app.out.sent) == 1


async def test_a_reply_the_stopped_sender_will_not_send_is_pending_again_at_once(app):
    stopping = Outbox(app.sessions, app.channels, name="host:web-1", lease_seconds=HOUR)
    stopping.taking = True
    stopping.hand = lambda claimed: False  # it stopped between the finish and the hand-over
    worker = Worker(app.inbox, app.orchestrator, name="host:web-1", outbox=stopping)
    await app.inbox.accept(message("t1"), "e1")
    assert (await worker.process_next())[1] is not None
    async with app.sessions() as s:
        (out,) = (await s.scalars(m.OutboxMessage.__table__.select())).all()
    r = await row(app, out)
    assert (r.status, r.locked_by) == ("pending", None)  # not left to its hour's lease
    assert worker.replies_queued.is_set()
    assert await Outbox(app.sessions, app.channels, name="host:web-2").flush() == 1 and len(app.out.sent) == 1


async def test_a_reply_behind_an_unsent_one_waits_for_the_claim_and_keeps_the_order(app):
    # the first answer is stored pending (no sender running yet), the second while the sender runs
    assert await app.inbox.accept(message("t1", "where is my order 1"), "e1")
    assert len(await app.worker.drain()) == 1
    async with serving(app):
        await app.inbox.accept(message("t1", "hello 2"), "e2")
        await wait_until(lambda: replies_sent(app, 2), timeout=30)
    async with app.sessions() as s:
        rows = (await s.execute(m.OutboxMessage.__table__.select().order_by(m.OutboxMessage.id))).all()
    assert [r.status for r in rows] == ["sent", "sent"]
    assert [r.text for r in app.out.sent] == [r.text for r in rows]  # in the order they were queued


async def _status(app: App, event_id: int, status: str) -> bool:
    return (await event(app, event_id)).status == status


async def _all_done(app: App, ids: list[int]) -> bool:
    return all([(await event(app, i)).status == "done" for i in ids])
