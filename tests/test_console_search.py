"""The console queue's filters and the search over conversations (issue 18): channel, reason kind, mine /
unassigned on /agent (server-rendered, kept by the live update), /agent/search?q= over customer names,
message text (an order number as written) and escalation numbers. Bounded: 400 on bad input, never a 500;
text shown masked for agents, and a hit only inside a masked IBAN or password is not listed.

The search and the filters run on SQLite and PostgreSQL (the `app` fixture); the pages over HTTP and in
Chromium (the console's `service` fixture).
"""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from sqlalchemy import select, update

from bot.db import models as m
from bot.handoff.agents import add_agent
from bot.messages import utcnow
from bot.web.console import Console
from bot.web.console_search import RESULTS, Filters, Search, filters
from tests.browser import launch, needs_chromium
from tests.harness.console import (PASSWORD, Customer, escalation_of, jar_session, log_in,  # noqa: F401
                                   service)
from tests.harness.pipeline import app, say  # noqa: F401 - the app fixture (both engines)

IBAN = "DE89 3704 0044 0532 0130 00"


async def escalate(app, text: str, customer: str, name: str | None = None, kind: str | None = None) -> int:  # noqa: ANN001
    r = await say(app, text, f"e-{customer}-{len(text)}", customer=customer, thread=f"t-{customer}")
    assert r.escalation_id, text
    async with app.sessions.begin() as s:
        if name is not None:
            conv = await s.get(m.Conversation, (await s.get(m.Escalation, r.escalation_id)).conversation_id)
            await s.execute(update(m.Customer).where(m.Customer.id == conv.customer_id).values(display_name=name))
        if kind is not None:
            await s.execute(update(m.Escalation).where(m.Escalation.id == r.escalation_id).values(reason_kind=kind))
    return r.escalation_id


def test_filters_read_only_the_values_they_know():
    assert filters({}) == Filters() and not Filters()
    chosen = filters({"channel": "telegram", "kind": "critical", "who": "mine"})
    assert chosen == Filters("telegram", "critical", "mine") and chosen.query == "channel=telegram&kind=critical&who=mine"
    for bad in ({"kind": "nonsense"}, {"who": "everyone-else"}, {"channel": "Web<script>"}, {"channel": "x" * 40}):
        with pytest.raises(web.HTTPBadRequest):
            filters(bad)


async def test_the_queue_keeps_what_the_filters_choose(app):  # noqa: F811
    critical = await escalate(app, "someone used my card!", "c1")
    unsure = await escalate(app, "someone used my card?", "c2", kind="confidence")
    taken = await escalate(app, "someone used my card!!", "c3")
    ann, bob = await add_agent(app.sessions, "ann", "password1"), await add_agent(app.sessions, "bob", "password1")
    await app.handoff.claim(taken, bob)
    console = Console(app)

    async def ids(agent: int | None = ann, **chosen: str) -> list[int]:
        return [r["id"] for r in await console.queue_rows(Filters(**chosen), agent)]

    assert sorted(await ids()) == [critical, unsure, taken]
    assert await ids(kind="confidence") == [unsure] and await ids(channel="web") == []
    assert sorted(await ids(channel="test")) == [critical, unsure, taken]
    assert sorted(await ids(who="unassigned")) == [critical, unsure]
    assert await ids(who="mine") == [] and await ids(bob, who="mine") == [taken]
    assert await ids(bob, who="mine", kind="confidence") == []


async def test_search_finds_names_words_order_numbers_and_escalation_numbers(app):  # noqa: F811
    card = await escalate(app, "someone used my card on NW-50118, 100% sure", "c1", name="Ann O'Neill")
    other = await escalate(app, "someone used my card, IBAN " + IBAN, "c2", name="Bob_Builder")
    search = Search(app.sessions, app.settings)

    async def found(q: str) -> list[tuple[int, str]]:
        rows, more = await search.results(q)
        assert not more
        return [(r["id"], r["match"]) for r in rows]

    assert await found("nw-50118") == [(card, "message")]  # any case, an order number as written
    assert await found("50118") == [(card, "message")]
    assert await found("o'neill") == [(card, "customer name")]
    assert await found("b_i") == [] and await found("Bob_B") == [(other, "customer name")]  # _ and % are literal
    assert await found("0%") == [(card, "message")] and await found("1%") == []
    assert await found(f"#{other}") == [(other, "escalation number")]
    assert await found("3704 0044") == []  # only inside a masked IBAN: not listed, nothing is confirmed
    [row], _ = await search.results("IBAN")
    assert row["id"] == other and IBAN not in row["snippet"] and "IBAN" in row["snippet"]
    assert row["url"] == f"/agent/escalations/{other}" and row["customer"] == "Bob_Builder"
    assert row["headline"].startswith("Critical case") and row["status"] == "open"
    assert await found("nobody wrote this") == []


async def test_search_lists_at_most_its_limit_newest_first(app):  # noqa: F811
    async with app.sessions.begin() as s:  # many conversations that match, written straight to the tables
        customer = m.Customer(channel="test", external_id="many", display_name="Many")
        s.add(customer)
        await s.flush()
        for n in range(RESULTS + 5):
            conv = m.Conversation(customer_id=customer.id, channel="test", thread_key=f"many-{n}")
            s.add(conv)
            await s.flush()
            s.add(m.Message(conversation_id=conv.id, direction="in", author="customer", text=f"lost parcel {n}"))
            s.add(m.Escalation(conversation_id=conv.id, reason_kind="asked", reason="signal: wants human",
                               created_at=utcnow()))
    rows, more = await Search(app.sessions, app.settings).results("lost parcel")
    assert len(rows) == RESULTS and more
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert rows[0]["snippet"] == f"lost parcel {RESULTS + 4}"


