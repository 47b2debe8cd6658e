"""Issue 14 (A): malformed client input gets a 4xx and one warning line, never a 500 with a traceback.

Non-ASCII CSRF tokens, session cookies and Telegram secret headers (hmac.compare_digest raises
TypeError on a non-ASCII str) and deeply nested JSON (json.loads raises RecursionError) on the
Telegram webhook and the Slack Events API. Headers are written as raw bytes over a socket, as a
hostile client would (aiohttp's own client would not send them).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from urllib.parse import urlsplit

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.db import models as m
from bot.web.guard import BadBody, parse_json, same_secret
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import mini_settings
from tests.service_harness import running_service
from tests.harness.web_auth import jar, log_in, session_cookie, web_app
from tests.fakes.doubles import Scripted

TG_SECRET = "malformed-webhook-secret"
SLACK_SECRET = "malformed-signing-secret"
DEEP = b"[" * 100_000 + b"]" * 100_000  # far past Python's recursion limit, well under 1 MB
NON_ASCII = ["\u00e9t\u00e9".encode(), b"\xff\xfe\x80", "секрет".encode(), "é".encode("latin-1")]


async def raw_post(url: str, path: str, headers: dict[str, bytes], body: bytes = b"") -> int:
    """POST with header values sent byte for byte; returns the HTTP status."""
    u = urlsplit(url)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    head = b"".join(k.encode() + b": " + v + b"\r\n" for k, v in headers.items())
    writer.write(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + u.netloc.encode() + b"\r\n" + head
                 + b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    await reader.read()
    writer.close()
    return status


def utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def no_tracebacks(caplog) -> None:  # noqa: ANN001
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text


def test_guard_helpers():
    assert same_secret("abc", "abc") and same_secret(b"abc", "abc")
    for sent in ("été", "\udcff\udcfe", "abc\x00", None, 42, ""):
        assert not same_secret(sent, "abc")
    assert not same_secret("abc", None) and not same_secret("", "")
    assert parse_json(b'{"a": [1]}') == {"a": [1]}
    for body in (DEEP, b"\xff", b"{", "[" * 50_000):
        with pytest.raises(BadBody):
            parse_json(body)


# --- agent console and dashboard forms -----------------------------------------------------

async def test_non_ascii_csrf_tokens_and_cookies_get_4xx(db_url, caplog):
    caplog.set_level(logging.WARNING)
    async with web_app(db_url) as svc, jar() as http:
        assert (await log_in(http, svc.url)).status == 302
        cookie = session_cookie(http).encode()
        async with svc.app.sessions() as s:
            sessions = await s.scalar(select(func.count()).select_from(m.AgentSession))
        for value in NON_ASCII:
            for path in ("/agent/logout", "/agent/escalations/1/take"):
                assert await raw_post(svc.url, path, {"Cookie": b"sb_session=" + cookie,
                                                      "X-CSRF-Token": value}) == 403
                form = b"csrf=" + value  # a form field, as the browser would send it, and percent-encoded
                for body in (form, b"csrf=%C3%A9t%C3%A9", b"csrf=%FF%FE"):
                    assert await raw_post(svc.url, path, {"Cookie": b"sb_session=" + cookie, "Content-Type":
                                                          b"application/x-www-form-urlencoded"}, body) == (
                        403 if utf8(body) else 400)  # not UTF-8: no form at all
            # the login form's double-submit cookie (either side non-ASCII) and the signed session cookie
            for cookie_token, form_token in ((value, b"abc"), (b"abc", value)):
                body = b"name=ann&password=x&csrf=" + form_token
                assert await raw_post(svc.url, "/agent/login", {"Cookie": b"sb_login_csrf=" + cookie_token,
                                                                "Content-Type": b"application/x-www-form-urlencoded"},
                                      body) == (403 if utf8(body) else 400)
            forged = cookie.rsplit(b".", 1)[0] + b"." + value
            assert await raw_post(svc.url, "/agent/logout", {"Cookie": b"sb_session=" + forged}) == 401
        async with svc.app.sessions() as s:  # nobody was logged out by any of it
            assert await s.scalar(select(func.count()).select_from(m.AgentSession)) == sessions
        async with http.get(f"{svc.url}/agent", allow_redirects=False) as r:
            assert r.status == 200
            csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1).encode()
        # the right token in the header, a form body that is not UTF-8: the console's own form read
        assert await raw_post(svc.url, "/agent/escalations/1/reply", {
            "Cookie": b"sb_session=" + cookie, "X-CSRF-Token": csrf,
            "Content-Type": b"application/x-www-form-urlencoded"}, b"text=\xff\xfe") == 400
    no_tracebacks(caplog)


# --- Telegram webhook and Slack Events API -------------------------------------------------

@pytest.fixture
async def svc(sqlite_db):
    s = mini_settings()
    s.database.url = sqlite_db
    async with FakeTelegram() as tg, FakeSlack() as slack:
        env = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_MODE": "webhook",
               "TELEGRAM_WEBHOOK_URL": "https://bot.test/telegram/webhook", "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
               "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SLACK_SECRET,
               "SLACK_API_URL": slack.api_url}
        async with running_service(s, env, classifier=Scripted()) as service:
            await tg.wait_for("setWebhook", timeout=10)
            service.tg, service.slack = tg, slack
            yield service


def slack_headers(body: bytes, secret: str = SLACK_SECRET) -> dict[str, bytes]:
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts.encode(), "X-Slack-Signature": sig.encode()}


async def stored(svc) -> int:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(m.InboxEvent))


async def test_telegram_non_ascii_secret_and_deep_json(svc, caplog):
    caplog.set_level(logging.WARNING)
    update = json.dumps(svc.tg.text_update(31, "hello")).encode()
    json_type = {"Content-Type": b"application/json"}
    for value in NON_ASCII + [TG_SECRET.encode() + "é".encode()]:
        assert await raw_post(svc.url, "/telegram/webhook",
                              {**json_type, "X-Telegram-Bot-Api-Secret-Token": value}, update) == 401
    good = {**json_type, "X-Telegram-Bot-Api-Secret-Token": TG_SECRET.encode()}
    deep_update = b'{"update_id": 5, "message": ' + DEEP + b"}"
    for body in (DEEP, deep_update, b'{"update_id": 6, "x": ' + DEEP + b"}"):
        assert await raw_post(svc.url, "/telegram/webhook", good, body) == 400
    assert await stored(svc) == 0
    assert "telegram: webhook body is no Telegram Update (BadBody): 400" in caplog.text
    assert "wrong or missing secret token" in caplog.text
    assert await raw_post(svc.url, "/telegram/webhook", good, update) == 200  # still serving
    assert await stored(svc) == 1
    no_tracebacks(caplog)


async def test_slack_non_ascii_signature_and_deep_json(svc, caplog):
    caplog.set_level(logging.WARNING)
    event = json.dumps(svc.slack.message_event("U123", "hello", channel="D9")).encode()
    for value in NON_ASCII:
        headers = {**slack_headers(event), "Content-Type": b"application/json", "X-Slack-Signature": value}
        assert await raw_post(svc.url, "/slack/events", headers, event) == 401
        headers = {**slack_headers(event), "Content-Type": b"application/json", "X-Slack-Request-Timestamp": value}
        assert await raw_post(svc.url, "/slack/events", headers, event) == 401
    form = b"application/x-www-form-urlencoded"
    for body, ctype in ((DEEP, b"application/json"), (b'{"type": "event_callback", "event": ' + DEEP + b"}",
                                                        b"application/json"),
                        (b"payload=" + DEEP, form), (b"payload=" + re.sub(rb"([\[\]])", lambda x: b"%5B" if
                                                      x.group() == b"[" else b"%5D", DEEP[:20_000]), form)):
        assert await raw_post(svc.url, "/slack/events", {**slack_headers(body), "Content-Type": ctype}, body) == 400
    assert await stored(svc) == 0
    assert "slack: unreadable event body" in caplog.text
    assert await raw_post(svc.url, "/slack/events", {**slack_headers(event), "Content-Type": b"application/json"},
                          event) == 200
    assert await stored(svc) == 1
    no_tracebacks(caplog)


async def test_aiohttp_client_still_gets_401_for_a_wrong_ascii_secret(svc):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{svc.url}/telegram/webhook", json=svc.tg.text_update(1, "hi"),
                             headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as r:
            assert r.status == 401
