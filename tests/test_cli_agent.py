"""`supportbot agent add | passwd | list` as an admin runs them."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from bot.handoff.agents import authenticate
from bot.db.engine import make_engine, session_factory
from tests.conftest import EXAMPLE_CONFIG, ROOT


def cli(args, stdin, env, cwd):  # noqa: ANN001, ANN201
    return subprocess.run([sys.executable, "-m", "bot.cli.main", *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


async def can_log_in(url: str, name: str, password: str) -> bool:
    engine = make_engine(url)
    try:
        return await authenticate(session_factory(engine), name, password) is not None
    finally:
        await engine.dispose()


def test_agent_accounts(sqlite_db, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SUPPORTBOT_CONFIG": str(EXAMPLE_CONFIG),
           "SUPPORTBOT_DATABASE_URL": sqlite_db}
    ok = cli(["agent", "add", "ann", "--password-stdin"], "secretpass\n", env, tmp_path)
    assert ok.returncode == 0 and "agent 'ann' added" in ok.stderr
    again = cli(["agent", "add", "ann", "--password-stdin"], "secretpass\n", env, tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr
    short = cli(["agent", "add", "bob", "--password-stdin"], "short\n", env, tmp_path)
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert asyncio.run(can_log_in(sqlite_db, "ann", "secretpass"))
    changed = cli(["agent", "passwd", "ann", "--password-stdin"], "newsecret1\n", env, tmp_path)
    assert changed.returncode == 0
    assert asyncio.run(can_log_in(sqlite_db, "ann", "newsecret1"))
    assert not asyncio.run(can_log_in(sqlite_db, "ann", "secretpass"))
    listed = cli(["agent", "list"], "", env, tmp_path)
    assert listed.stdout.splitlines() == ["ann\tactive\t-"]
    missing = cli(["agent", "passwd", "zed", "--password-stdin"], "newsecret1\n", env, tmp_path)
    assert missing.returncode == 2 and "no agent named 'zed'" in missing.stderr
