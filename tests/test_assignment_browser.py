"""Auto-assignment in the agents' console, in Debian's Chromium (Playwright): two agents set themselves
available in the header, round robin with a cap of 1 gives two new escalations one to each, a third waits
unassigned, and an agent going away hands their unanswered one back to the queue; the hand-over form and
the team filter over HTTP."""

from __future__ import annotations

import re

import pytest

from bot.handoff.agents import add_agent
from bot.settings_handoff import Assignment, Team
from tests.browser import launch, needs_chromium
from tests.fakes.doubles import Scripted
from tests.helpers import mini_settings
from tests.service_harness import running_service, wait_until
from tests.harness.console import PASSWORD, Customer, jar_session, log_in, page_csrf, post


@pytest.fixture
async def service(sqlite_db):
    settings = mini_settings()
    settings.database.url = sqlite_db
    settings.handoff.assignment = Assignment(mode="round_robin", max_per_agent=1)
    settings.handoff.teams = {"fraud": Team(agents=["ann", "bob"], reasons=["critical"])}
    async with running_service(settings, {}, classifier=Scripted()) as svc:
        for name in ("ann", "bob"):
            await add_agent(svc.app.sessions, name, PASSWORD)
        yield svc


async def holders(svc) -> dict[str, str | None]:  # noqa: ANN001
    """customer label -> the agent holding their escalation (None: open)."""
    return {v.customer: v.agent_name for v in await svc.app.handoff.queue()}


@needs_chromium
async def test_two_available_agents_one_each_a_third_waits_and_away_hands_back(service, tmp_path):
    from playwright.async_api import async_playwright, expect

    svc = service
    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            pages = {}
            for name in ("ann", "bob"):
                page = await (await browser.new_context()).new_page()
                await page.goto(svc.url + "/agent")
                await page.fill("input[name=name]", name)
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                await expect(page).to_have_url(svc.url + "/agent")
                await expect(page.locator("#my-status")).to_have_text("Away")  # a new account starts away
                await page.click("#availability")
                await expect(page.locator("#my-status")).to_have_text("Available")
                pages[name] = page

            async with jar_session() as http, Customer(svc, http) as c1, Customer(svc, http) as c2, \
                    Customer(svc, http) as c3:
                for c in (c1, c2):
                    await c.says("someone used my card")
                    await c.hears("passing you to a person")
                got = await wait_until(lambda: _both(svc, c1.label, c2.label))
                assert sorted(got.values()) == ["ann", "bob"]
                for name, page in pages.items():  # live on each agent's queue, no reload
                    mine = next(label for label, who in got.items() if who == name)
                    row = page.locator("#queue-rows tr", has_text=mine)
                    await expect(row).to_contain_text(f"claimed by {name} (assigned) · team fraud")
                await c3.says("someone used my card")
                await c3.hears("passing you to a person")
                third = pages["ann"].locator("#queue-rows tr", has_text=c3.label)
                await expect(third).to_contain_text("open")  # both at the cap: it waits for Take
                assert (await holders(svc))[c3.label] is None

                await pages["ann"].goto(svc.url + "/agent?who=mine")
                await expect(pages["ann"].locator("#queue-rows tr")).to_have_count(1)
                await pages["ann"].screenshot(path=str(tmp_path / "assigned.png"), full_page=True)

                # bob goes away before answering: his escalation is back in the queue, ann is still full
                bobs = next(label for label, who in got.items() if who == "bob")
                await pages["bob"].click("#availability")
                await expect(pages["bob"].locator("#my-status")).to_have_text("Away")
                back = pages["bob"].locator("#queue-rows tr", has_text=bobs)
                await expect(back).to_contain_text("open")
                now = await holders(svc)
                assert now[bobs] is None and now[c3.label] is None and list(now.values()).count("ann") == 1
        finally:
            await browser.close()


async def _both(svc, *labels: str) -> dict[str, str] | None:  # noqa: ANN001
    now = await holders(svc)
    return {k: now[k] for k in labels} if all(now.get(k) for k in labels) else None


async def test_hand_over_form_and_the_team_filter(service):
    svc = service
    async with jar_session() as ann, jar_session() as bob, jar_session() as http, Customer(svc, http) as c1:
        for who, name in ((ann, "ann"), (bob, "bob")):
            assert (await log_in(who, svc.url, name, PASSWORD)).status == 302
            token = await page_csrf(who, f"{svc.url}/agent")
            assert (await post(who, f"{svc.url}/agent/availability", csrf=token, available="on",
                               next="/agent?team=fraud"))[0] == 303
        assert (await post(ann, f"{svc.url}/agent/availability", csrf=token, available="maybe"))[0] == 403  # bob's token
        ann_token = await page_csrf(ann, f"{svc.url}/agent")
        assert (await post(ann, f"{svc.url}/agent/availability", csrf=ann_token, available="maybe"))[0] == 400
        await c1.says("someone used my card")
        await wait_until(lambda: _both(svc, c1.label))
        [v] = await svc.app.handoff.queue()
        holder, other = (ann, bob) if v.agent_name == "ann" else (bob, ann)
        other_name = "bob" if v.agent_name == "ann" else "ann"
        url = f"{svc.url}/agent/escalations/{v.id}"
        async with holder.get(url) as r:
            page = await r.text()
        assert 'id="transfer-to"' in page and f'value="agent:{other_name}"' in page and 'value="team:fraud"' in page
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert (await post(holder, f"{url}/transfer", csrf=token, to="nobody"))[0] == 400
        status, text = await post(holder, f"{url}/transfer", csrf=token, to="agent:zed")
        assert status == 409 and "no agent" in text
        assert (await post(holder, f"{url}/transfer", csrf=token, to=f"agent:{other_name}"))[0] == 303
        assert (await svc.app.handoff.view(v.id)).agent_name == other_name
        async with other.get(f"{svc.url}/agent/queue.json", params={"team": "fraud", "who": "mine"}) as r:
            [row] = await r.json()
        assert row["id"] == v.id and row["team"] == "fraud" and "(handed over)" in row["status_label"]
        async with other.get(f"{svc.url}/agent/queue.json", params={"team": "billing"}) as r:
            assert r.status == 400 and "team: one of fraud" in await r.text()
        async with holder.get(f"{svc.url}/agent/queue.json", params={"who": "mine"}) as r:
            assert await r.json() == []
