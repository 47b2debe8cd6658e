"""Reply buttons in the browser chat: carried by the SSE event and the history, shown as chips; a click
posts the label as an ordinary message (same endpoint, own message id) and the next reply appears.

A reply with buttons is queued through the outbox directly (bot.db.store.queue_reply), as the core
queues its "did you mean" and "did that help" replies, so the test does not depend on which of
those flows the core runs. The `Scripted` classifier answers "Order status" with the canned reply.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.db import models as m
from bot.db.store import queue_reply
from bot.messages import Reply
from tests.browser import launch, needs_chromium
from tests.service_harness import wait_until
from tests.test_web_chat import ident, read_reply, service  # noqa: F401 - service is a fixture

LABELS = ("Order status", "Returns", "Something else")
ORDER_REPLY = "Hi there, track your order at https://shop.test/orders."


async def conversation_of(svc, visitor: str) -> m.Conversation | None:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return await s.scalar(select(m.Conversation).join(m.Customer, m.Customer.id == m.Conversation.customer_id)
                              .where(m.Customer.channel == "web", m.Customer.external_id == visitor))


async def send_buttons(svc, visitor: str, text: str = "Did you mean one of these?",  # noqa: ANN001
                       buttons: tuple[str, ...] = LABELS) -> None:
    """Queue a bot reply with buttons in the visitor's conversation, as the core does, and deliver it."""
    conv = await conversation_of(svc, visitor)
    reply = Reply(text=text, channel="web", customer_id=visitor, conversation_key=visitor, buttons=buttons)
    async with svc.app.sessions() as s, s.begin():
        await queue_reply(s, conv.id, reply, "bot", f"test-buttons:{ident()}")
    await svc.app.outbox.flush()


async def test_sse_and_history_carry_the_buttons(service):
    visitor, url = ident(), service.url
    async with service.http.get(f"{url}/chat/events", params={"visitor": visitor}) as events:
        await events.content.readline()  # ": connected"
        async with service.http.post(f"{url}/chat/messages", json={"visitor": visitor, "id": ident(),
                                                                   "text": "hello"}) as r:
            assert r.status == 202
        first = await asyncio.wait_for(read_reply(events), 10)
        assert first["buttons"] == []
        await send_buttons(service, visitor)
        second = await asyncio.wait_for(read_reply(events), 10)
        assert (second["text"], second["buttons"]) == ("Did you mean one of these?", list(LABELS))
        # the label as a message: same endpoint, so the id dedupes a repeated click
        press = {"visitor": visitor, "id": ident(), "text": "Order status"}
        for duplicate in (False, True):
            async with service.http.post(f"{url}/chat/messages", json=press) as r:
                assert (await r.json())["duplicate"] is duplicate
        third = await asyncio.wait_for(read_reply(events), 10)
        assert (third["text"], third["buttons"]) == (ORDER_REPLY, [])
    async with service.http.get(f"{url}/chat/history", params={"visitor": visitor}) as r:
        history = await r.json()
    assert [(h["author"], h["buttons"]) for h in history] == [
        ("customer", []), ("bot", []), ("bot", list(LABELS)), ("customer", []), ("bot", [])]
    [event] = [e for e in await _events(service) if e.payload["text"] == "Order status"]
    assert event.payload["conversation_key"] == visitor and event.payload["kind"] == "text"


async def _events(svc) -> list[m.InboxEvent]:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return (await s.scalars(select(m.InboxEvent).order_by(m.InboxEvent.id))).all()


@needs_chromium
async def test_browser_shows_chips_and_a_click_sends_the_label(service, tmp_path):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"  # CSP reports too
                    and not msg.location.get("url", "").endswith("/favicon.ico") else None)
            await page.goto(service.url + "/")
            await page.fill("#text", "hello")
            await page.click("button[type=submit]")
            await page.locator(".msg.bot").first.wait_for(timeout=15_000)
            visitor = await page.evaluate("localStorage.getItem('supportbot-visitor')")

            await send_buttons(service, visitor, "Did you mean <b>one</b> of these?",
                               (*LABELS[:2], "<img src=x onerror=alert(1)>"))
            chips = page.locator(".chips .chip")
            await chips.nth(2).wait_for(timeout=15_000)
            assert await chips.all_inner_texts() == [*LABELS[:2], "<img src=x onerror=alert(1)>"]
            assert await page.locator(".chips img, .msg b").count() == 0  # labels and text as text
            assert await page.locator(".msg.bot").nth(1).inner_text() == "Did you mean <b>one</b> of these?"

            await chips.first.click()
            answer = page.locator(".msg.bot").nth(2)
            await answer.wait_for(timeout=15_000)
            assert await answer.inner_text() == ORDER_REPLY
            assert await page.locator(".msg.customer").all_inner_texts() == ["hello", "Order status"]
            assert [await c.is_disabled() for c in await chips.all()] == [True, True, True]
            assert "chosen" in (await chips.first.get_attribute("class"))
            ins = [e.payload for e in await _events(service)]
            assert [(p["text"], p["conversation_key"]) for p in ins] == [("hello", visitor), ("Order status", visitor)]
            await page.screenshot(path=str(tmp_path / "web-chat-buttons.png"))

            # after a reload the history shows the chips, answered: no longer pressable
            await page.reload()
            await page.locator(".msg.bot").nth(2).wait_for(timeout=15_000)
            reloaded = page.locator(".chips .chip")
            assert await reloaded.count() == 3
            assert [await c.is_disabled() for c in await reloaded.all()] == [True, True, True]

            # a fresh question's chips are live; typing instead of clicking answers it too
            await send_buttons(service, visitor, "Did that help?", ("That helped", "I need more help"))
            live = page.locator(".chips").nth(1).locator(".chip")
            await live.nth(1).wait_for(timeout=15_000)
            assert not await live.first.is_disabled()
            await page.fill("#text", "That helped")
            await page.click("button[type=submit]")
            await wait_until(lambda: live.first.is_disabled(), timeout=5)
            await wait_until(lambda: _texts_in(service, "That helped"), timeout=10)
            assert errors == []
        finally:
            await browser.close()


async def _texts_in(svc, text: str) -> bool:  # noqa: ANN001
    return any(e.payload["text"] == text for e in await _events(svc))

