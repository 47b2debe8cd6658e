"""The browser's visitor id is a secret (issue 14): stored and shown only as a digest.

Whoever holds the visitor id reads the history and writes as that customer, so agents (the
console, Slack cards) must never see it: they see "web visitor 3f9a01", and neither that nor
the stored public id opens the history or the event stream.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.db import models as m
from bot.db.engine import make_engine
from bot.db.migrate import upgrade
from bot.handoff.escalations import customer_label
from channels.web import public_id
from tests.service_harness import wait_until
from tests.harness.web_chat import ident, read_reply, service  # noqa: F401 - service is a fixture


async def history(svc, visitor: str) -> list[dict]:  # noqa: ANN001
    async with svc.http.get(f"{svc.url}/chat/history", params={"visitor": visitor}) as r:
        assert r.status == 200
        return await r.json()


async def test_agents_see_a_public_label_and_it_opens_nothing(service):
    visitor = ident()
    async with service.http.get(f"{service.url}/chat/events", params={"visitor": visitor}) as events:
        await events.content.readline()
        async with service.http.post(f"{service.url}/chat/messages",
                                     json={"visitor": visitor, "id": ident(), "text": "someone used my card"}) as r:
            assert r.status == 202
        await asyncio.wait_for(read_reply(events), 10)  # the reply still reaches the secret holder's page

    [view] = await wait_until(service.app.handoff.queue, timeout=15)
    public = public_id(visitor)
    assert view.customer == f"web visitor {public[:6]}" and visitor not in view.customer

    async with service.app.sessions() as s:  # the secret is nowhere in the database
        [cust] = (await s.scalars(select(m.Customer))).all()
        assert cust.external_id == public != visitor
        for table in ("customers", "conversations", "inbox_events", "outbox_messages", "escalations", "messages"):
            rows = (await s.execute(text(f"SELECT * FROM {table}"))).all()
            assert rows and not any(visitor in str(v) for row in rows for v in row), table

    assert len(await history(service, visitor)) >= 2
    assert await history(service, public) == []  # the public id is no credential
    async with service.http.post(f"{service.url}/chat/messages",
                                 json={"visitor": public, "id": ident(), "text": "I am them now"}) as r:
        assert r.status == 202  # accepted, but as another customer (the digest of the digest)
    async with service.app.sessions() as s:
        assert await s.scalar(select(m.Customer.external_id).where(m.Customer.id == cust.id)) == public
    assert "I am them now" not in [h["text"] for h in await history(service, visitor)]


async def test_migration_0007_replaces_stored_visitor_ids_by_their_digest(empty_db_url):
    visitor, engine = ident(), make_engine(empty_db_url)
    await asyncio.to_thread(upgrade, empty_db_url, "0006")
    try:
        async with async_sessionmaker(engine)() as s, s.begin():  # rows as the page's posts were stored before
            # Core, naming the columns: the model has columns added by later revisions (0013: last_name, username)
            await s.execute(m.Customer.__table__.insert(), [
                dict(id=1, channel="web", external_id=visitor, unreachable=False, created_at=datetime.now(timezone.utc)),
                dict(id=2, channel="telegram", external_id="42", unreachable=False,
                     created_at=datetime.now(timezone.utc))])
            # Core, naming the columns: the model has columns added by later revisions (0011: language)
            now = datetime.now(timezone.utc)
            await s.execute(m.Conversation.__table__.insert(), [
                dict(id=1, customer_id=1, channel="web", thread_key=visitor, status="bot", started_at=now,
                     last_message_at=now),
                dict(id=2, customer_id=2, channel="telegram", thread_key="42", status="bot", started_at=now,
                     last_message_at=now)])
            s.add(m.InboxEvent(channel="web", external_id=f"{visitor}:msg-0001", thread_key=visitor,
                               payload={"customer_id": visitor, "conversation_key": visitor, "text": "hi"}))
            # Core, naming the columns: the model has columns added by later revisions (0008: locked_by)
            await s.execute(m.OutboxMessage.__table__.insert().values(
                idempotency_key="k1", channel="web", conversation_id=1, text="hello",
                recipient={"customer_id": visitor, "conversation_key": visitor}))
        await asyncio.to_thread(upgrade, empty_db_url)
        public = public_id(visitor)
        async with async_sessionmaker(engine)() as s:
            assert (await s.execute(select(m.Customer.id, m.Customer.external_id).order_by(m.Customer.id))).all() == [
                (1, public), (2, "42")]
            assert (await s.scalars(select(m.Conversation.thread_key).order_by(m.Conversation.id))).all() == [
                public, "42"]
            event = await s.scalar(select(m.InboxEvent))
            assert (event.external_id, event.thread_key) == (f"{public}:msg-0001", public)
            assert event.payload == {"customer_id": public, "conversation_key": public, "text": "hi"}
            assert (await s.scalar(select(m.OutboxMessage.recipient))) == {"customer_id": public,
                                                                            "conversation_key": public}
    finally:
        await engine.dispose()


def test_labels_shown_to_agents():
    assert customer_label("web", None, "3f9a01deadbeef") == "web visitor 3f9a01"
    assert customer_label("web", "Ann", "3f9a01deadbeef") == "Ann"
    assert customer_label("telegram", None, "12345") == "12345"
    assert public_id("a" * 32) != public_id("a" * 33) and len(public_id("a" * 32)) == 32


async def test_short_visitor_ids_are_refused(service):
    async with service.http.post(f"{service.url}/chat/messages",
                                 json={"visitor": "v" * 15, "id": ident(), "text": "hi"}) as r:
        assert r.status == 400
