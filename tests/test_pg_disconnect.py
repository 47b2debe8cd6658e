"""PostgreSQL without pre-ping (issue 16): a connection the server dropped is recognised as a
disconnect, so one failed statement costs one retry on a fresh connection, not a broken pool."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.db.engine import make_engine
from tests.conftest import _pg_admin


async def test_a_dropped_connection_is_recognised_and_the_retry_works(pg_url):
    engine = make_engine(pg_url, pre_ping=False, pool_size=2)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        await _pg_admin(f"SELECT pg_terminate_backend({int(pid)})")  # the server drops the pooled connection
        with pytest.raises(DBAPIError) as ei:
            async with engine.connect() as conn:
                await conn.scalar(text("SELECT 1"))
        assert ei.value.connection_invalidated  # recognised as a disconnect: the pool is refreshed
        async with engine.connect() as conn:  # the caller's one retry
            assert await conn.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def _drop_every_session(url: str) -> None:
    from sqlalchemy.engine import make_url

    await _pg_admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{make_url(url).database}' AND pid <> pg_backend_pid()")


def test_pre_ping_is_off_by_default_and_can_be_turned_on(pg_url):
    from bot.settings import Database

    assert Database().pre_ping is False
    assert make_engine(pg_url).pool._pre_ping is False
    assert make_engine(pg_url, pre_ping=True).pool._pre_ping is True


async def test_the_hot_paths_retry_once_on_a_dropped_connection(pg_url):
    """The server drops every session (a restart): accept, claim and the sent-marks go on without an
    error, each retrying its transaction once on a fresh connection; nothing is stored twice."""
    import asyncio

    from sqlalchemy import func, select

    from bot.db.engine import session_factory
    from bot.db.migrate import upgrade
    from bot.db.models import InboxEvent
    from bot.messages import InboundMessage
    from bot.runtime.inbox import Inbox

    await asyncio.to_thread(upgrade, pg_url)
    engine = make_engine(pg_url, pool_size=2)
    try:
        inbox = Inbox(session_factory(engine))

        def msg(n: int) -> InboundMessage:
            return InboundMessage(channel="test", customer_id="c", text=f"m{n}", conversation_key=f"t{n}")

        assert await inbox.accept(msg(1), "e1")
        await _drop_every_session(pg_url)
        assert await inbox.accept(msg(2), "e2")  # retried: the platform gets its acknowledgement
        await _drop_every_session(pg_url)
        assert sorted(e.payload["text"] for e in await inbox.claim_many("w", 5)) == ["m1", "m2"]
        async with inbox.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(InboxEvent)) == 2
    finally:
        await engine.dispose()


async def test_only_a_disconnect_is_retried():
    from bot.db.engine import retry_on_disconnect

    calls: list[bool] = []

    async def op(invalidated: bool) -> str:
        calls.append(invalidated)
        if len(calls) == 1:
            raise DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=invalidated)
        return "ok"

    assert await retry_on_disconnect(lambda: op(True)) == "ok" and calls == [True, True]
    calls.clear()
    with pytest.raises(DBAPIError):
        await retry_on_disconnect(lambda: op(False))
    assert calls == [False]
