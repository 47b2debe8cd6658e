"""Logging in to the web app (tests/web_harness.py, no channels): `web_app` (it running on a database,
with agent "ann" unless add=False), `log_in` over HTTP with its CSRF token, `jar` (a client that keeps
127.0.0.1's cookies) and `session_cookie` (the sb_session it holds)."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager

import aiohttp

from bot.handoff.agents import add_agent
from tests.helpers import mini_settings
from tests.web_harness import serving


PASSWORD = "correct horse battery"


def jar() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: keep cookies of 127.0.0.1


@asynccontextmanager
async def web_app(db_url: str, add: bool = True):  # noqa: ANN201
    settings = mini_settings()
    settings.database.url = db_url
    async with serving(settings) as svc:
        if add:
            await add_agent(svc.app.sessions, "ann", PASSWORD)
        yield svc


async def log_in(http: aiohttp.ClientSession, url: str, name: str = "ann", password: str = PASSWORD,
                 next_: str = "/agent") -> aiohttp.ClientResponse:
    async with http.get(f"{url}/agent/login") as r:
        token = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)
    async with http.post(f"{url}/agent/login", allow_redirects=False,
                         data={"name": name, "password": password, "csrf": token, "next": next_}) as r:
        await r.read()
        return r


def session_cookie(http: aiohttp.ClientSession) -> str:
    [value] = [c.value for c in http.cookie_jar if c.key == "sb_session"]
    return value
