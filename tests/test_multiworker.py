"""Several workers on PostgreSQL share one inbox: as coroutines in one process AND through two
separate engines (what two `serve` processes are), with a "dead" worker whose lease expires.

Invariants checked on many events across several conversations:
- every event is handled exactly once (one inbound message and one reply per event, all "done");
- per conversation, messages are stored in event order and handled in event order;
- never two events of one conversation in processing at the same moment;
- an event claimed by a worker that never finishes is finished by another once its lease expires.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import func, select

from bot.app import App
from bot.db import models as m
from bot.db.engine import retry_on_disconnect
from bot.db.migrate import upgrade
from bot.messages import InboundMessage
from bot.runtime.worker import Worker
from tests.helpers import mini_settings
from tests.service_harness import wait_until
from tests.fakes.doubles import Collect, Scripted

CONVERSATIONS = 8
PER_CONVERSATION = 10
TEXTS = ("where is my order", "I want to return it", "hello", "what about the weather")


class Tracker:
    """Wraps Orchestrator.handle of each app: who is in flight per conversation, in what order."""

    def __init__(self):
        self.in_flight: dict[str, int] = defaultdict(int)
        self.overlaps: list[tuple[str, int]] = []
        self.order: dict[str, list[int]] = defaultdict(list)  # thread -> seq numbers as handled
        self.handled: list[int] = []  # event ids

    def wrap(self, orchestrator):  # noqa: ANN001, ANN201
        real = orchestrator.handle

        async def handle(msg: InboundMessage, event_id: int | None = None):  # noqa: ANN202
            thread = msg.thread
            self.in_flight[thread] += 1
            if self.in_flight[thread] > 1:
                self.overlaps.append((thread, event_id))
            try:
                await asyncio.sleep(0)  # yield, so other workers get a chance to interleave
                result = await real(msg, event_id=event_id)
                self.order[thread].append(int(msg.text.rsplit("#", 1)[1]))
                self.handled.append(event_id)
                return result
            finally:
                self.in_flight[thread] -= 1

        orchestrator.handle = handle


@pytest.fixture
def pg_db(pg_url):
    upgrade(pg_url)
    return pg_url


@pytest.fixture
async def apps(pg_db, monkeypatch):
    """Two Apps = two engines with their own pools, as two processes would have."""
    monkeypatch.delenv("TEST_KEY_SMALL", raising=False)
    monkeypatch.delenv("TEST_KEY_BIG", raising=False)
    async with AsyncExitStack() as stack:
        out = []
        for _ in range(2):
            settings = mini_settings()
            settings.database.url = pg_db
            a = await stack.enter_async_context(App.open(settings, classifier=Scripted()))
            a.out = Collect()
            a.channels.register(a.out)
            out.append(a)
        yield out


def message(thread: int, seq: int) -> InboundMessage:
    # two conversations per customer: customers are shared, conversations are not
    return InboundMessage(channel="test", customer_id=f"cust{thread // 2}", conversation_key=f"t{thread}",
                          text=f"{TEXTS[seq % len(TEXTS)]} #{seq}", customer_name="Ann")


async def accept_all(app: App) -> dict[str, list[int]]:
    """Interleave conversations like real traffic; returns thread -> event ids in acceptance order."""
    order: dict[str, list[int]] = defaultdict(list)
    for seq in range(PER_CONVERSATION):
        for t in range(CONVERSATIONS):
            event_id = await app.inbox.accept(message(t, seq), f"ev-{t}-{seq}")
            assert event_id is not None
            order[f"t{t}"].append(event_id)
    return order


async def count(app: App, model, *where) -> int:  # noqa: ANN001
    async def read() -> int:
        async with app.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    return await retry_on_disconnect(read)  # pre-ping is off: a read after a server restart is retried once too


async def run_pool(workers: list[Worker], until, timeout: float = 60.0) -> None:  # noqa: ANN001
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop, idle=0.05)) for w in workers]
    try:
        await wait_until(until, timeout=timeout, interval=0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    for t in tasks:
        t.result()  # a worker that crashed fails the test


async def test_many_workers_two_engines_exactly_once_and_in_order(apps):
    a, b = apps
    tracker = Tracker()
    for app in apps:
        tracker.wrap(app.orchestrator)
    threads = await accept_all(a)
    total = CONVERSATIONS * PER_CONVERSATION

    workers = [Worker(app.inbox, app.orchestrator, name=f"{tag}/{i}") for tag, app in (("A", a), ("B", b))
               for i in range(3)]
    await run_pool(workers, lambda: _all_done(a, total))

    assert tracker.overlaps == []  # never two events of one conversation at once
    assert sorted(tracker.handled) == sorted(e for ids in threads.values() for e in ids)  # each exactly once
    for t in range(CONVERSATIONS):
        assert tracker.order[f"t{t}"] == list(range(PER_CONVERSATION))  # handled in event order
    async with a.sessions() as s:
        events = (await s.execute(select(m.InboxEvent.id, m.InboxEvent.attempts, m.InboxEvent.locked_by))).all()
        assert all(att == 1 for _, att, _ in events)
        by = {lb.split("/")[0] for _, _, lb in events}
        assert by == {"A", "B"}  # both "processes" took part
        rows = (await s.execute(
            select(m.Conversation.thread_key, m.Message.direction, m.Message.text, m.Message.inbox_event_id)
            .join(m.Conversation, m.Conversation.id == m.Message.conversation_id)
            .order_by(m.Message.id))).all()
        outbox = (await s.scalars(select(m.OutboxMessage.idempotency_key))).all()
    inbound: dict[str, list[int]] = defaultdict(list)
    for thread, direction, text, event_id in rows:
        if direction == "in":
            inbound[thread].append(event_id)
    assert dict(inbound) == dict(threads)  # stored message order == event order, per conversation
    assert sum(1 for r in rows if r.direction == "out") == total  # one reply per event
    assert len(outbox) == len(set(outbox)) == total  # one outbox row per event, unique keys
    assert await count(a, m.Conversation) == CONVERSATIONS


async def _all_done(app: App, total: int) -> bool:
    return await count(app, m.InboxEvent, m.InboxEvent.status == "done") == total


async def test_expired_lease_of_a_dead_worker_is_finished_by_another(apps):
    a, b = apps
    tracker = Tracker()
    tracker.wrap(b.orchestrator)
    first = await a.inbox.accept(message(0, 0), "dead-0")
    second = await a.inbox.accept(message(0, 1), "dead-1")
    other = await a.inbox.accept(message(1, 0), "alive-0")

    # the "dead" worker of process A claims the first event and never finishes it
    dead = await a.inbox.claim("A/dead", lease_seconds=1.0)
    assert dead.id == first

    survivor = Worker(b.inbox, b.orchestrator, name="B/0", lease_seconds=30)
    # the other conversation is not held up; this one waits for the lease, then goes on in order
    await run_pool([survivor], lambda: _all_done(a, 3), timeout=30)

    assert tracker.handled == [other, first, second]
    assert tracker.order["t0"] == [0, 1]
    async with a.sessions() as s:
        ev = await s.get(m.InboxEvent, first)
        assert (ev.status, ev.attempts, ev.locked_by) == ("done", 2, "B/0")
    assert await count(a, m.OutboxMessage) == 3
    assert await count(a, m.Message, m.Message.direction == "in") == 3


async def test_connections_killed_by_the_server_are_replaced(apps, pg_db):
    """PostgreSQL drops every session (a restart, a failover, an idle-connection reaper): the first
    statement on a dropped connection fails, is recognised as a disconnect (the pool is refreshed) and
    retried once (pre-ping is off by default), and the workers go on; nothing is lost."""
    from sqlalchemy.engine import make_url

    from tests.conftest import _pg_admin

    a, b = apps
    first = [await a.inbox.accept(message(t, 0), f"before-{t}") for t in range(4)]
    workers = [Worker(app.inbox, app.orchestrator, name=f"{tag}/0") for tag, app in (("A", a), ("B", b))]
    await run_pool(workers, lambda: _all_done(a, len(first)))

    name = make_url(pg_db).database
    await _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}' AND pid <> pg_backend_pid()")

    # a platform redelivers one of the old updates while we reconnect: the inbox dedupe absorbs it
    assert await b.inbox.accept(message(0, 0), "before-0") is None
    later = [await b.inbox.accept(message(t, 1), f"after-{t}") for t in range(4)]
    assert all(later)
    await run_pool(workers, lambda: _all_done(a, len(first) + len(later)))
    assert await count(a, m.OutboxMessage) == 8
    assert await count(a, m.Message, m.Message.direction == "in") == 8


async def test_a_database_error_mid_claim_does_not_kill_the_worker(apps, monkeypatch):
    """A connection lost in the middle of a claim (pre-ping cannot catch that one) raises out of
    Inbox.claim_many; the worker logs it and carries on at its next wake-up instead of dying silently."""
    from sqlalchemy.exc import OperationalError

    a, _ = apps
    real, failures = a.inbox.claim_many, []

    async def flaky(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if not failures:
            failures.append(1)
            raise OperationalError("SELECT ...", {}, ConnectionResetError("connection was closed in the middle"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(a.inbox, "claim_many", flaky)
    await a.inbox.accept(message(0, 0), "flaky-0")
    await run_pool([Worker(a.inbox, a.orchestrator, name="A/0")], lambda: _all_done(a, 1), timeout=30)
    assert failures == [1]


async def test_events_of_one_conversation_get_ids_in_commit_order(apps):
    """Two events of one conversation accepted at once must not commit out of id order (a claim in
    between would hand out the later one first): accept holds a per-conversation lock from before
    its id is drawn until it commits. Seen here as the second accept waiting on that lock."""
    import asyncpg

    a, _ = apps
    raw = a.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    holder = await asyncpg.connect(raw)
    try:
        tx = holder.transaction()
        await tx.start()  # stands in for an accept of the same conversation still in flight
        await holder.execute("SELECT pg_advisory_xact_lock(hashtext($1))", "test:t0")
        second = asyncio.create_task(a.inbox.accept(message(0, 0), "later"))

        async def waiting_on_the_lock() -> bool:
            return bool(await holder.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"))

        await wait_until(waiting_on_the_lock, timeout=10)
        assert not second.done()
        await tx.commit()  # the first one commits: the second goes ahead
        assert await second is not None
    finally:
        await holder.close()
