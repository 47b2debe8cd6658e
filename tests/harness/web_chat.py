"""The browser chat's harness: the real service on SQLite (the `service` fixture, with `svc.http` an
aiohttp session), `ident` (a fresh visitor or message id) and `read_reply` (the next `reply` event of
a /chat/events stream)."""

from __future__ import annotations

import json
import uuid

import aiohttp
import pytest

from tests.fakes.doubles import Scripted
from tests.helpers import mini_settings
from tests.service_harness import running_service


@pytest.fixture
async def service(sqlite_db):
    settings = mini_settings()
    settings.database.url = sqlite_db
    async with running_service(settings, {}, classifier=Scripted()) as svc:
        async with aiohttp.ClientSession() as http:
            svc.http = http
            yield svc


def ident() -> str:
    return uuid.uuid4().hex


async def read_reply(resp: aiohttp.ClientResponse) -> dict:
    """The next `reply` event from an SSE stream."""
    event = None
    async for raw in resp.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == "reply":
            return json.loads(line[6:])
    raise AssertionError("stream ended without a reply")
