"""What matters first in the agents' queue (issue 18): priority from the escalation's reason, the SLA clock
of an untaken one, and the reason in one sentence (bot/handoff/triage.py), as the console's queue shows them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.db import models as m
from bot.handoff import triage
from bot.handoff.agents import add_agent
from bot.messages import utcnow
from bot.web.console import Console
from tests.browser import launch, needs_chromium
from tests.harness.console import PASSWORD, Customer, escalation_of, jar_session, service  # noqa: F401 - fixture
from tests.harness.pipeline import app, say  # noqa: F401 - the app fixture (mini config, scripted classifier)


# reasons as the decision path writes them (from a demo session)
@pytest.mark.parametrize("kind, reason, sentence", [
    ("critical", "critical intent account_hacked", "Critical case: account hacked"),
    ("critical", "critical phrase 'solicitor'", "Critical case: the customer wrote \u201csolicitor\u201d"),
    ("safety", "signal: safety: electric shock: 'gave me a shock'", "Safety or money case: electric shock"),
    ("safety", "confidence 0.41 < 0.90; safety concern: possible fire or smoke: 'smells of burning'",
     "Possible fire or smoke: check it"),
    ("asked", "signal: wants human", "The customer asked for a person"),
    ("signal", "signal: anger 0.86", "Angry customer (86%)"),
    ("signal", "signal: repeat contact", "Came back: the bot's answer did not settle it"),
    ("degraded", "confidence 0.55 < 0.90; complexity 0.97; degraded strong_llm -> human: no LLM provider configured "
                 "for tier strong (no API key set)", "A complex case, and no AI model is configured to untangle it"),
    ("degraded", "out of scope (top 0.00); degraded cheap_llm -> human: no LLM provider configured for tier cheap",
     "No AI model is configured, so this went to a person"),
    ("confidence", "confidence 0.79 < 0.90", "Unsure what the customer wants (79%)"),
    ("review", "held for review: draft confidence 0.62 < 0.90", "A drafted answer waits for your check before the customer sees it"),
])
def test_each_reason_reads_as_one_sentence(kind, reason, sentence):
    assert triage.headline(kind, reason) == sentence


def test_critical_and_safety_come_first_then_emotion_then_asked_then_unsure():
    kinds = ["confidence", "asked", "signal", "degraded", "safety", "review", "critical", "out_of_scope"]
    ranked = sorted(kinds, key=triage.priority)
    assert ranked[:2] == ["safety", "critical"] and ranked[2] == "signal"
    assert set(ranked[3:5]) == {"asked", "review"} and set(ranked[5:]) == {"confidence", "degraded", "out_of_scope"}


async def test_the_queue_is_ordered_by_priority_then_wait_with_the_sla_clock(app):  # noqa: F811
    ids = []
    for n in range(4):
        r = await say(app, "someone used my card!", f"e-q{n}", customer=f"c{n}", thread=f"t{n}")
        ids.append(r.escalation_id)
    low, urgent, asked, taken = ids
    now = utcnow()
    sla = app.settings.handoff.sla_seconds
    async with app.sessions.begin() as s:
        for esc, kind, reason, age in ((low, "confidence", "confidence 0.61 < 0.90", sla + 600),
                                       (urgent, "safety", "signal: safety: burn: 'scalded'", 30),
                                       (asked, "asked", "signal: wants human", 60),
                                       (taken, "critical", "critical phrase 'stolen card 4242 4242 4242 4242'", sla * 3)):
            await s.execute(update(m.Escalation).where(m.Escalation.id == esc)
                            .values(reason_kind=kind, reason=reason, created_at=now - timedelta(seconds=age)))
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(taken, ann)
    rows = await Console(app).queue_rows()
    assert [r["id"] for r in rows] == [urgent, taken, asked, low]  # safety and critical first, the oldest last
    by_id = {r["id"]: r for r in rows}
    assert by_id[urgent]["headline"] == "Safety or money case: burn" and by_id[urgent]["priority_label"] == "urgent"
    assert by_id[low]["overdue"] and by_id[low]["sla"].startswith("overdue by 10")
    assert not by_id[asked]["overdue"] and by_id[asked]["sla"].endswith("min left")
    assert by_id[taken]["sla"] == "" and not by_id[taken]["overdue"]  # taken: off the pick-up clock
    assert "4242 4242" not in by_id[taken]["headline"] and "•••• 4242" in by_id[taken]["headline"]  # masked
    assert by_id[low]["reason"] == "confidence 0.61 < 0.90"  # the technical reason is still there


@needs_chromium
async def test_the_browser_queue_shows_the_most_urgent_first_and_highlights_overdue(service):  # noqa: F811
    """The queue page (server-rendered) and its live update (console.js) both order and highlight."""
    from playwright.async_api import async_playwright, expect

    async with jar_session() as http, Customer(service, http) as first, Customer(service, http) as second:
        await first.says("someone used my card")
        await first.hears("passing you to a person")
        await second.says("someone used my card")
        await second.hears("passing you to a person")
        old = await escalation_of(service, first.label)
        await escalation_of(service, second.label)
        async with service.app.sessions.begin() as s:  # the first: an unsure question, waiting past the SLA
            await s.execute(update(m.Escalation).where(m.Escalation.id == old).values(
                reason_kind="confidence", reason="confidence 0.58 < 0.90",
                created_at=utcnow() - timedelta(seconds=service.app.settings.handoff.sla_seconds + 120)))
        async with async_playwright() as pw:
            browser = await launch(pw)
            try:
                page = await browser.new_page()
                await page.goto(service.url + "/agent")
                await page.fill("input[name=name]", "ann")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                rows = page.locator("#queue-rows tr")
                await expect(rows).to_have_count(2)
                await expect(page.locator("#live")).to_have_text("live")  # console.js has rendered the rows
                await expect(rows.nth(0)).to_contain_text(second.label)  # critical first, though newer
                await expect(rows.nth(0)).to_contain_text("Critical case: fraud report")
                await expect(rows.nth(0).locator(".prio")).to_have_text("urgent")
                await expect(rows.nth(1)).to_contain_text("Unsure what the customer wants (58%)")
                await expect(rows.nth(1)).to_have_class(re.compile(r"\boverdue\b"))
                await expect(rows.nth(1)).to_contain_text("overdue by 2 min")
                await expect(rows.nth(0)).not_to_have_class(re.compile(r"\boverdue\b"))
            finally:
                await browser.close()
