"""Who is waiting (issue 18): the console's conversation page shows the customer as their channel named
them, their earlier conversations with each escalation's outcome and CSAT rating, never the browser
visitor's secret id. The history is read on SQLite and PostgreSQL (the `app` fixture); the page over HTTP."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.db import models as m
from bot.handoff.agents import add_agent
from bot.pipeline.guardrails import mask_for_agents
from bot.web.console_customer import _platform_id, customer_history
from tests.harness.console import PASSWORD, Customer, escalation_of, jar_session, log_in, service  # noqa: F401
from tests.harness.pipeline import app, say  # noqa: F401 - the app fixture (both engines)

IBAN = "DE89 3704 0044 0532 0130 00"


async def test_the_customers_past_conversations_escalations_and_ratings(app):  # noqa: F811
    past = (await say(app, f"someone used my card, my IBAN is {IBAN}", "e-h1", thread="t-old")).escalation_id
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(past, ann)
    await app.handoff.resolve(past, ann)
    await say(app, "4", "e-h2", thread="t-old")  # the rating the customer gave on resolve
    returned = (await say(app, "someone used my card again", "e-h3", thread="t-mid")).escalation_id
    await app.handoff.claim(returned, ann)
    await app.handoff.return_to_bot(returned, ann)
    now = (await say(app, "my card is gone!", "e-h4", thread="t-new")).escalation_id
    async with app.sessions.begin() as s:  # a comment without a number on the returned one
        conv = await s.scalar(select(m.Escalation.conversation_id).where(m.Escalation.id == returned))
        s.add(m.Feedback(conversation_id=conv, escalation_id=returned, rating=None, comment=f"slow; IBAN {IBAN}"))

    view = await app.handoff.view(now)
    async with app.sessions() as s:
        who = await customer_history(s, view, mask_for_agents)
    assert (who["label"], who["name"], who["channel"], who["platform_id"]) == ("Ann", "Ann", "test", None)
    assert who["total"] == 3 and not who["more"] and who["csat"] == "4.0 / 5 from 1 rating"
    current, mid, old = who["conversations"]  # newest first
    assert current["current"] and [e["id"] for e in current["escalations"]] == [now]
    assert current["escalations"][0]["current"]
    [e] = old["escalations"]
    assert (e["id"], e["url"], e["outcome"], e["ratings"]) == (past, f"/agent/escalations/{past}", "resolved by ann",
                                                               ["rated 4/5"])
    assert e["headline"].startswith("Critical case") and not old["current"]
    assert old["opening"].startswith("someone used my card, my IBAN is") and IBAN not in old["opening"]
    [r] = mid["escalations"]
    assert r["outcome"] == "returned to the bot by ann" and len(r["ratings"]) == 1
    assert r["ratings"][0].startswith("“slow; IBAN") and IBAN not in r["ratings"][0]


def test_the_platform_id_is_shown_for_telegram_and_slack_never_for_a_visitor():
    assert _platform_id("telegram", "4242") == "Telegram user id 4242"
    assert _platform_id("slack", "T1:U1") == "Slack user U1"
    assert _platform_id("web", "3f9a01" * 10) is None and _platform_id("console", "demo-customer") is None


async def test_the_conversation_page_says_who_is_waiting_without_the_visitors_id(service):  # noqa: F811
    async with jar_session() as http, Customer(service, http) as customer:
        await customer.says("someone used my card")
        await customer.hears("passing you to a person")
        first = await escalation_of(service, customer.label)
        async with service.app.sessions.begin() as s:  # the first is over: the customer rated it 5
            await s.execute(update(m.Escalation).where(m.Escalation.id == first).values(status="resolved"))
            conv = await s.scalar(select(m.Escalation.conversation_id).where(m.Escalation.id == first))
            await s.execute(update(m.Conversation).where(m.Conversation.id == conv).values(status="closed"))
            s.add(m.Feedback(conversation_id=conv, escalation_id=first, rating=5, comment="<b>great</b>"))
        await customer.says("my card again, someone used it")
        second = await wait_for_new(service, customer.label, first)
        assert (await log_in(http, service.url, "ann", PASSWORD)).status == 302
        async with http.get(f"{service.url}/agent/escalations/{second}") as r:
            page = await r.text()
    assert r.status == 200 and 'id="customer"' in page and "Who is waiting" in page
    assert customer.label in page and customer.visitor not in page and customer.public not in page
    assert f'<a href="/agent/escalations/{first}">#{first}</a>' in page and "rated 5/5" in page
    assert "&lt;b&gt;great&lt;/b&gt;" in page and "<b>great</b>" not in page
    assert '<dd id="csat">5.0 / 5 from 1 rating</dd>' in page


async def wait_for_new(svc, label: str, old: int) -> int:  # noqa: ANN001
    from tests.service_harness import wait_until

    async def found() -> int | None:
        return next((v.id for v in await svc.app.handoff.queue() if v.customer == label and v.id != old), None)
    return await wait_until(found, timeout=15)
