"""Issue 14, items 1-3 and 10a: login lockout and scrypt off the event loop, no open redirect after
login, revocable server-side sessions, and the dashboard showing who is logged in.

The web app runs for real (tests/web_harness.py) and is driven over HTTP like a browser; the
admin commands run as a subprocess on the same database, as an admin would run them.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.handoff import agents
from bot.handoff.agents import add_agent, authenticate
from bot.db import models as m
from bot.messages import utcnow
from bot.web.auth import _safe_next
from tests.conftest import EXAMPLE_CONFIG, ROOT
from tests.harness.web_auth import PASSWORD, jar, log_in, session_cookie, web_app


@pytest.fixture
async def svc(db_url):  # SQLite and, with SUPPORTBOT_TEST_PG_URL, PostgreSQL
    async with web_app(db_url) as svc:
        yield svc


def admin(db_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SUPPORTBOT_CONFIG": str(EXAMPLE_CONFIG),
           "SUPPORTBOT_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "bot.cli.main", "agent", *args], input=stdin, capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


async def status_with(url: str, cookie: str, method: str = "GET", path: str = "/agent") -> int:
    """What a copy of a session cookie gets, sent from a fresh client."""
    async with aiohttp.ClientSession(cookies={"sb_session": cookie}) as other:
        async with other.request(method, url + path, allow_redirects=False) as r:
            if method == "GET" and r.status == 302:
                assert r.headers["Location"].startswith("/agent/login")
            return r.status


# -- 1. lockout, and scrypt off the event loop -----------------------------------------------------

async def test_account_locks_after_5_failures_survives_a_restart_and_an_admin_unlocks_it(db_url):
    async with web_app(db_url) as svc, jar() as http:
        for _ in range(5):
            assert (await log_in(http, svc.url, password="wrong password")).status == 401
        r = await log_in(http, svc.url)  # the right password, but locked
        assert r.status == 429 and 0 < int(r.headers["Retry-After"]) <= 15 * 60
        assert "Too many failed logins" in await r.text()
        assert not [c for c in http.cookie_jar if c.key == "sb_session"]
        async with jar() as other:  # a name that does not exist locks too (no hint which names exist)
            for _ in range(5):
                assert (await log_in(other, svc.url, name="nobody", password="wrong password")).status == 401
            assert (await log_in(other, svc.url, name="nobody", password="wrong password")).status == 429

    async with web_app(db_url, add=False) as svc, jar() as http:  # restarted: still locked
        assert (await log_in(http, svc.url)).status == 429
        missing = admin(db_url, "unlock", "zed")
        assert missing.returncode == 2 and "no agent named 'zed'" in missing.stderr
        done = admin(db_url, "unlock", "ann")
        assert done.returncode == 0 and "agent 'ann' unlocked (5 failed logins cleared)" in done.stderr, done.stderr
        r = await log_in(http, svc.url)
        assert r.status == 302 and r.headers["Location"] == "/agent"
        async with http.get(f"{svc.url}/agent", allow_redirects=False) as page:
            assert page.status == 200
        async with svc.app.sessions() as s:  # a success forgives the account's failures
            assert await s.scalar(select(m.LoginFailure.id).where(m.LoginFailure.account == "ann")) is None


async def test_one_address_locks_after_20_failures_over_many_names(svc):
    async with jar() as http:
        for i in range(20):  # 4 names x 5: no single account is locked, the address is
            assert (await log_in(http, svc.url, name=f"guess{i % 4}", password="wrong password")).status == 401
        r = await log_in(http, svc.url)
        assert r.status == 429 and int(r.headers["Retry-After"]) > 0


async def test_parallel_attempts_cannot_slip_past_the_limit(svc):
    async with jar() as http:
        async with http.get(f"{svc.url}/agent/login") as r:
            token = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)

        async def attempt() -> int:
            async with http.post(f"{svc.url}/agent/login", allow_redirects=False,
                                 data={"name": "ann", "password": "wrong password", "csrf": token}) as r:
                return r.status

        statuses = await asyncio.gather(*(attempt() for _ in range(15)))
    assert set(statuses) <= {401, 429} and statuses.count(401) <= 5 and statuses.count(429) >= 10, statuses


async def test_scrypt_runs_off_the_event_loop_and_a_flood_is_refused_not_queued(svc, monkeypatch):
    threads: list[str] = []
    real = agents.hashlib.scrypt

    def spy(*args, **kw):  # noqa: ANN002, ANN003, ANN202
        threads.append(threading.current_thread().name)
        return real(*args, **kw)

    monkeypatch.setattr(agents.hashlib, "scrypt", spy)
    assert await authenticate(svc.app.sessions, "ann", PASSWORD) is not None
    assert await authenticate(svc.app.sessions, "nobody", PASSWORD) is None
    assert len(threads) == 2 and all(t.startswith("scrypt") for t in threads), threads

    monkeypatch.setattr(agents, "MAX_PENDING", 0)  # every hash slot taken: answer at once, 503
    with pytest.raises(agents.Busy):
        await authenticate(svc.app.sessions, "ann", PASSWORD)
    async with jar() as http:
        r = await log_in(http, svc.url)
        assert r.status == 503 and r.headers["Retry-After"] == "1"
    async with svc.app.sessions() as s:  # a refused attempt is no failure
        assert await s.scalar(select(m.LoginFailure.id)) is None


# -- 2. no open redirect after login -------------------------------------------------------------

HOSTILE_NEXT = [
    "/\t/evil.example", "/%09/evil.example", "/\n/evil.example", "/\r\n//evil.example", "/\x00/evil",
    "\\\\evil", "//evil", "///evil", "/\\evil", "/\\/evil", "\\/evil", "/%5Cevil", "/%5c/evil", "/%2F/evil",
    "%2F%2Fevil", "/%252F/evil", "https://evil", "http:/evil", "HTTPS://evil", "javascript:alert(1)",
    "JaVaScRiPt:alert(1)", "data:text/html,<script>alert(1)</script>", " //evil", "evil.example",
    "/\uff0f/evil", "\uff0f\uff0fevil", "/\u2215/evil", "/\u200b/evil", "/%E2%80%8B/evil", "/%ff/evil",
    "\u3002evil", "/ /evil",
]


@pytest.mark.parametrize("value", HOSTILE_NEXT)
def test_safe_next_refuses(value):
    assert _safe_next(value) == "/agent"


@pytest.mark.parametrize("value", ["/agent", "/agent/escalations/7", "/dashboard?since=2024-03-01&until=2024-03-03",
                                   "/dashboard?channel=web%20chat"])
def test_safe_next_keeps_local_paths(value):
    assert _safe_next(value) == value


async def test_login_handler_never_redirects_off_site(svc):
    async with jar() as http:
        for value in HOSTILE_NEXT:
            async with http.get(f"{svc.url}/agent/login", params={"next": value}) as r:
                assert 'name="next" value="/agent"' in await r.text(), value
            r = await log_in(http, svc.url, next_=value)
            assert r.status == 302 and r.headers["Location"] == "/agent", (value, r.headers["Location"])
        r = await log_in(http, svc.url, next_="/dashboard?since=2024-03-01")
        assert r.headers["Location"] == "/dashboard?since=2024-03-01"


# -- 3. revocable sessions -------------------------------------------------------------------------

async def test_logout_ends_the_session_for_every_copy_of_the_cookie(svc):
    async with jar() as http:
        assert (await log_in(http, svc.url)).status == 302
        cookie = session_cookie(http)
        assert await status_with(svc.url, cookie) == 200
        async with http.get(f"{svc.url}/agent") as r:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)
        async with http.post(f"{svc.url}/agent/logout", data={"csrf": csrf}, allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/agent/login"
    assert await status_with(svc.url, cookie) == 302
    assert await status_with(svc.url, cookie, "POST", "/agent/logout") == 401
    assert await status_with(svc.url, cookie, path="/dashboard") == 302
    async with svc.app.sessions() as s:  # revoked in the database, which keeps only a hash of the token
        [row] = (await s.scalars(select(m.AgentSession))).all()
    assert row.revoked_at is not None and len(row.id) == 64 and row.id not in cookie


async def test_passwd_and_disable_end_sessions_and_expiry_ends_one(db_url):
    async with web_app(db_url) as svc:
        await add_agent(svc.app.sessions, "bob", PASSWORD)
        cookies = {}
        for name in ("ann", "bob"):
            async with jar() as http:
                assert (await log_in(http, svc.url, name=name)).status == 302
                cookies[name] = session_cookie(http)
            assert await status_with(svc.url, cookies[name]) == 200

        changed = admin(db_url, "passwd", "ann", "--password-stdin", stdin="a new password\n")
        assert changed.returncode == 0, changed.stderr
        assert await status_with(svc.url, cookies["ann"]) == 302  # the old cookie is dead
        assert await status_with(svc.url, cookies["bob"]) == 200  # other agents are not affected
        async with jar() as http:
            assert (await log_in(http, svc.url, password="a new password")).status == 302
            fresh = session_cookie(http)
        assert await status_with(svc.url, fresh) == 200

        async with svc.app.sessions.begin() as s:  # 12 h later (the cookie's own expiry is checked too)
            await s.execute(update(m.AgentSession).values(expires_at=utcnow() - timedelta(seconds=1))
                            .where(m.AgentSession.agent_id == select(m.Agent.id).where(m.Agent.name == "bob")
                                   .scalar_subquery()))
        assert await status_with(svc.url, cookies["bob"]) == 302

        disabled = admin(db_url, "disable", "ann")
        assert disabled.returncode == 0 and "disabled" in disabled.stderr
        assert await status_with(svc.url, fresh) == 302
        async with jar() as http:
            assert (await log_in(http, svc.url, password="a new password")).status == 401
        assert admin(db_url, "enable", "ann").returncode == 0
        assert await status_with(svc.url, fresh) == 302  # enabling again does not bring old sessions back
        async with jar() as http:
            assert (await log_in(http, svc.url, password="a new password")).status == 302


# -- 10a. the dashboard shows who is logged in ---------------------------------------------------

async def test_dashboard_shows_the_agent_and_a_logout_button(svc):
    async with jar() as http:
        assert (await log_in(http, svc.url, next_="/dashboard")).status == 302
        async with http.get(f"{svc.url}/dashboard") as r:
            assert r.status == 200
            page = await r.text()
        header = re.search(r"<header>.*?</header>", page, re.S).group(0)
        assert "ann" in header and 'action="/agent/logout"' in header and "Log out" in header
        csrf = re.search(r'name="csrf" value="([^"]+)"', header).group(1)
        async with http.post(f"{svc.url}/agent/logout", data={"csrf": csrf}, allow_redirects=False) as r:
            assert r.status == 302  # the dashboard's logout works: its CSRF token is the session's
        async with http.get(f"{svc.url}/dashboard", allow_redirects=False) as r:
            assert r.status == 302
