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


def test_upgrade_names_the_revisions_it_applied(sqlite_url):
    assert upgrade(sqlite_url, "0007")[-2:] == ["0006_agent_sessions", "0007_web_visitor_digest"]
    assert upgrade(sqlite_url) == ["0008_outbox_locked_by", "0009_feedback_comment_only", "0010_action_calls",
                                   "0011_languages", "0012_agent_notes", "0013_assignment"]
    assert upgrade(sqlite_url) == []


def test_migrate_command_says_what_it_applied_or_that_it_was_up_to_date(tmp_path):
    from typer.testing import CliRunner

    from bot.cli.main import app as cli

    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    first = CliRunner().invoke(cli, ["migrate", "--url", url])
    assert first.exit_code == 0, first.output
    words = first.output.split()
    assert words[0] == "applied" and "0001_initial_schema," in words and "0013_assignment" in words
    assert "already" not in first.output and f"up to date at {head_revision()}" in " ".join(words)
    again = CliRunner().invoke(cli, ["migrate", "--url", url])
    assert again.exit_code == 0, again.output
    assert f"already up to date at {head_revision()}" in " ".join(again.output.split())
    assert "applied" not in again.output
