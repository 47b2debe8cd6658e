"""`supportbot serve` as a user runs it: starts with no tokens at all, reports health, stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import EXAMPLE_CONFIG, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path):
    e = {**os.environ, "PYTHONPATH": str(ROOT), "SUPPORTBOT_CONFIG": str(EXAMPLE_CONFIG),
         "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'sb.db'}"}
    for key in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "OPENAI_API_KEY"):
        e.pop(key, None)
    subprocess.run([sys.executable, "-m", "bot.cli.main", "migrate"], env=e, cwd=tmp_path, check=True,
                   capture_output=True)
    return e


def test_serve_without_tokens_serves_the_browser_chat_and_stops_on_sigterm(env, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "serve", "--port", str(port)], env=env, cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # wait for the "serving on" line: no fixed sleep
            if "serving on" in line:
                break
        else:
            pytest.fail(f"serve exited early with {proc.wait()}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            health = json.loads(r.read())
        assert health["status"] == "ok" and health["database"] == "ok"
        assert set(health["channels"]) == {"web"}  # no tokens: only the browser chat
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert "Northwind Goods" in r.read().decode()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "shutting down" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sqlite_refuses_several_workers(env, tmp_path):
    out = subprocess.run([sys.executable, "-m", "bot.cli.main", "serve", "--workers", "2"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "use PostgreSQL for --workers > 1" in out.stderr
