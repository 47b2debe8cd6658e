"""The agent console's harness: the real service on SQLite with agent "ann" (the `service` fixture,
`start`), a browser-chat `Customer` listening on /chat/events, and logging in, CSRF tokens and form
posts over HTTP (`log_in`, `csrf_in`, `page_csrf`, `post`, `jar_session`)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import aiohttp
import pytest

from bot.handoff.agents import add_agent
from channels.web import public_id
from tests.fakes.doubles import Scripted
from tests.helpers import mini_settings
from tests.service_harness import running_service, wait_until


PASSWORD = "correct horse battery"
CANNED = {"Card blocked": "We have blocked your card; a new one is on its way."}


def ident() -> str:
    return uuid.uuid4().hex


def jar_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # unsafe: keep cookies of 127.0.0.1


def start(sqlite_db: str, settings=None):  # noqa: ANN001, ANN201
    settings = settings or mini_settings()
    settings.database.url = sqlite_db
    settings.handoff.canned_replies = dict(CANNED)
    return running_service(settings, {}, classifier=Scripted())


@pytest.fixture
async def service(sqlite_db):
    async with start(sqlite_db) as svc:
        await add_agent(svc.app.sessions, "ann", PASSWORD)
        yield svc


class Customer:
    """A visitor of the browser chat, listening on /chat/events like the chat page does."""

    def __init__(self, svc, http: aiohttp.ClientSession):  # noqa: ANN001
        self.svc, self.http, self.visitor = svc, http, ident()  # the browser's secret
        self.public = public_id(self.visitor)  # what is stored
        self.label = f"web visitor {self.public[:6]}"  # what agents see
        self.replies: asyncio.Queue[str] = asyncio.Queue()
        self.authors: dict[str, str] = {}  # reply text -> who the page shows it from ("bot" or "agent")

    async def __aenter__(self) -> "Customer":
        self.resp = await self.http.get(f"{self.svc.url}/chat/events", params={"visitor": self.visitor})
        await self.resp.content.readline()  # ": connected": the listener is registered
        self.task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        self.resp.close()

    async def _read(self) -> None:
        event = None
        async for raw in self.resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "reply":
                data = json.loads(line[6:])
                self.authors[data["text"]] = data["author"]
                await self.replies.put(data["text"])

    async def says(self, text: str) -> None:
        async with self.http.post(f"{self.svc.url}/chat/messages",
                                  json={"visitor": self.visitor, "id": ident(), "text": text}) as r:
            assert r.status == 202

    async def hears(self, expected: str, timeout: float = 15) -> str:
        async def find() -> str:
            while expected not in (text := await self.replies.get()):
                pass
            return text
        return await asyncio.wait_for(find(), timeout)


async def escalation_of(svc, label: str, draft: bool = False) -> int:  # noqa: ANN001
    async def found() -> int | None:
        return next((v.id for v in await svc.app.handoff.queue()
                     if v.customer == label and (v.draft or not draft)), None)
    return await wait_until(found, timeout=15)


def csrf_in(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


async def log_in(http: aiohttp.ClientSession, url: str, name: str, password: str) -> aiohttp.ClientResponse:
    async with http.get(f"{url}/agent/login") as r:
        token = csrf_in(await r.text())
    async with http.post(f"{url}/agent/login", data={"name": name, "password": password, "csrf": token,
                                                      "next": "/agent"}, allow_redirects=False) as r:
        await r.read()
        return r


async def page_csrf(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200
        return csrf_in(await r.text())


async def post(http: aiohttp.ClientSession, url: str, **form: str) -> tuple[int, str]:
    async with http.post(url, data=form, allow_redirects=False) as r:
        return r.status, await r.text()
