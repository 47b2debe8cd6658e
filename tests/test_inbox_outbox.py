"""Inbox dedupe, ordering and leases; outbox delivery, retries and permanent failures. Both engines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.runtime.channel import DeliveryError
from bot.db.engine import make_engine, session_factory
from bot.db.models import Conversation, Customer, InboxEvent, OutboxMessage
from bot.runtime.inbox import Inbox, from_payload
from bot.messages import InboundMessage, utcnow
from bot.runtime.outbox import Outbox
from tests.fakes.doubles import Recorder
from tests.harness.queues import _queue_many, _registry


@pytest.fixture
async def sessions(db_url):
    engine = make_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


def msg(text: str, customer: str = "c1", thread: str = "t1") -> InboundMessage:
    return InboundMessage(channel="test", customer_id=customer, text=text, conversation_key=thread)


async def test_duplicate_event_is_stored_once(sessions):
    inbox = Inbox(sessions)
    first = await inbox.accept(msg("hi"), "ev-1")
    again = await inbox.accept(msg("hi"), "ev-1")
    assert first is not None and again is None
    assert inbox.arrived.is_set()
    async with sessions() as s:
        assert len((await s.scalars(select(InboxEvent))).all()) == 1


async def test_payload_round_trip(sessions):
    inbox = Inbox(sessions)
    original = InboundMessage(channel="test", customer_id="c", text="héllo", customer_name="Ann",
                              conversation_key="k", reply_to={"chat_id": 5})
    await inbox.accept(original, "e")
    event = await inbox.claim("w1")
    assert from_payload(event.payload) == original


async def test_one_conversation_at_a_time_in_order(sessions):
    inbox = Inbox(sessions)
    a1 = await inbox.accept(msg("a1", thread="A"), "1")
    a2 = await inbox.accept(msg("a2", thread="A"), "2")
    b1 = await inbox.accept(msg("b1", thread="B"), "3")
    first = await inbox.claim("w1")
    second = await inbox.claim("w2")
    assert (first.id, second.id) == (a1, b1)  # a2 waits for a1 to finish
    assert await inbox.claim("w3") is None
    async with sessions.begin() as s:
        await s.execute(update(InboxEvent).where(InboxEvent.id == a1).values(status="done"))
    assert (await inbox.claim("w3")).id == a2


async def test_expired_lease_is_claimed_again(sessions):
    inbox = Inbox(sessions)
    ev = await inbox.accept(msg("x"), "1")
    assert (await inbox.claim("dead-worker", lease_seconds=60)).id == ev
    assert await inbox.claim("w2") is None
    async with sessions.begin() as s:
        await s.execute(update(InboxEvent).values(locked_until=utcnow() - timedelta(seconds=1)))
    again = await inbox.claim("w2")
    assert again.id == ev and again.attempts == 2 and again.locked_by == "w2"


async def test_failed_event_retries_then_parks(sessions):
    inbox = Inbox(sessions)
    ev = await inbox.accept(msg("x"), "1")
    await inbox.fail(ev, "boom", attempts=1)
    assert (await inbox.claim("w")).id == ev
    await inbox.fail(ev, "boom", attempts=5)
    assert await inbox.claim("w") is None
    assert await inbox.backlog() == 0


async def _queue(sessions, text="hello") -> int:  # noqa: ANN001
    async with sessions.begin() as s:
        cust = Customer(channel="test", external_id="c1")
        s.add(cust)
        await s.flush()
        conv = Conversation(customer_id=cust.id, channel="test", thread_key="t1")
        s.add(conv)
        await s.flush()
        row = OutboxMessage(idempotency_key=f"k-{text}", channel="test", conversation_id=conv.id, text=text,
                            recipient={"customer_id": "c1", "conversation_key": "t1", "reply_to": None})
        s.add(row)
        await s.flush()
        return row.id


async def _row(sessions, row_id):  # noqa: ANN001
    async with sessions() as s:
        return await s.get(OutboxMessage, row_id)


async def test_outbox_delivers_once(sessions):
    rec = Recorder()
    outbox = Outbox(sessions, _registry(rec))
    row_id = await _queue(sessions)
    assert await outbox.flush() == 1
    assert await outbox.flush() == 0
    assert [r.text for r, _ in rec.sent] == ["hello"] and rec.sent[0][1] == "k-hello"
    row = await _row(sessions, row_id)
    assert (row.status, row.external_id, row.attempts) == ("sent", "ext-1", 1)


async def test_outbox_retry_after_is_honoured(sessions):
    rec = Recorder([DeliveryError("429", retry_after=30)])
    outbox = Outbox(sessions, _registry(rec))
    row_id = await _queue(sessions)
    assert await outbox.flush() == 0
    row = await _row(sessions, row_id)
    assert row.status == "pending" and 25 <= await outbox.next_due_in() <= 30
    assert await outbox.flush() == 0  # not due yet: nothing is sent early
    async with sessions.begin() as s:
        await s.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    assert await outbox.flush() == 1 and len(rec.sent) == 1


async def test_outbox_permanent_failure_marks_customer_unreachable(sessions):
    rec = Recorder([DeliveryError("403 blocked", unreachable=True)])
    outbox = Outbox(sessions, _registry(rec))
    row_id = await _queue(sessions)
    await outbox.flush()
    assert (await _row(sessions, row_id)).status == "failed"
    async with sessions() as s:
        assert (await s.scalar(select(Customer.unreachable)))
    assert await outbox.next_due_in() is None


async def test_outbox_adapter_crash_is_retried(sessions):
    class Broken(Recorder):
        async def deliver(self, reply, key):  # noqa: ANN001
            raise RuntimeError("adapter bug")

    outbox = Outbox(sessions, _registry(Broken()))
    row_id = await _queue(sessions)
    assert await outbox.flush() == 0
    row = await _row(sessions, row_id)
    assert row.status == "pending" and "adapter bug" in row.error


async def test_release_all_hands_back_what_a_dead_process_held(sessions):
    inbox = Inbox(sessions)
    ev = await inbox.accept(msg("x"), "1")
    await inbox.claim("dead", lease_seconds=3600)
    assert await inbox.claim("w2") is None
    assert await inbox.release_all() == 1
    assert (await inbox.claim("w2")).id == ev
    rec = Recorder()
    outbox = Outbox(sessions, _registry(rec))
    row_id = await _queue(sessions)
    async with sessions.begin() as s:  # as a crashed flush leaves it
        await s.execute(update(OutboxMessage).values(status="sending", next_attempt_at=utcnow() + timedelta(hours=1)))
    assert await outbox.flush() == 0
    assert await outbox.release_all() == 1
    assert await outbox.flush() == 1 and (await _row(sessions, row_id)).status == "sent"


async def test_claim_many_takes_at_most_limit_and_one_event_per_conversation(sessions):
    inbox = Inbox(sessions)
    ids = {}
    for i, thread in enumerate(["A", "A", "B", "C", "B", "D"]):
        ids.setdefault(thread, []).append(await inbox.accept(msg(f"m{i}", thread=thread), str(i)))
    one = await inbox.claim_many("w1", 1)  # PostgreSQL once took 2 here (IN (subquery LIMIT 1) re-run)
    assert [e.id for e in one] == [ids["A"][0]]
    rest = await inbox.claim_many("w2", 10)
    assert [e.id for e in rest] == [ids["B"][0], ids["C"][0], ids["D"][0]]  # oldest first; A2, B2 wait
    assert all(e.locked_by == "w2" and e.attempts == 1 for e in rest)
    assert await inbox.claim_many("w3", 10) == []


async def test_outbox_keeps_each_conversations_order_while_sending_others_alongside(sessions):
    rec = Recorder()
    outbox = Outbox(sessions, _registry(rec))
    await _queue_many(sessions, [("A", "a1"), ("A", "a2"), ("B", "b1"), ("A", "a3"), ("B", "b2")])
    assert await outbox.flush() == 5
    sent = [r.text for r, _ in rec.sent]
    assert [t for t in sent if t[0] == "a"] == ["a1", "a2", "a3"]
    assert [t for t in sent if t[0] == "b"] == ["b1", "b2"]


async def test_a_reply_waiting_for_a_retry_holds_back_its_conversation_only(sessions):
    rec = Recorder([DeliveryError("429", retry_after=30)])  # the first delivery (a1) is rate-limited
    outbox = Outbox(sessions, _registry(rec))
    ids = await _queue_many(sessions, [("A", "a1"), ("A", "a2"), ("B", "b1")])
    assert await outbox.flush() == 1
    assert [r.text for r, _ in rec.sent] == ["b1"]  # a2 may not overtake a1
    assert (await _row(sessions, ids["a2"])).status == "pending"
    async with sessions.begin() as s:
        await s.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    assert await outbox.flush() == 2
    assert [r.text for r, _ in rec.sent] == ["b1", "a1", "a2"]