async def test_bad_filters_and_searches_are_4xx_never_500(service):  # noqa: F811
    async with jar_session() as http, Customer(service, http) as customer:
        await customer.says("someone used my card for NW-50118")
        await customer.hears("passing you to a person")
        esc = await escalation_of(service, customer.label)
        async with http.get(f"{service.url}/agent/search?q=NW", allow_redirects=False) as r:
            assert r.status == 302  # agents only
        assert (await log_in(http, service.url, "ann", PASSWORD)).status == 302
        for path in ("/agent?kind=nonsense", "/agent?who=all", "/agent/queue.json?channel=%3Cscript%3E",
                     "/agent/events?kind=nonsense", "/agent/search?q=x", "/agent/search?q=" + "y" * 101,
                     "/agent/search?q=ab%00cd", "/agent/search?q=%1b%5b31m"):
            async with http.get(service.url + path) as r:
                assert r.status == 400, path
                assert "<script>" not in await r.text()
        async with http.get(f"{service.url}/agent/search", params={"q": "nw-50118"}) as r:
            page = await r.text()
        assert r.status == 200 and f'href="/agent/escalations/{esc}"' in page and customer.label in page
        assert customer.visitor not in page and "1 conversation" in page
        async with http.get(f"{service.url}/agent/search", params={"q": "<b>hi</b>"}) as r:
            page = await r.text()
        assert r.status == 200 and "&lt;b&gt;hi&lt;/b&gt;" in page and "<b>hi</b>" not in page
        async with http.get(f"{service.url}/agent/search") as r:
            assert r.status == 200 and 'id="search-q"' in await r.text()
        async with http.get(f"{service.url}/agent/queue.json", params={"who": "unassigned", "channel": "web"}) as r:
            assert [row["id"] for row in await r.json()] == [esc]
        async with http.get(f"{service.url}/agent/queue.json", params={"who": "mine"}) as r:
            assert await r.json() == []
        async with http.get(f"{service.url}/agent", params={"who": "mine"}) as r:
            page = await r.text()
        assert "Nothing matches these filters." in page and '<option value="mine" selected>' in page


@needs_chromium
async def test_browser_filters_are_server_rendered_and_kept_by_the_live_update(service):  # noqa: F811
    from playwright.async_api import async_playwright, expect

    async with jar_session() as http, Customer(service, http) as first, Customer(service, http) as second:
        await first.says("someone used my card")
        await first.hears("passing you to a person")
        old = await escalation_of(service, first.label)
        async with async_playwright() as pw:
            browser = await launch(pw)
            try:
                page = await browser.new_page()
                await page.goto(service.url + "/agent")
                await page.fill("input[name=name]", "ann")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                await page.select_option("#filter-kind", "critical")  # applies at once (console.js submits)
                await page.wait_for_url(re.compile(r"/agent\?.*kind=critical"))
                rows = page.locator("#queue-rows tr")
                await expect(rows).to_have_count(1)
                await expect(rows.first).to_contain_text(first.label)
                await expect(page.locator("#live")).to_have_text("live")
                await page.evaluate("window.notReloaded = true")
                async with service.app.sessions.begin() as s:  # the first is no longer critical ...
                    await s.execute(update(m.Escalation).where(m.Escalation.id == old).values(reason_kind="confidence"))
                await second.says("someone used my card")  # ... and a new critical one wakes the live update
                await expect(rows.first).to_contain_text(second.label)
                await expect(rows).to_have_count(1)  # the live update applied the same filter
                assert await page.evaluate("window.notReloaded") is True

                await page.fill("input[name=q]", "used my card")
                await page.click("form.search button")
                await page.wait_for_url(re.compile(r"/agent/search\?q=used\+my\+card$"))
                results = page.locator("#results tbody tr")
                await expect(results).to_have_count(2)
                await results.filter(has_text=first.label).locator("a").click()
                await page.wait_for_url(re.compile(rf"/agent/escalations/{old}$"))
            finally:
                await browser.close()
    async with service.app.sessions() as s:
        assert (await s.scalar(select(m.Escalation.reason_kind).where(m.Escalation.id == old))) == "confidence"


async def test_ids_past_the_databases_integer_range_are_404_or_nothing_found_never_a_database_error(app):  # noqa: F811
    """PostgreSQL's integer ids end at 2**31 - 1 and asyncpg refuses a larger parameter (a 500 before): an
    escalation number past it in a URL is a 404, in a search it finds nothing, a note or message id in the
    event stream's query is capped."""
    from aiohttp.test_utils import make_mocked_request

    from bot.handoff.escalations import HandoffError
    from bot.web.console import _id
    from bot.web.console_view import MAX_ID

    assert MAX_ID == 2**31 - 1
    with pytest.raises(HandoffError):
        await app.handoff.view(MAX_ID)  # the largest id is a fair question on both engines
    for big in (MAX_ID + 1, 2**62, 10**30):
        request = make_mocked_request("GET", f"/agent/escalations/{big}", match_info={"id": str(big)})
        with pytest.raises(web.HTTPNotFound):
            _id(request)
    rows, more = await Search(app.sessions, app.settings).results(f"#{10**11}")
    assert rows == [] and not more
