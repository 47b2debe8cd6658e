"""`supportbot serve` with the browser chat: HTTP API, server-sent events, health, and a real browser."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from sqlalchemy import func, select

from bot.db.models import InboxEvent
from tests.harness.web_chat import ident, read_reply, service  # noqa: F401 - service is a fixture
from tests.browser import launch, needs_chromium


async def test_message_in_reply_out_over_sse(service):
    visitor = ident()
    async with service.http.get(f"{service.url}/chat/events", params={"visitor": visitor}) as events:
        assert events.status == 200 and events.headers["Content-Type"].startswith("text/event-stream")
        await events.content.readline()  # ": connected" - the listener is registered
        async with service.http.post(f"{service.url}/chat/messages",
                                     json={"visitor": visitor, "id": ident(), "text": "where is my order?"}) as r:
            assert r.status == 202 and (await r.json()) == {"accepted": True, "duplicate": False}
        reply = await asyncio.wait_for(read_reply(events), 10)
    assert reply["text"] == "Hi there, track your order at https://shop.test/orders."
    async with service.http.get(f"{service.url}/chat/history", params={"visitor": visitor}) as r:
        history = await r.json()
    assert [h["author"] for h in history] == ["customer", "bot"]


async def test_duplicate_message_id_is_stored_once(service):
    visitor, msg_id = ident(), ident()
    for expected in (False, True):
        async with service.http.post(f"{service.url}/chat/messages",
                                     json={"visitor": visitor, "id": msg_id, "text": "hello"}) as r:
            assert (await r.json())["duplicate"] is expected
    async with service.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(InboxEvent)) == 1


@pytest.mark.parametrize("body, status", [
    (b"not json", 400),
    (b"[1, 2]", 400),
    (json.dumps({"visitor": "short", "id": "x" * 10, "text": "hi"}).encode(), 400),
    (json.dumps({"visitor": "v" * 10, "id": "x" * 10, "text": 5}).encode(), 400),
    (json.dumps({"visitor": "v" * 10, "id": "x" * 10, "text": "a" * 10_001}).encode(), 400),
    (b"\xff\xfe\x00garbage", 400),
    (b"x" * (2 * 1024 * 1024), 413),
    (b"[" * 100_000 + b"]" * 100_000, 400),  # nested too deep for the parser: once a 500 with a traceback
    (b'{"visitor": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400),
    (b'"just a string"', 400),
    (b"null", 400),
    (json.dumps({"visitor": ["v" * 10], "id": "x" * 10, "text": "hi"}).encode(), 400),
    (json.dumps({"visitor": "v" * 10, "id": {"a": 1}, "text": "hi"}).encode(), 400),
    (json.dumps({"visitor": "v" * 10, "id": "x" * 10, "text": None}).encode(), 400),
])
async def test_bad_input_gets_a_clear_4xx(service, body, status):
    async with service.http.post(f"{service.url}/chat/messages", data=body,
                                 headers={"Content-Type": "application/json"}) as r:
        assert r.status == status
    async with service.app.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(InboxEvent)) == 0


async def test_deeply_nested_json_is_a_400_and_one_warning_line(service, caplog):
    caplog.set_level(logging.WARNING)
    async with service.http.post(f"{service.url}/chat/messages", data=b"[" * 100_000 + b"]" * 100_000,
                                 headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json()) == {"error": "expected a JSON body"}
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert record.name == "supportbot.web" and "RecursionError" in record.getMessage()
    assert record.exc_info is None and "\n" not in record.getMessage()


async def test_healthz_reports_database_and_channels(service):
    async with service.http.get(f"{service.url}/healthz") as r:
        body = await r.json()
    assert r.status == 200 and body["database"] == "ok" and body["channels"]["web"]["state"] == "ready"
    assert body["inbox_backlog"] == 0


async def test_page_is_served_with_the_company_name(service):
    async with service.http.get(service.url + "/") as r:
        html = await r.text()
    assert r.status == 200 and "Test Shop support" in html
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in html and "<style>" not in html and ' on' not in html.replace(' only', '')  # no inline code
    async with service.http.get(service.url + "/chat/chat.js") as r:
        assert r.status == 200 and r.content_type == "text/javascript" and "EventSource" in await r.text()
    async with service.http.get(service.url + "/chat/chat.css") as r:
        assert r.status == 200 and r.content_type == "text/css"
    async with service.http.get(service.url + "/chat/other.js") as r:
        assert r.status == 404


@needs_chromium
async def test_browser_sends_a_message_and_sees_the_reply(service, tmp_path):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page()
            await page.goto(service.url + "/")
            await page.fill("#text", "where is my order?")
            await page.click("button[type=submit]")
            reply = page.locator(".msg.bot").first
            await reply.wait_for(timeout=15_000)
            assert "track your order at https://shop.test/orders" in await reply.inner_text()
            await page.fill("#text", "<img src=x onerror=alert(1)>hello")
            await page.click("button[type=submit]")
            await page.locator(".msg.bot").nth(1).wait_for(timeout=15_000)
            assert await page.locator(".msg.customer img").count() == 0  # shown as text, never as HTML
            await page.screenshot(path=str(tmp_path / "web-chat.png"))
        finally:
            await browser.close()
