"""A Telegram customer's first name, last name and username (the real aiogram channel against the fake Bot
API, in the real serve()) reach the agents: stored on the customer, shown in the console's queue, its JSON,
the conversation page's "who is waiting" and the Slack card's label (EscalationView.customer)."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import models as m
from bot.handoff.agents import add_agent
from tests.fakes.telegram_api import FakeTelegram, fake_telegram  # noqa: F401 - fixture
from tests.service_harness import wait_until
from tests.harness.console import PASSWORD, jar_session, log_in
from tests.harness.telegram import serving, settings  # noqa: F401 - fixture


async def customer(svc) -> m.Customer | None:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return await s.scalar(select(m.Customer).where(m.Customer.channel == "telegram"))


async def test_last_name_and_username_reach_the_agents_view(settings, fake_telegram):  # noqa: F811
    tg: FakeTelegram = fake_telegram
    async with serving(settings, tg) as svc:
        await add_agent(svc.app.sessions, "ann", PASSWORD)
        update = tg.text_update(77, "someone used my card", first_name="Anna", username="anna_j")
        update["message"]["from"]["last_name"] = "Jansen"
        tg.push_update(update)
        esc = await wait_until(lambda: _escalation(svc), timeout=15)
        who = await customer(svc)
        assert (who.display_name, who.last_name, who.username) == ("Anna", "Jansen", "anna_j")
        view = await svc.app.handoff.view(esc)
        assert view.customer == "Anna Jansen (@anna_j)" and view.customer_name == "Anna"
        async with jar_session() as http:
            assert (await log_in(http, svc.url, "ann", PASSWORD)).status == 302
            async with http.get(f"{svc.url}/agent") as r:
                assert "Anna Jansen (@anna_j)" in await r.text()
            async with http.get(f"{svc.url}/agent/queue.json") as r:
                [row] = await r.json()
            assert row["customer"] == "Anna Jansen (@anna_j)"
            async with http.get(f"{svc.url}/agent/escalations/{esc}") as r:
                page = await r.text()
            assert '<dd id="customer-name">Anna Jansen</dd>' in page and '<dd id="customer-username">@anna_j</dd>' in page
            assert "Telegram user id 77" in page

        # they drop the username on Telegram: the next message says so, and it is gone here too
        tg.push_update(tg.text_update(77, "are you there?", first_name="Anna", username=None))
        await wait_until(lambda: _username_gone(svc), timeout=15)
        assert (await svc.app.handoff.view(esc)).customer == "Anna"  # no last name in this update either


async def _escalation(svc) -> int | None:  # noqa: ANN001
    queue = await svc.app.handoff.queue()
    return queue[0].id if queue else None


async def _username_gone(svc) -> bool:  # noqa: ANN001
    who = await customer(svc)
    return who is not None and who.username is None
