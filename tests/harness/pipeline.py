"""The mini app on a real database (SQLite and PostgreSQL) with the scripted local classifier: the
`app` fixture, `say` (a message in through the inbox, the worker drained, the outbox flushed) and
`rows` (a table's rows, oldest first)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.app import App
from bot.messages import InboundMessage
from tests.fakes.doubles import Collect, Scripted
from tests.helpers import mini_settings


@pytest.fixture
async def app(db_url, monkeypatch):
    monkeypatch.delenv("TEST_KEY_SMALL", raising=False)
    monkeypatch.delenv("TEST_KEY_BIG", raising=False)
    settings = mini_settings()
    settings.database.url = db_url
    async with App.open(settings, classifier=Scripted()) as a:
        a.out = Collect()
        a.channels.register(a.out)
        yield a


async def say(app, text: str, event: str, customer: str = "c1", thread: str = "t1"):  # noqa: ANN001, ANN201
    msg = InboundMessage(channel="test", customer_id=customer, text=text, conversation_key=thread,
                         customer_name="Ann")
    event_id = await app.inbox.accept(msg, event)
    results = await app.worker.drain()
    await app.outbox.flush()
    return results.get(event_id) if event_id else None


async def rows(app, model, *where):  # noqa: ANN001, ANN201
    async with app.sessions() as s:
        return (await s.scalars(select(model).where(*where).order_by(model.id))).all()
