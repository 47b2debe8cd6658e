"""The Alembic revisions build the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from bot.db.engine import NotMigrated, check_migrated, make_engine
from bot.db.migrate import head_revision, upgrade
from bot.db.models import Base


async def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            def compare(sync_conn):  # noqa: ANN001
                ctx = MigrationContext.configure(sync_conn, opts={"compare_type": True})
                return compare_metadata(ctx, Base.metadata)
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_migrations_match_models(empty_db_url):
    import asyncio

    await asyncio.to_thread(upgrade, empty_db_url)
    assert await _diff(empty_db_url) == []
    engine = make_engine(empty_db_url)
    try:
        await check_migrated(engine)  # does not raise
    finally:
        await engine.dispose()


async def test_unmigrated_database_says_run_migrate(empty_db_url):
    engine = make_engine(empty_db_url)
    try:
        with pytest.raises(NotMigrated, match="run `supportbot migrate`"):
            await check_migrated(engine)
    finally:
        await engine.dispose()


def test_upgrade_is_idempotent(sqlite_url):
    upgrade(sqlite_url)
    upgrade(sqlite_url)  # nothing to do the second time, no error
    assert head_revision()
