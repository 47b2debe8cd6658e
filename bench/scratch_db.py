"""A throwaway, migrated database for a bench run: a SQLite file in the run's folder, or a PostgreSQL
database of its own on the server --pg-url names, dropped afterwards (bench/load.py, bench/sql_count.py)."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from bot.db.migrate import upgrade


@asynccontextmanager
async def scratch_database(db: str, pg_url: str, folder: Path, name: str) -> AsyncIterator[str]:
    """Yields the URL of a fresh database migrated to the newest revision; `name` prefixes it."""
    if db == "sqlite":
        url, drop = f"sqlite+aiosqlite:///{folder / f'{name}.db'}", None
    else:
        from sqlalchemy.engine import make_url

        from tests.conftest import _pg_admin

        database = f"supportbot_{name}_{uuid.uuid4().hex[:10]}"
        await _pg_admin(f'CREATE DATABASE "{database}"')
        url = make_url(pg_url).set(database=database).render_as_string(hide_password=False)
        drop = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        if drop:
            from tests.conftest import _pg_admin

            await _pg_admin(drop)
