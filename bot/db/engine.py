"""Engine and sessions: one async engine per process, opened and closed in one place."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar, Unpack

from sqlalchemy import CursorResult, Result, event, inspect
from sqlalchemy.engine import Connection, ExceptionContext, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

REQUIRED_TABLES = ("inbox_events", "messages", "route_decisions", "outbox_messages")
T = TypeVar("T")
log = logging.getLogger("supportbot.db")


class NotMigrated(Exception):
    """The database exists but has not been migrated (or is behind)."""

    def __init__(self, url: str, detail: str = ""):
        safe = make_url(url).render_as_string(hide_password=True)
        super().__init__(f"the database {safe} is not migrated{': ' + detail if detail else ''}; run `supportbot migrate`")


def make_engine(url: str, echo: bool = False, *, pool_size: int = 20, pre_ping: bool = False) -> AsyncEngine:
    """An engine for SQLite (aiosqlite) or PostgreSQL (asyncpg) with sane defaults."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # one connection: SQLite has one writer anyway, and with several connections a waiting writer
        # sleeps in SQLite's busy handler (1, 2, 5 ... 100 ms); with one, statements queue in the
        # process instead (load bench: 30 -> 39 messages/s, 29 -> 21 ms CPU per message)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30}, pool_size=1, max_overflow=0)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # Connections are kept, not opened per burst: an overflow connection is closed when handed back,
    # and a new one pays connect + auth + statement preparation again (seen under load: ~6% of CPU).
    # Pre-ping (database.pre_ping, default off) is a round trip on every checkout (load bench: 56 -> 46
    # messages/s). Without it a connection the server dropped fails its first statement: that error is
    # recognised as a disconnect (below, also for the asyncpg errors SQLAlchemy does not classify), the
    # pool drops every connection of that generation, and the hot paths run their transaction once more
    # on a fresh connection (`retry_on_disconnect`), so a PostgreSQL restart costs one failed statement.
    engine = create_async_engine(url, echo=echo, pool_pre_ping=pre_ping, pool_size=pool_size, max_overflow=10)
    event.listen(engine.sync_engine, "handle_error", _recognise_disconnect)
    return engine


# asyncpg errors that mean the connection is gone, which SQLAlchemy does not all classify as a
# disconnect: marked so, the pool drops every connection of that generation, and the next
# checkout (the caller's retry) opens a fresh one, so pre-ping can be off (database.pre_ping)
_GONE = ("ConnectionDoesNotExistError", "ConnectionFailureError", "InterfaceError", "AdminShutdownError",
         "CannotConnectNowError", "CrashShutdownError", "ConnectionResetError", "BrokenPipeError")
_GONE_TEXT = ("connection is closed", "connection was closed", "terminating connection", "underlying connection")


def _recognise_disconnect(context: ExceptionContext) -> None:
    if context.is_disconnect:
        return
    err = context.original_exception
    chain = [err, getattr(err, "__cause__", None), getattr(err, "__context__", None)]
    for e in (e for e in chain if e is not None):
        if type(e).__name__ in _GONE or any(t in str(e).lower() for t in _GONE_TEXT):
            context.is_disconnect = True
            return


async def retry_on_disconnect(op: Callable[[], Awaitable[T]]) -> T:
    """Run one transaction; once more when it failed because the connection was gone (the pool was
    refreshed: the retry gets a fresh connection).

    Only for transactions that are safe to run twice, as the hot paths' are: a failure before the
    commit wrote nothing, and one at the commit itself (did it commit?) finds on the retry what the
    first wrote (an accept sees its event stored, a finish finds its event done, a sent-mark is
    written twice with the same values; a claim whose commit went through leaves what it leased to the
    lease's end, seconds)."""
    try:
        return await op()
    except DBAPIError as e:
        if not e.connection_invalidated:
            raise
        log.warning("the database connection was gone (%s); retrying once on a fresh one", type(e.orig).__name__)
        return await op()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def rows_affected(result: Result[Unpack[tuple[Any, ...]]]) -> int:
    """The row count of an INSERT / UPDATE / DELETE run through a session. Its result is a CursorResult,
    which AsyncSession.execute is not typed to return."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"not the result of a DML statement: {type(result).__name__}")
    return result.rowcount


async def check_migrated(engine: AsyncEngine) -> None:
    """Raise NotMigrated unless the schema is at the newest Alembic revision."""
    from bot.db.migrate import head_revision  # local: keeps alembic off the import path of hot code

    def _inspect(sync_conn: Connection) -> tuple[set[str], str | None]:
        names = set(inspect(sync_conn).get_table_names())
        version = None
        if "alembic_version" in names:
            version = sync_conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return names, version

    try:
        async with engine.connect() as conn:
            names, version = await conn.run_sync(_inspect)
    except (OperationalError, ProgrammingError, OSError) as e:
        raise NotMigrated(str(engine.url), f"cannot read it ({type(e).__name__})") from e
    missing = [t for t in REQUIRED_TABLES if t not in names]
    if missing:
        raise NotMigrated(str(engine.url), f"missing tables {', '.join(missing)}")
    head = head_revision()
    if version != head:
        raise NotMigrated(str(engine.url), f"schema revision {version} is not the newest ({head})")
