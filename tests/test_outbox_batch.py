"""Batched sent-marks (issue 16): one statement per delivery round, and a mark is never lost.

A delivered row stays "sending" under this process's lease until its mark is committed; a mark
that could not be written is kept and written at the next flush, and the row is not sent again.
Both engines.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from bot.db.engine import make_engine, session_factory
from bot.db.models import OutboxMessage
from bot.runtime.outbox import Outbox
from tests.fakes.doubles import Recorder
from tests.harness.queues import _queue_many, _registry


@pytest.fixture
async def engine_and_sessions(db_url):
    engine = make_engine(db_url)
    yield engine, session_factory(engine)
    await engine.dispose()


class Flaky:
    """A sessionmaker whose begin() fails while `down` is set (the database went away)."""

    def __init__(self, sessions):  # noqa: ANN001
        self.inner, self.down = sessions, False

    def __call__(self, *a, **kw):  # noqa: ANN002, ANN003, ANN204
        return self.inner(*a, **kw)

    def begin(self):  # noqa: ANN201
        if self.down:
            raise ConnectionError("database away")
        return self.inner.begin()


class DownAfterSend(Recorder):
    """Delivers, then takes the database away: the sent-mark that follows cannot be written."""

    def __init__(self, flaky: Flaky):
        super().__init__()
        self.flaky = flaky

    async def deliver(self, reply, key):  # noqa: ANN001, ANN201
        out = await super().deliver(reply, key)
        self.flaky.down = True
        return out


async def _statuses(sessions) -> dict[str, str]:  # noqa: ANN001
    async with sessions() as s:
        return {r.text: r.status for r in (await s.scalars(select(OutboxMessage))).all()}


async def test_a_round_is_marked_sent_in_one_statement(engine_and_sessions):
    engine, sessions = engine_and_sessions
    rec = Recorder()
    outbox = Outbox(sessions, _registry(rec))
    await _queue_many(sessions, [("A", "a1"), ("B", "b1"), ("C", "c1")])
    marks: list[str] = []

    def seen(conn, cursor, statement, params, context, executemany):  # noqa: ANN001, ANN202
        if statement.lstrip().upper().startswith("UPDATE") and "sent_at" in statement:
            marks.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    assert await outbox.flush() == 3
    event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert len(marks) == 1  # one executemany for the three rows
    assert await _statuses(sessions) == {"a1": "sent", "b1": "sent", "c1": "sent"}


async def test_a_mark_that_could_not_be_written_is_kept_and_the_reply_not_sent_again(engine_and_sessions):
    _, sessions = engine_and_sessions
    flaky = Flaky(sessions)
    rec = DownAfterSend(flaky)
    outbox = Outbox(flaky, _registry(rec), name="host:a")
    await _queue_many(sessions, [("A", "a1"), ("A", "a2")])
    assert await outbox.flush() == 1
    assert [r.text for r, _ in rec.sent] == ["a1"]
    assert await _statuses(sessions) == {"a1": "sending", "a2": "pending"}  # a2 still waits for a1
    assert outbox.unmarked and outbox.sending == set(outbox.unmarked)  # its lease is still renewed
    other = Outbox(sessions, _registry(Recorder()), name="host:b")
    assert await other.flush() == 0  # another process does not take a row whose lease runs
    flaky.down = False
    rec.flaky = Flaky(sessions)  # deliveries from now on leave the database up
    assert await outbox.flush() == 1  # the kept mark goes first, then a2
    assert [r.text for r, _ in rec.sent] == ["a1", "a2"]  # a1 was not sent twice, order kept
    assert await _statuses(sessions) == {"a1": "sent", "a2": "sent"}
    assert not outbox.unmarked and not outbox.sending
