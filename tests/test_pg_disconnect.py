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
