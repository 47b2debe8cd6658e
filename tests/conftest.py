"""Shared fixtures: migrated databases on SQLite (always) and PostgreSQL (when reachable)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "examples" / "supportbot.yaml"
PG_BASE = os.environ.get("SUPPORTBOT_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _pg_admin(sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    u = make_url(PG_BASE)
    conn = await asyncpg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password,
                                 database=u.database, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        asyncio.run(_pg_admin("SELECT 1"))
        return None
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__}: {e}"


_PG_PROBLEM: list[str | None] = []


def pg_problem() -> str | None:
    if not _PG_PROBLEM:
        _PG_PROBLEM.append(_pg_available())
    return _PG_PROBLEM[0]


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch):
    """Tests talk to 127.0.0.1 only: no proxy variable may route them elsewhere (slack_sdk and
    httpx read them from the environment)."""
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def pg_url():
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    problem = pg_problem()
    if problem:
        if os.environ.get("SUPPORTBOT_REQUIRE_PG"):
            pytest.fail(f"PostgreSQL required (SUPPORTBOT_REQUIRE_PG) but unreachable at {PG_BASE}: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {PG_BASE}: {problem}")
    from sqlalchemy.engine import make_url

    name = f"supportbot_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    yield make_url(PG_BASE).set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite+aiosqlite:///{tmp_path / 'supportbot.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request):
    """An empty database on each engine."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


@pytest.fixture
def db_url(empty_db_url):
    """A migrated database on each engine."""
    from bot.db.migrate import upgrade

    upgrade(empty_db_url)
    return empty_db_url


@pytest.fixture
def sqlite_db(sqlite_url):
    from bot.db.migrate import upgrade

    upgrade(sqlite_url)
    return sqlite_url


@pytest.fixture(scope="session", autouse=True)
def shared_model_cache(tmp_path_factory):
    """One model cache for the whole session, subprocesses included (SUPPORTBOT_MODEL_CACHE), warmed
    with the demo's model before any test: a `serve` started by a test loads it instead of training
    the embeddings classifier itself (tens of seconds on a loaded machine, inside a test's wait)."""
    cache = tmp_path_factory.mktemp("models")
    os.environ["SUPPORTBOT_MODEL_CACHE"] = str(cache)
    from bot.app import build_anger, build_classifier, build_safety
    from bot.settings import load_settings

    demo = load_settings(EXAMPLE_CONFIG)
    build_classifier(demo)
    build_safety(demo)  # the safety model by meaning, and the package's vectors every other config reuses
    build_anger(demo)
    yield cache
    os.environ.pop("SUPPORTBOT_MODEL_CACHE", None)


@pytest.fixture(scope="session")
def demo_settings_factory(shared_model_cache):
    """Load the demo config with a given database URL; the classifier cache is shared by the session."""
    cache = shared_model_cache

    def make(url: str):
        from bot.settings import load_settings

        s = load_settings(EXAMPLE_CONFIG)
        s.database.url = url
        s.classifier.cache_dir = str(cache)
        return s

    return make
