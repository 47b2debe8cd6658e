"""Private notes between agents (issue 18): stored in agent_notes, shown to agents in the console's history
(styled as a note, live on other agents' pages) and in the Slack card's thread, never sent to the customer.

Storage runs on SQLite and PostgreSQL (the `app` fixture); the console over HTTP and in Chromium; Slack's
"note:" thread messages against FakeSlack inside the real serve().
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.db import models as m
from bot.handoff import notes
from bot.handoff.agents import add_agent
from bot.handoff.escalations import HandoffError
from tests.browser import launch, needs_chromium
from tests.fakes.slack_api import deliver_event, fake_slack  # noqa: F401 - fixture
from tests.service_harness import wait_until
from tests.harness.console import (PASSWORD, Customer, csrf_in, escalation_of, jar_session, log_in, post,
                                   service)  # noqa: F401 - fixture
from tests.harness.pipeline import app, say  # noqa: F401 - the app fixture (both engines)
from tests.harness.slack import SECRET, rows
from tests.harness.slack_desk import AGENTS, click, ephemerals, escalate, migrated, posts, settings, slack_only  # noqa: F401
from tests.harness.slack_desk import service as slack_service  # noqa: F401 - fixture
from tests.harness.slack_desk import slack_of, thread_message


async def count(app, model) -> int:  # noqa: ANN001
    async with app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def test_a_note_is_stored_for_agents_and_never_queued_for_the_customer(app):  # noqa: F811
    r = await say(app, "someone used my card!", "e-n1")
    esc = r.escalation_id
    ann = await add_agent(app.sessions, "ann", "password1")
    outbox, messages = await count(app, m.OutboxMessage), await count(app, m.Message)
    note = await notes.add_note(app.handoff, esc, ann, "  Refund promised by phone; card 4242 4242 4242 4242  ")
    assert (note.agent_name, note.source, note.escalation_id) == ("ann", "console", esc)
    assert note.text == "Refund promised by phone; card •••• 4242"  # trimmed, the card cut like a message's
    assert (await count(app, m.OutboxMessage), await count(app, m.Message)) == (outbox, messages)
    assert [n.text for n in await notes.notes_for(app.sessions, note.conversation_id)] == [note.text]
    assert await notes.notes_for(app.sessions, note.conversation_id, after=note.id) == []

    again = await notes.add_note(app.handoff, esc, ann, "from slack", "slack", key="slack:T1:Ev1")
    assert await notes.add_note(app.handoff, esc, ann, "from slack", "slack", key="slack:T1:Ev1") == again
    assert await count(app, m.AgentNote) == 2  # a redelivered Slack event is stored once
    for text, why in (("   ", "empty"), ("x" * (notes.MAX_NOTE + 1), "at most")):
        with pytest.raises(HandoffError, match=why):
            await notes.add_note(app.handoff, esc, ann, text)
    with pytest.raises(HandoffError, match="no escalation"):
        await notes.add_note(app.handoff, 99999, ann, "lost")
    with pytest.raises(HandoffError, match="source"):
        await notes.add_note(app.handoff, esc, ann, "hm", "telegram")


def test_a_slack_thread_message_is_a_note_when_it_starts_with_note():
    assert notes.slack_note("note: VIP customer") == "VIP customer"
    assert notes.slack_note("  NOTE : called them") == "called them"
    assert notes.slack_note("Note:") == ""
    assert notes.slack_note("a note: not one") is None and notes.slack_note("notes are fine") is None


async def test_any_agent_adds_a_note_in_the_console_the_customer_never_gets_it(service):  # noqa: F811
    await add_agent(service.app.sessions, "bob", PASSWORD)
    async with jar_session() as http, Customer(service, http) as customer:
        await customer.says("someone used my card")
        await customer.hears("passing you to a person")
        esc = await escalation_of(service, customer.label)
        url = f"{service.url}/agent/escalations/{esc}"
        assert (await log_in(http, service.url, "bob", PASSWORD)).status == 302
        async with http.get(url) as r:
            token = csrf_in(await r.text())
        assert (await post(http, f"{url}/note", note="no csrf"))[0] == 403
        status, page = await post(http, f"{url}/note", csrf=token, note="   ")
        assert status == 409 and "the note is empty" in page
        # open and untaken: any agent may note it; a hostile note is shown as text
        assert (await post(http, f"{url}/note", csrf=token, note="VIP <b>customer</b>, be gentle"))[0] == 303
        async with http.get(url) as r:
            page = await r.text()
        assert '<div class="msg note" data-note="1">' in page and "note by bob · agents only" in page
        assert "VIP &lt;b&gt;customer&lt;/b&gt;, be gentle" in page
        assert (await post(http, f"{url}/take", csrf=token))[0] == 303
        assert (await post(http, f"{url}/reply", csrf=token, text="Hello, Bob here."))[0] == 303
        await customer.hears("Hello, Bob here.")  # what reached the customer: the reply, and never the note
        assert not [t for t in customer.authors if "VIP" in t]
        async with http.get(f"{service.url}/chat/history", params={"visitor": customer.visitor}) as r:
            assert "VIP" not in await r.text()
    async with service.app.sessions() as s:
        outbox = (await s.scalars(select(m.OutboxMessage.text))).all()
        said = (await s.scalars(select(m.Message.text))).all()
    assert not [t for t in [*outbox, *said] if "VIP" in t]


@needs_chromium
async def test_browser_a_note_shows_live_to_another_agent_and_never_on_the_customers_page(service):  # noqa: F811
    from playwright.async_api import async_playwright, expect

    await add_agent(service.app.sessions, "bob", PASSWORD)
    note = "Refund already promised by phone"
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            chat = await (await browser.new_context()).new_page()  # the customer, in the browser chat
            await chat.goto(service.url + "/")
            await chat.fill("#text", "someone used my card")
            await chat.click("button[type=submit]")
            await expect(chat.locator(".msg.bot").first).to_contain_text("passing you to a person")
            esc = await wait_until(lambda: _first_escalation(service), timeout=15)
            pages = []
            for name in ("ann", "bob"):
                agent = await (await browser.new_context()).new_page()
                await agent.goto(f"{service.url}/agent/escalations/{esc}")
                await agent.fill("input[name=name]", name)
                await agent.fill("input[name=password]", PASSWORD)
                await agent.click("button[type=submit]")
                await expect(agent.locator("#status")).to_have_text("open")
                pages.append(agent)
            ann, bob = pages
            await bob.evaluate("window.notReloaded = true")
            await ann.fill("#note-text", note)
            await ann.click("#add-note")
            await expect(ann.locator("#log .msg.note")).to_contain_text(note)
            await expect(ann.locator("#log .msg.note .meta")).to_contain_text("note by ann · agents only")
            await expect(bob.locator("#log .msg.note")).to_contain_text(note)  # live, on the other agent's page
            assert await bob.evaluate("window.notReloaded") is True
            background = await ann.locator("#log .msg.note").evaluate("e => getComputedStyle(e).backgroundColor")
            agent_bg = await ann.locator("#log .msg.customer").evaluate("e => getComputedStyle(e).backgroundColor")
            assert background != agent_bg  # styled as a note, not as a message

            await ann.click("button:text-is('Take')")
            await expect(ann.locator("#status")).to_have_text("claimed by ann")
            await ann.wait_for_load_state("load")
            await ann.fill("#reply-text", "Hello, Ann here.")
            await ann.click("#send")
            await expect(chat.locator(".msg.agent")).to_contain_text("Hello, Ann here.")  # after the note ...
            await expect(chat.locator("#log")).not_to_contain_text(note)  # ... which never came
            await chat.reload()  # nor in the history the page reads back
            await expect(chat.locator(".msg.agent")).to_contain_text("Hello, Ann here.")
            await expect(chat.locator("#log")).not_to_contain_text(note)
        finally:
            await browser.close()


async def _first_escalation(svc) -> int | None:  # noqa: ANN001
    queue = await svc.app.handoff.queue()
    return queue[0].id if queue else None


async def test_a_note_in_the_slack_thread_is_stored_never_relayed_and_shown_in_the_console(fake_slack,  # noqa: F811
                                                                                           slack_service):
    svc = slack_service
    ts = await escalate(fake_slack, svc)
    assert await click(fake_slack, svc, "UA", "sb_take", "1", ts) == 200
    await slack_of(svc).drained()
    dm_before = len(posts(fake_slack, "D1"))
    event = thread_message(fake_slack, "UB", "note: customer called, VIP", ts)  # not the holder: still a note
    assert (await deliver_event(svc.events, event, SECRET))[0] == 200
    assert (await deliver_event(svc.events, event, SECRET, retry_num=1))[0] == 200  # Slack's retry: stored once
    [row] = await rows(svc, m.AgentNote)
    assert (row.text, row.source, row.escalation_id) == ("customer called, VIP", "slack", 1)
    assert ephemerals(fake_slack, "UB")[-1] == "Saved as a private note: agents see it, the customer does not."
    own = thread_message(fake_slack, "UA", "NOTE: checking the ledger", ts)  # the holder's note: not sent either
    assert (await deliver_event(svc.events, own, SECRET))[0] == 200
    assert len(await rows(svc, m.AgentNote)) == 2
    assert len(posts(fake_slack, "D1")) == dm_before
    assert not [o for o in await rows(svc, m.OutboxMessage) if "VIP" in o.text or "ledger" in o.text]
    assert not [p for p in posts(fake_slack, AGENTS, ts) if "Note from" in p["text"]]  # not echoed by the bot

    [esc] = await rows(svc, m.Escalation)  # a note written in the console goes into the card's thread
    ann = await add_agent(svc.app.sessions, "ann", PASSWORD)
    await notes.add_note(svc.app.handoff, esc.id, ann, "Ann: <@UA> the refund is approved")
    [shown] = [p for p in posts(fake_slack, AGENTS, ts) if "Note from" in p["text"]]
    assert shown["text"] == (":memo: *Note from ann* (agents only, not sent to the customer): "
                             "Ann: &lt;@UA&gt; the refund is approved")
    assert len(posts(fake_slack, "D1")) == dm_before
