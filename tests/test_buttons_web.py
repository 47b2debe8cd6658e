"""Reply buttons in the browser chat: carried by the SSE event and the history, shown as chips; a click
posts the label as an ordinary message (same endpoint, own message id) and the next reply appears.

A reply with buttons is queued through the outbox directly (bot.db.store.queue_reply), as the core
queues its replies, so most tests do not depend on which flow the core runs; the `Scripted`
classifier answers "Order status" with the canned reply (which asks "That helped" / "I need more
help"). The last test is the core's clarify flow end to end, with the demo company.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.db import models as m
from bot.db.store import queue_reply
from bot.messages import Reply
from channels.web import public_id
from tests.browser import launch, needs_chromium
from tests.service_harness import running_service, wait_until
from tests.harness.web_chat import ident, read_reply, service  # noqa: F401 - service is a fixture

LABELS = ("Order status", "Returns", "Something else")
ORDER_REPLY = "Hi there, track your order at https://shop.test/orders."
VERDICT = ["That helped", "I need more help"]  # the core asks after an answer (resolution settings)


async def conversation_of(svc, visitor: str) -> m.Conversation | None:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return await s.scalar(select(m.Conversation).join(m.Customer, m.Customer.id == m.Conversation.customer_id)
                              .where(m.Customer.channel == "web", m.Customer.external_id == public_id(visitor)))


async def send_buttons(svc, visitor: str, text: str = "Did you mean one of these?",  # noqa: ANN001
                       buttons: tuple[str, ...] = LABELS) -> None:
    """Queue a bot reply with buttons in the visitor's conversation, as the core does, and deliver it."""
    conv = await conversation_of(svc, visitor)
    customer = public_id(visitor)  # replies are addressed to the public id, never the browser's secret
    reply = Reply(text=text, channel="web", customer_id=customer, conversation_key=customer, buttons=buttons)
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
        assert (third["text"], third["buttons"]) == (ORDER_REPLY, VERDICT)
    async with service.http.get(f"{url}/chat/history", params={"visitor": visitor}) as r:
        history = await r.json()
    assert [(h["author"], h["buttons"]) for h in history] == [
        ("customer", []), ("bot", []), ("bot", list(LABELS)), ("customer", []), ("bot", VERDICT)]
    [event] = [e for e in await _events(service) if e.payload["text"] == "Order status"]
    assert event.payload["conversation_key"] == public_id(visitor) and event.payload["kind"] == "text"


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
            chips = page.locator(".chips").first.locator(".chip")
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
            assert [(p["text"], p["conversation_key"]) for p in ins] == [("hello", public_id(visitor)),
                                                                     ("Order status", public_id(visitor))]
            verdict = page.locator(".chips").nth(1).locator(".chip")  # the answer's own chips, live
            await verdict.nth(1).wait_for(timeout=15_000)
            assert await verdict.all_inner_texts() == VERDICT and not await verdict.first.is_disabled()
            await page.screenshot(path=str(tmp_path / "web-chat-buttons.png"))

            # after a reload the history shows the chips: answered ones no longer pressable
            await page.reload()
            await page.locator(".msg.bot").nth(2).wait_for(timeout=15_000)
            groups = page.locator(".chips")
            assert await groups.count() == 2
            assert [await c.is_disabled() for c in await groups.nth(0).locator(".chip").all()] == [True] * 3
            assert [await c.is_disabled() for c in await groups.nth(1).locator(".chip").all()] == [False] * 2

            # typing a label instead of clicking answers the question too
            await page.fill("#text", "That helped")
            await page.click("button[type=submit]")
            await wait_until(lambda: groups.nth(1).locator(".chip").first.is_disabled(), timeout=5)
            thanks = page.locator(".msg.bot").nth(3)
            await thanks.wait_for(timeout=15_000)
            assert await thanks.inner_text() == service.app.settings.resolution.helped_reply
            assert await _texts_in(service, "That helped")
            assert errors == []
        finally:
            await browser.close()


async def _texts_in(svc, text: str) -> bool:  # noqa: ANN001
    return any(e.payload["text"] == text for e in await _events(svc))



@needs_chromium
async def test_browser_did_you_mean_then_that_helped_end_to_end(sqlite_db, demo_settings_factory, monkeypatch,
                                                                  tmp_path):
    """The demo company and its real classifier: an unsure question gets "Did you mean" chips; a
    click answers it (with "That helped" chips); "That helped" is recorded as the customer's verdict."""
    from playwright.async_api import async_playwright

    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = demo_settings_factory(sqlite_db)
    settings.policy.confidence_threshold = 0.999  # unsure of everything: the clarify rung for sure
    async with running_service(settings, {}) as svc, async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page()
            await page.goto(svc.url + "/")
            await page.fill("#text", "How do I return a jacket that doesn't fit?")
            await page.click("button[type=submit]")
            question = page.locator(".msg.bot").first
            await question.wait_for(timeout=30_000)
            assert "Did you mean" in await question.inner_text() or "Just to check" in await question.inner_text()
            options = page.locator(".chips").first.locator(".chip")
            labels = await options.all_inner_texts()
            assert labels[-1] == settings.clarify.something_else and len(labels) >= 2

            await options.first.click()
            answer = page.locator(".msg.bot").nth(1)
            await answer.wait_for(timeout=30_000)
            assert "Did you mean" not in await answer.inner_text()
            verdict = page.locator(".chips").nth(1).locator(".chip")
            await verdict.nth(1).wait_for(timeout=15_000)
            assert await verdict.all_inner_texts() == [settings.resolution.helped, settings.resolution.more_help]

            await verdict.first.click()
            thanks = page.locator(".msg.bot").nth(2)
            await thanks.wait_for(timeout=30_000)
            assert await thanks.inner_text() == settings.resolution.helped_reply
            assert await page.locator(".msg.customer").all_inner_texts() == [
                "How do I return a jacket that doesn't fit?", labels[0], settings.resolution.helped]
            await page.screenshot(path=str(tmp_path / "web-chat-clarify.png"))
        finally:
            await browser.close()
        async with svc.app.sessions() as s:
            outcomes = (await s.scalars(select(m.Resolution.outcome))).all()
            examples = (await s.scalars(select(m.LabelledExample.source))).all()
        assert outcomes == ["confirmed"] and examples == ["clarify"]
