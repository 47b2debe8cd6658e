"""Agent handoff end to end: a Telegram customer answered by an agent in Slack.

One real serve() with both channels (aiogram polling the fake Telegram Bot API, slack-bolt taking
signed deliveries and posting to the fake Slack Web API):

    an angry Telegram customer is escalated -> the card appears in the agents' Slack channel
    two agents press Take at once            -> exactly one owner, the other is told
    the owner replies in the card's thread   -> the customer gets it on Telegram
    the customer writes again                -> it appears in the card's thread; the bot says nothing
    the owner presses Resolve                -> the customer is asked for a rating, buttons 1-5
    the customer answers 5                   -> a feedback row with rating 5
"""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.db import models as m
from tests.fakes.slack_api import FakeSlack, deliver_event, deliver_interaction, fake_slack  # noqa: F401 - fixture
from tests.fakes.telegram_api import FakeTelegram, fake_telegram  # noqa: F401 - fixture
from tests.helpers import mini_settings
from tests.service_harness import running_service, wait_until
from tests.fakes.doubles import Scripted
from tests.harness.slack import SECRET, rows

AGENTS = "CAGENTS"
CHAT = 4242  # the customer's private chat with the bot on Telegram


@pytest.fixture
def settings(sqlite_db):
    s = mini_settings()
    s.database.url = sqlite_db
    s.handoff.slack_channel = AGENTS
    return s


def env(tg: FakeTelegram, slack: FakeSlack) -> dict:
    return {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_MODE": "polling",
            "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url}


def to_customer(tg: FakeTelegram) -> list[dict]:
    return [p for p in tg.sent_messages() if p["chat_id"] == CHAT]


def in_thread(slack: FakeSlack, ts: str) -> list[str]:
    return [p["text"] for p in slack.posted_messages() if p["channel"] == AGENTS and p.get("thread_ts") == ts]


async def test_a_telegram_customer_is_helped_by_an_agent_in_slack(fake_telegram, fake_slack, settings):
    tg, slack = fake_telegram, fake_slack
    slack.add_user("UANN", "ann")
    slack.add_user("UBOB", "bob")
    async with running_service(settings, env(tg, slack), classifier=Scripted()) as svc:
        events = svc.url + "/slack/events"
        [slack_channel] = [rt for rt in svc.runtimes if rt.name == "slack"]
        await tg.wait_for("deleteWebhook", timeout=10)  # polling

        # 1. an angry customer on Telegram is escalated; the card appears in the agents' channel
        tg.push_update(tg.text_update(CHAT, "THIS IS UNACCEPTABLE!!! Where is my order?", first_name="Alice"))
        [told] = await tg.wait_for("sendMessage", timeout=10)
        assert told["chat_id"] == CHAT and "passing you to a person" in told["text"]
        await wait_until(lambda: slack.bot_messages(AGENTS), timeout=5)
        [card] = slack.bot_messages(AGENTS)
        ts = card["ts"]
        # the name and @username Telegram gives (the fake's user is "alice")
        assert card["text"].startswith("Escalation #1 (high): Alice (@alice) on telegram: Angry customer")
        assert [e["action_id"] for e in card["blocks"][-1]["elements"]] == ["sb_take", "sb_resolve", "sb_return"]
        [esc] = await wait_until(lambda: rows(svc, m.Escalation, m.Escalation.desk_refs.is_not(None)), timeout=5)
        assert (esc.status, esc.reason_kind) == ("open", "signal")

        # 2. two agents press Take at once: one owner, decided in the database
        statuses = await asyncio.gather(*(
            deliver_interaction(events, slack.block_action_payload(user, "sb_take", str(esc.id), AGENTS, ts), SECRET)
            for user in ("UANN", "UBOB")))
        assert [s for s, _ in statuses] == [200, 200]
        await slack_channel.drained()
        [esc] = await rows(svc, m.Escalation)
        owner = next(a for a in await rows(svc, m.Agent) if a.id == esc.agent_id)
        other = "UBOB" if owner.slack_user_id == "UANN" else "UANN"
        assert esc.status == "claimed"
        assert [(p["user"], p["text"]) for p in slack.calls_of("chat.postEphemeral")] == [
            (other, f"Escalation #1 is already taken by {owner.name}.")]
        assert f"Taken by {owner.name}" in json.dumps(slack.messages[(AGENTS, ts)]["blocks"])

        # 3. the owner answers in the card's thread: the customer gets it on Telegram
        reply = slack.message_event(owner.slack_user_id, "Hi Alice, I'm sorry! Your parcel ships today.",
                                    channel=AGENTS, channel_type="channel", thread_ts=ts)
        assert (await deliver_event(events, reply, SECRET))[0] == 200
        await tg.wait_for("sendMessage", 2)
        assert to_customer(tg)[-1]["text"].endswith(": Hi Alice, I'm sorry! Your parcel ships today.")
        assert to_customer(tg)[-1]["text"].split(": ")[0].endswith("(Test Shop)")  # who writes: a person

        # 4. the customer's next message reaches the agent, not the bot
        tg.push_update(tg.text_update(CHAT, "ok, where is my order now?", first_name="Alice"))
        await wait_until(lambda: "*Customer:* ok, where is my order now?" in in_thread(slack, ts), timeout=10)
        [conv] = await rows(svc, m.Conversation)
        outs = await rows(svc, m.Message, m.Message.conversation_id == conv.id, m.Message.direction == "out")
        assert [o.author for o in outs] == ["bot", "agent"]  # no bot answer was queued for the new message
        assert len(to_customer(tg)) == 2
        [decision] = await rows(svc, m.RouteDecision, m.RouteDecision.rule == "with_human")
        assert decision.route == "human"

        # 5. Resolve: the card says so, the customer is asked for a rating with a 1-5 keyboard
        press = slack.block_action_payload(owner.slack_user_id, "sb_resolve", str(esc.id), AGENTS, ts)
        assert (await deliver_interaction(events, press, SECRET))[0] == 200
        await tg.wait_for("sendMessage", 3)
        prompt = to_customer(tg)[-1]
        assert prompt["text"] == settings.handoff.rating_prompt
        keyboard = prompt["reply_markup"]["inline_keyboard"]
        assert [[(b["text"], b["callback_data"]) for b in row] for row in keyboard] == [
            [(str(i + 1), f"sb:{i}") for i in range(5)]]
        await slack_channel.drained()
        assert f"Resolved by {owner.name}" in json.dumps(slack.messages[(AGENTS, ts)]["blocks"])

        # 6. the customer presses 5: stored as feedback for this escalation, and thanked
        pressed = tg.push_update(tg.callback_update(CHAT, "sb:4", tg.bot_messages(CHAT)[-1]["message_id"]))
        [feedback] = await wait_until(lambda: rows(svc, m.Feedback), timeout=10)
        assert (feedback.rating, feedback.escalation_id, feedback.conversation_id) == (5, esc.id, conv.id)
        await tg.wait_for("sendMessage", 4)
        assert to_customer(tg)[-1]["text"] == settings.handoff.rating_thanks
        assert list(tg.answered) == [pressed["callback_query"]["id"]]
        [conv] = await rows(svc, m.Conversation)
        assert (conv.status, conv.resolved_by) == ("closed", "agent")
