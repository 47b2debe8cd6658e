"""The agent console at /agent: login, CSRF, the queue, a conversation, live updates, review of drafts.

The service runs for real (tests/service_harness.py); customers write through the browser chat
API, and the console is driven over HTTP and, in one test, by Debian's Chromium via Playwright.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from sqlalchemy import select

from bot.handoff.agents import add_agent
from bot.db import models as m
from tests.fakes.llm_servers import KEYS, llm_server, ok  # noqa: F401 - fixture
from tests.harness.console import CANNED, PASSWORD, Customer, csrf_in, escalation_of, jar_session, log_in, page_csrf, post, start
from tests.harness.console import service  # noqa: F401 - fixture
from tests.helpers import mini_settings
from tests.browser import launch, needs_chromium

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(2)>"


async def test_login_and_csrf_are_enforced(service):
    async with jar_session() as http, Customer(service, http) as customer:
        await customer.says("someone used my card")
        esc = await escalation_of(service, customer.label)
        take = f"{service.url}/agent/escalations/{esc}/take"
        for path in ("/agent", "/agent/queue.json", f"/agent/escalations/{esc}"):
            async with http.get(service.url + path, allow_redirects=False) as r:
                assert r.status == 302 and r.headers["Location"].startswith("/agent/login?next=")
        assert (await post(http, take))[0] == 401

        r = await log_in(http, service.url, "ann", "wrong password")
        assert r.status == 401 and "sb_session" not in r.cookies
        assert not [c for c in http.cookie_jar if c.key == "sb_session"]
        async with http.get(f"{service.url}/agent", allow_redirects=False) as r:
            assert r.status == 302

        r = await log_in(http, service.url, "ann", PASSWORD)
        assert r.status == 302 and r.headers["Location"] == "/agent"
        async with http.get(f"{service.url}/agent") as r:
            queue_page = await r.text()
            assert r.status == 200 and customer.label in queue_page and customer.visitor not in queue_page
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        async with http.get(f"{service.url}/agent/queue.json") as r:
            [row] = await r.json()
        assert (row["id"], row["customer"], row["channel"], row["status"]) == (esc, customer.label, "web", "open")

        assert (await post(http, take))[0] == 403  # no CSRF token
        assert (await post(http, take, csrf="forged"))[0] == 403
        assert (await service.app.handoff.view(esc)).status == "open"
        token = csrf_in(queue_page)
        async with http.post(take, headers={"X-CSRF-Token": token}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == f"/agent/escalations/{esc}"
        assert (await service.app.handoff.view(esc)).agent_name == "ann"
        assert (await post(http, f"{service.url}/agent/escalations/999999/take", csrf=token))[0] == 404

        await add_agent(service.app.sessions, "bob", PASSWORD)  # a second agent loses the race, readably
        async with jar_session() as bob:
            assert (await log_in(bob, service.url, "bob", PASSWORD)).status == 302
            bob_token = await page_csrf(bob, f"{service.url}/agent")
            status, page = await post(bob, take, csrf=bob_token)
            assert status == 409 and "held by ann" in page
            status, page = await post(bob, f"{service.url}/agent/escalations/{esc}/reply", csrf=bob_token, text="hi")
            assert status == 409 and "held by another agent" in page

        async with service.app.sessions.begin() as s:  # a hostile display name (Telegram and Slack users pick theirs)
            cust = await s.scalar(select(m.Customer).where(m.Customer.external_id == customer.public))
            cust.display_name = HOSTILE
        for path in ("/agent", f"/agent/escalations/{esc}"):
            async with http.get(service.url + path) as r:
                page = await r.text()
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
            assert "<img src=x" not in page

        assert (await post(http, f"{service.url}/agent/escalations/{esc}/return", csrf=token))[0] == 303
        await customer.hears(service.app.settings.handoff.returned_text)
        assert (await service.app.handoff.view(esc)).status == "returned"
        async with http.get(f"{service.url}/agent/queue.json") as r:
            assert await r.json() == []


@needs_chromium
async def test_browser_take_reply_live_message_resolve(service, tmp_path):
    from playwright.async_api import async_playwright, expect

    async with jar_session() as http, Customer(service, http) as customer:
        await customer.says(f"someone used my card {HOSTILE}")
        await customer.hears("passing you to a person")
        esc = await escalation_of(service, customer.label)
        async with async_playwright() as pw:
            browser = await launch(pw)
            try:
                page = await browser.new_page()
                dialogs: list[str] = []
                page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
                await page.goto(service.url + "/agent")
                await expect(page).to_have_url(re.compile(r"/agent/login"))
                await page.fill("input[name=name]", "ann")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                await expect(page).to_have_url(service.url + "/agent")
                row = page.locator("#queue-rows tr", has_text=customer.label)
                await expect(row).to_contain_text("open")
                await row.locator("a").click()
                await expect(page).to_have_url(f"{service.url}/agent/escalations/{esc}")
                first = page.locator("#log .msg.customer").first
                await expect(first).to_contain_text(HOSTILE)  # shown as text ...
                assert await page.locator("main script, main img").count() == 0  # ... never as HTML

                await page.click("button:text-is('Take')")
                await expect(page.locator("#status")).to_have_text("claimed by ann")
                # Take reloads the page: its script must be running before the pick, or the change event is lost
                await page.wait_for_load_state("load")
                await page.select_option("#canned", "Card blocked")
                await expect(page.locator("#reply-text")).to_have_value(CANNED["Card blocked"])
                # "/" in the reply box searches the canned replies by title and text; Enter puts one in place
                box, suggest = page.locator("#reply-text"), page.locator("#canned-suggest")
                await box.fill("")
                await box.press_sequentially("Hi! /nothing like it")
                await expect(suggest).to_be_hidden()  # no reply matches
                await box.fill("")
                await box.press_sequentially("Hi! /new one")  # words of the text, not the title
                await expect(suggest.locator("li")).to_have_text(["Card blocked"])
                await box.press("Escape")
                await expect(suggest).to_be_hidden()
                await box.press_sequentially(" i")  # typing on reopens it: "/new one i"
                await expect(suggest.locator("li.active")).to_have_text("Card blocked")
                await box.press("Enter")
                await expect(box).to_have_value("Hi! " + CANNED["Card blocked"])  # the "/words" replaced
                await expect(suggest).to_be_hidden()
                await page.fill("#reply-text", "Hello, I'm Ann. I've blocked the card; a new one is on its way.")
                await page.click("#send")
                await customer.hears("I've blocked the card")
                await expect(page.locator("#log .msg.agent")).to_contain_text("agent ann")

                await page.evaluate("window.notReloaded = true")
                await customer.says(f"thanks! {HOSTILE} <b>bold?</b>")
                live = page.locator("#log .msg.customer", has_text="thanks!")
                await expect(live).to_contain_text(f"{HOSTILE} <b>bold?</b>")
                assert await page.evaluate("window.notReloaded") is True  # appended live, no reload
                assert await page.locator("main script, main img, #log b").count() == 0
                await page.screenshot(path=str(tmp_path / "agent-console.png"), full_page=True)

                await page.click("button:text-is('Resolve')")
                await customer.hears(service.app.settings.handoff.rating_prompt)
                await expect(page.locator("#status")).to_have_text("resolved")
                await expect(page.locator("#log .msg.bot").last).to_contain_text("How did we do?")
                await page.goto(service.url + "/agent")
                await expect(page.locator("#queue-rows")).to_contain_text("Nothing waiting.")
                await expect(page.locator("#live")).to_have_text("live")
                await page.evaluate("window.notReloaded = true")
                async with Customer(service, http) as other:  # a new escalation shows up live on the queue
                    await other.says("my card was stolen")
                    await expect(page.locator("#queue-rows tr", has_text=other.label)).to_contain_text("critical")
                assert await page.evaluate("window.notReloaded") is True
                assert dialogs == []
            finally:
                await browser.close()
    async with service.app.sessions() as s:
        esc_row = await s.get(m.Escalation, esc)
    assert esc_row.status == "resolved" and esc_row.first_response_at is not None


@pytest.fixture
async def review_service(sqlite_db, llm_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TEST_KEY_SMALL", KEYS["openai"])
    monkeypatch.setenv("TEST_KEY_BIG", KEYS["anthropic"])
    settings = mini_settings()
    settings.models["small"].base_url = llm_server.url + "/v1"
    settings.models["big"].base_url = llm_server.url
    settings.llm.max_retries = 0
    async with start(sqlite_db, settings) as svc:
        await add_agent(svc.app.sessions, "ann", PASSWORD)
        svc.llm = llm_server
        yield svc


def llm_json(**body: object):  # noqa: ANN201
    return ok(json.dumps(body))


@pytest.mark.parametrize("outcome, text, expected", [
    ("approved", "", "It may rain tomorrow."),
    ("edited", "Sorry, we can't forecast the weather.", "Sorry, we can't forecast the weather."),
    ("rejected", "", None),
])
async def test_review_of_a_held_draft(review_service, outcome, text, expected):
    svc = review_service
    svc.llm.script("small", llm_json(intent="out_of_scope", confidence=0.9, needs_human=False, complexity=0.1),
                   llm_json(answer="It may rain tomorrow.", confidence=0.4))
    async with jar_session() as http, Customer(svc, http) as customer:
        await customer.says("what's the weather")
        await customer.hears("a colleague will check")
        esc = await escalation_of(svc, customer.label, draft=True)
        assert (await log_in(http, svc.url, "ann", PASSWORD)).status == 302
        url = f"{svc.url}/agent/escalations/{esc}"
        async with http.get(url) as r:
            page = await r.text()
        assert "It may rain tomorrow.</textarea>" in page and "Take the escalation to review" in page
        assert all(f'<option value="{name}"' in page for name in svc.app.settings.intents)
        token = csrf_in(page)
        assert (await post(http, f"{url}/review", csrf=token, outcome=outcome))[0] == 409  # take it first
        assert (await post(http, f"{url}/take", csrf=token))[0] == 303
        status, body = await post(http, f"{url}/review", csrf=token, outcome=outcome, text=text, intent="nonsense")
        assert status == 409 and "unknown intent" in body

        status, _ = await post(http, f"{url}/review", csrf=token, outcome=outcome, text=text, intent="order_status")
        assert status == 303
        if expected:
            assert await customer.hears(expected) == expected
        else:  # rejected: nothing went out; the agent writes their own answer
            assert (await post(http, f"{url}/reply", csrf=token, text="Let me look into that for you."))[0] == 303
            assert await customer.hears("Let me look into that") == "Ann (Test Shop): Let me look into that for you."
            assert customer.authors["Ann (Test Shop): Let me look into that for you."] == "agent"  # its own bubble
        status, body = await post(http, f"{url}/review", csrf=token, outcome="approved")
        assert status == 409 and "already" in body
        async with http.get(url) as r:
            page = await r.text()
        assert f'<b id="review-outcome">{outcome}</b>' in page and "<textarea name=\"text\"" not in page

    async with svc.app.sessions() as s:
        row = await s.get(m.Escalation, esc)
        [example] = (await s.scalars(select(m.LabelledExample))).all()
        sent = (await s.scalars(select(m.Message.text).where(m.Message.conversation_id == row.conversation_id,
                                                             m.Message.author == "agent"))).all()
    assert (row.review_outcome, row.final_text, row.agent_intent) == (outcome, expected, "order_status")
    assert (example.text, example.intent, example.source) == ("what's the weather", "order_status", "review")
    assert "It may rain tomorrow." not in sent if outcome != "approved" else sent == ["It may rain tomorrow."]
