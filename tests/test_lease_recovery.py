"""Short leases kept alive by heartbeats, and a stable process identity (issue 16). Both engines.

- a process restarted under its identity takes back at once the events and replies its killed
  previous life held (leases of an hour here: nothing waits for them), and nothing held by
  another identity;
- the heartbeats keep the lease of a message (worker) and of a reply (outbox) that take longer
  than the lease: nobody else takes them meanwhile;
- a process with another identity takes a dead one's event and reply only once the lease expired.

No fixed sleeps and no timing asserts: the tests wait on predicates (the clock passing a stored
lease end, a row's status) and assert on what is stored.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from bot.app import App
from bot.runtime.channel import ChannelRegistry
from bot.db import models as m
from bot.messages import InboundMessage, Reply, utcnow
from bot.runtime.outbox import Outbox
from bot.runtime.worker import Worker, worker_identity
from tests.helpers import mini_settings
from tests.service_harness import running_service, wait_until
from tests.fakes.doubles import Collect, Scripted
from tests.harness.queues import aware, event, row
from tests.harness.pipeline import app  # noqa: F401 - the app fixture

HOUR = 3600.0


def message(thread: str, text: str = "where is my order") -> InboundMessage:
    return InboundMessage(channel="test", customer_id=f"c-{thread}", conversation_key=thread, text=text,
                          customer_name="Ann")


async def queue_reply(app: App, key: str) -> int:
    async with app.sessions.begin() as s:
        cust = m.Customer(channel="test", external_id=f"c-{key}")
        s.add(cust)
        await s.flush()
        conv = m.Conversation(customer_id=cust.id, channel="test", thread_key=f"reply-{key}")
        s.add(conv)
        await s.flush()
        out = m.OutboxMessage(idempotency_key=key, channel="test", conversation_id=conv.id, text=f"reply {key}",
                              recipient={"customer_id": f"c-{key}", "conversation_key": key, "reply_to": None})
        s.add(out)
        await s.flush()
        return out.id


class Held:
    """A channel whose sends wait until released (a slow platform); counts what it delivered."""

    name = "test"

    def __init__(self):
        self.entered, self.release, self.sent = asyncio.Event(), asyncio.Event(), []

    async def deliver(self, reply: Reply, key: str) -> str:
        self.entered.set()
        await self.release.wait()
        self.sent.append(key)
        return key


def outbox(app: App, channel, name: str, lease: float, beat: float | None = None) -> Outbox:  # noqa: ANN001
    reg = ChannelRegistry()
    reg.register(channel)
    return Outbox(app.sessions, reg, name=name, lease_seconds=lease, heartbeat_seconds=beat)


async def test_a_restarted_process_takes_back_at_once_what_its_killed_run_held(app):
    identity, other = worker_identity("web-1", 8080), worker_identity("web-2", 8080)
    mine = [await app.inbox.accept(message(f"t{i}"), f"e{i}") for i in range(2)]
    theirs = await app.inbox.accept(message("t9"), "e9")
    # the killed run: its first worker and its second ("identity/1") had one event each, an hour's lease
    assert (await app.inbox.claim(identity, HOUR)).id == mine[0]
    assert (await app.inbox.claim(f"{identity}/1", HOUR)).id == mine[1]
    assert (await app.inbox.claim(other, HOUR)).id == theirs  # a live process's event is never taken
    replies = [await queue_reply(app, "r1"), await queue_reply(app, "r2")]
    dead_sender = outbox(app, Held(), identity, HOUR)
    assert [r.id for r in await dead_sender._claim(1)] == replies[:1]
    assert [r.id for r in await outbox(app, Held(), other, HOUR)._claim(1)] == replies[1:]

    # the restart: same identity, the leases still have an hour to run
    assert await app.inbox.take_back(identity) == 2
    assert await app.outbox.take_back(identity) == 1
    restarted = Worker(app.inbox, app.orchestrator, name=identity)
    done = await restarted.drain()
    assert sorted(done) == mine and all(r is not None for r in done.values())
    sent = outbox(app, app.out, identity, HOUR)
    assert await sent.flush() >= 1
    assert (await row(app, replies[0])).status == "sent"
    assert ((await event(app, theirs)).status, (await event(app, theirs)).locked_by) == ("processing", other)
    assert ((await row(app, replies[1])).status, (await row(app, replies[1])).locked_by) == ("sending", other)


async def test_serve_takes_back_its_previous_runs_events_at_start(db_url, monkeypatch):
    """The same through `serve`: started with worker.name, it answers what that name held at once."""
    monkeypatch.delenv("TEST_KEY_SMALL", raising=False)
    monkeypatch.delenv("TEST_KEY_BIG", raising=False)
    settings = mini_settings()
    settings.database.url = db_url
    settings.worker.name = "restart-me"
    identity = worker_identity("restart-me", 0)
    async with App.open(settings, classifier=Scripted()) as before:  # the killed run, as it left things
        held = await before.inbox.accept(message("t1"), "e1")
        assert (await before.inbox.claim(identity, HOUR)).id == held
    out = Collect()
    async with running_service(settings, classifier=Scripted()) as service:
        assert service.app.worker.name == identity
        service.app.channels.register(out)
        await wait_until(lambda: len(out.sent) == 1, timeout=30)
        ev = await event(service.app, held)
        assert (ev.status, ev.attempts) == ("done", 2)


async def test_the_heartbeat_keeps_a_long_message_and_a_long_send_leased(app):
    await app.inbox.accept(message("t1"), "e1")
    release = asyncio.Event()
    real = app.orchestrator.handle

    async def slow(msg: InboundMessage, event_id: int | None = None):  # noqa: ANN202 - a message longer than its lease
        await release.wait()
        return await real(msg, event_id=event_id)

    app.orchestrator.handle = slow
    worker = Worker(app.inbox, app.orchestrator, name="A", lease_seconds=1.0, heartbeat_seconds=0.05)
    task = asyncio.create_task(worker.process_next())
    await wait_until(lambda: worker.held)
    first = aware((await event(app, next(iter(worker.held)))).locked_until)
    await wait_until(lambda: utcnow() > first + timedelta(seconds=0.5), timeout=30)  # past the first lease
    assert await app.inbox.claim("B") is None  # renewed meanwhile: nobody else may take it
    ev = await event(app, next(iter(worker.held)))
    assert (ev.status, ev.locked_by) == ("processing", "A") and aware(ev.locked_until) > first
    release.set()
    event_id, result = await task
    assert result is not None and (await event(app, event_id)).status == "done"
    assert not worker.held
    await wait_until(lambda: worker._heartbeat.done())  # nothing left to renew: the heartbeat ends

    # the same for a reply whose send takes longer than its lease
    assert await outbox(app, app.out, "A", lease=1.0).flush() == 1  # the answer to e1 goes out first
    slow_reply = await queue_reply(app, "slow")
    slow_channel = Held()
    sender = outbox(app, slow_channel, "A", lease=1.0, beat=0.05)
    flushing = asyncio.create_task(sender.flush())
    await slow_channel.entered.wait()
    assert sender.sending == {slow_reply}
    sending = slow_reply
    first = aware((await row(app, sending)).next_attempt_at)
    await wait_until(lambda: utcnow() > first + timedelta(seconds=0.5), timeout=30)
    assert await outbox(app, app.out, "B", lease=1.0).flush() == 0  # still A's: not sent twice
    r = await row(app, sending)
    assert (r.status, r.locked_by) == ("sending", "A") and aware(r.next_attempt_at) > first
    slow_channel.release.set()
    assert await flushing == 1
    assert (await row(app, sending)).status == "sent" and len(slow_channel.sent) == 1
    assert len(app.out.sent) == 1  # B sent nothing of it


async def test_another_identity_takes_over_only_once_the_lease_expired(app):
    first = await app.inbox.accept(message("t1"), "e1")
    reply = await queue_reply(app, "r1")
    # process A claims both and dies: no heartbeat renews its leases
    assert (await app.inbox.claim("A", lease_seconds=1.0)).id == first
    assert [r.id for r in await outbox(app, Held(), "A", lease=1.0)._claim(1)] == [reply]
    lease_end = aware((await event(app, first)).locked_until)
    send_lease_end = aware((await row(app, reply)).next_attempt_at)

    # B is another identity: taking back its own finds nothing of A's, and A's leases hold until they end
    assert await app.inbox.take_back("B") == 0 and await app.outbox.take_back("B") == 0
    b = Worker(app.inbox, app.orchestrator, name="B")
    taken = await wait_until(lambda: b.process_next(), timeout=30)
    assert utcnow() >= lease_end  # only after A's lease
    assert taken[0] == first and taken[1] is not None
    ev = await event(app, first)
    assert (ev.status, ev.locked_by, ev.attempts) == ("done", "B", 2)

    b_sender = outbox(app, app.out, "B", lease=HOUR)
    sends = [r.text for r in app.out.sent]
    await wait_until(lambda: b_sender.flush(), timeout=30)
    assert utcnow() >= send_lease_end
    assert (await row(app, reply)).status == "sent"
    assert [r.text for r in app.out.sent][len(sends):].count("reply r1") == 1


async def test_a_failure_does_not_hand_back_a_reply_another_process_took_over(app):
    """A's lease ran out and B took the row: A's late failure must not make it pending again."""
    from bot.runtime.channel import DeliveryError

    reply = await queue_reply(app, "r1")
    (claimed,) = await outbox(app, Held(), "A", lease=HOUR)._claim(1)
    async with app.sessions.begin() as s:  # B took it over after A's lease
        await s.execute(update(m.OutboxMessage).values(locked_by="B"))
    await outbox(app, Held(), "A", lease=HOUR)._failed(claimed, DeliveryError("timeout"))
    r = await row(app, reply)
    assert (r.status, r.locked_by) == ("sending", "B")
    async with app.sessions() as s:
        assert (await s.scalar(select(m.OutboxMessage.error))) is None
