"""A refund over the bot's limit, decided where agents work (issue 17): the real serve() with the demo
company and its order API. A Slack customer's refund is approved with the card's Approve button against
the local fake Slack API; a browser-chat customer's refund is denied with a note in the agent console
over HTTP. Either way the customer hears the outcome and the conversation is the bot's again."""

from __future__ import annotations

from sqlalchemy import select

from bot.db import models as m
from bot.handoff.agents import add_agent
from tests.fakes.slack_api import FakeSlack, deliver_event, fake_slack  # noqa: F401 - fixture
from tests.service_harness import running_service, wait_until
from tests.harness.console import PASSWORD, Customer, csrf_in, escalation_of, jar_session, log_in, post

SECRET = "approval-signing-secret"
AGENTS = "CAGENTS"


def _no_keys(monkeypatch) -> None:  # noqa: ANN001
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)


def _buttons(message: dict) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}


async def _calls(svc) -> list[m.ActionCall]:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return list((await s.scalars(select(m.ActionCall).order_by(m.ActionCall.id))).all())


async def test_a_slack_agent_approves_a_refund_over_the_limit_on_the_card(sqlite_db, demo_settings_factory,
                                                                         fake_slack, monkeypatch):
    _no_keys(monkeypatch)
    fake: FakeSlack = fake_slack
    settings = demo_settings_factory(sqlite_db)
    settings.handoff.slack_channel = AGENTS
    env = {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url}
    async with running_service(settings, env) as svc:
        events = svc.url + "/slack/events"

        async def say(text: str, n: int) -> dict:
            assert (await deliver_event(events, fake.message_event("U7", text), SECRET))[0] == 200
            await wait_until(lambda: len(fake.bot_messages("D1")) >= n, timeout=20)
            return fake.bot_messages("D1")[-1]

        assert "postcode" in (await say("I'd like a refund for order NW-50118", 1))["text"]
        assert "€212.50" in (await say("SW1A 1AA", 2))["text"]
        waiting = await say("yes", 3)
        assert "more than I can approve on my own" in waiting["text"]
        card = await wait_until(lambda: next((p for p in fake.bot_messages(AGENTS) if "sb_approve" in _buttons(p)), None),
                                timeout=20)
        assert "Approve or deny" in card["text"] and "NW-50118" in card["text"]
        assert await _calls(svc) == []
        payload = fake.block_action_payload("UA", "sb_approve", _buttons(card)["sb_approve"], AGENTS, card["ts"])
        assert (await fake.deliver_interaction(events, payload, SECRET))[0] == 200
        done = await wait_until(lambda: next((x for x in fake.bot_messages("D1") if "goes back" in x["text"]), None),
                                timeout=20)
        assert "€212.50 for order NW-50118" in done["text"]
        (row,) = await _calls(svc)
        assert row.status == "ok" and row.approved_by is not None
        await wait_until(lambda: any("approved it" in p["text"] for p in fake.bot_messages(AGENTS)), timeout=20)
        async with svc.app.sessions() as s:
            conv = await s.scalar(select(m.Conversation).where(m.Conversation.channel == "slack"))
        assert conv is not None and conv.status == "bot"


async def test_a_console_agent_denies_a_refund_over_the_limit_with_a_note(sqlite_db, demo_settings_factory,
                                                                          monkeypatch):
    _no_keys(monkeypatch)
    async with running_service(demo_settings_factory(sqlite_db), {}) as svc:
        await add_agent(svc.app.sessions, "ann", PASSWORD)
        async with jar_session() as http, Customer(svc, http) as customer:
            await customer.says("please refund my order NW-50118")
            await customer.hears("postcode")
            await customer.says("SW1A 1AA")
            await customer.hears("€212.50")
            await customer.says("yes")
            await customer.hears("more than I can approve")
            esc = await escalation_of(svc, customer.label)
            async with jar_session() as agent:
                assert (await log_in(agent, svc.url, "ann", PASSWORD)).status in (302, 303)
                page_url = f"{svc.url}/agent/escalations/{esc}"
                async with agent.get(page_url) as r:
                    page = await r.text()
                assert "Approval needed" in page and "NW-50118" in page and 'id="approve"' in page
                status, _ = await post(agent, f"{page_url}/deny", csrf=csrf_in(page),
                                       note="the rug was used; a colleague will offer a partial refund")
                assert status == 303
                told = await customer.hears("couldn't approve it")
                assert "the rug was used" in told and "Nothing has been refunded" in told
                async with agent.get(page_url) as r:
                    page = await r.text()
                assert 'id="approval-outcome">denied<' in page and 'id="approve"' not in page
                status, page = await post(agent, f"{page_url}/approve", csrf=csrf_in(page))
                assert status == 409 and "resolved already" in page  # decided once
        assert await _calls(svc) == []
