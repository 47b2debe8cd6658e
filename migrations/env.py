"""Alembic environment (async): the same revisions serve SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import create_async_engine

from bot.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from bot.settings import load_settings  # the config's database.url, or SUPPORTBOT_DATABASE_URL

    return load_settings().database.url


def _record(ctx, step, heads, run_args) -> None:  # noqa: ANN001 - alembic's on_version_apply hook
    """Note each applied revision by its file name, for `supportbot migrate` to report."""
    applied = config.attributes.get("applied")
    if applied is not None and step.is_upgrade:
        script = step.up_revision
        applied.append(Path(script.path).stem if getattr(script, "path", None) else step.up_revision_id)


def _configure(connection=None, url=None) -> None:  # noqa: ANN001
    is_sqlite = (url or str(connection.engine.url)).startswith("sqlite")
    context.configure(
        connection=connection,
        url=url,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,  # SQLite cannot ALTER most things; batch mode copies tables
        compare_type=True,
        on_version_apply=_record,
    )


def run_migrations_offline() -> None:
    _configure(url=_url())
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection) -> None:  # noqa: ANN001
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(_url(), poolclass=pool.NullPool)
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
    await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
