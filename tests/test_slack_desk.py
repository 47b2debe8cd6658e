"""Agents in Slack: escalation cards, their buttons and threads, `/supportbot queue`, the SLA reminder
and the customer's rating buttons; the real slack-bolt code inside the real serve(), against FakeSlack.

A Slack customer (U1, DM channel D1) writes "someone used my card!": the Scripted classifier calls
it fraud_report, the policy's critical rule escalates it, and the card appears in CAGENTS.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import select

from bot.db import models as m
from bot.handoff.escalations import EscalationView
from channels.slack_desk import ZWSP, age, card_blocks
from tests.fakes.slack_api import FakeSlack, deliver_event, deliver_interaction, fake_slack, sign  # noqa: F401
from tests.harness.slack_desk import (AGENTS, click, ephemerals, escalate, migrated, posts, service, settings,  # noqa: F401
                                      slack_of, slack_only, thread_message)  # fixtures: migrated, service, settings, slack_only
from tests.service_harness import running_service, wait_until
from tests.fakes.doubles import Scripted
from tests.harness.slack import SECRET, count, http_env, rows


async def slash(svc, text: str, user: str = "UA", channel: str = AGENTS) -> tuple[int, dict | str]:  # noqa: ANN001
    body = urlencode({"token": "verif-token", "team_id": "T1", "team_domain": "fake-team", "channel_id": channel,
                      "channel_name": "agents", "user_id": user, "user_name": user.lower(), "command": "/supportbot",
                      "text": text, "api_app_id": "A1", "response_url": "http://127.0.0.1:9/response",
                      "trigger_id": "1.2.fake"})
    ts = int(time.time())
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": sign(SECRET, ts, body)}
    async with aiohttp.ClientSession() as s, s.post(svc.events, data=body.encode(), headers=headers) as r:
        raw = await r.text()
        return r.status, json.loads(raw) if raw.startswith("{") else raw


def buttons(message: dict) -> dict[str, str]:
    return {e["action_id"]: e["value"] for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}


# --- the card ----------------------------------------------------------------------------------

async def test_an_escalation_posts_a_card_with_its_fields_and_three_buttons(fake_slack, service):
    fake_slack.add_user("U1", "tom.baker")
    fake_slack.users["U1"]["profile"]["display_name"] = "Tom Baker"  # the customer's name, from users.info
    ts = await escalate(fake_slack, service)
    [card] = posts(fake_slack)
    assert card["text"] == "Escalation #1 (urgent): Tom Baker on slack: Critical case: fraud report"
    header, fields, summary, status, actions = card["blocks"]
    assert header["text"]["text"] == "Escalation #1"
    text = [f["text"] for f in fields["fields"]]
    assert text[:3] == ["*Customer*\nTom Baker", "*Channel*\nslack",
                        "*Why*\nCritical case: fraud report (urgent priority)\ncritical: critical intent fraud_report"]
    assert text[3].startswith("*Age*\n") and " s (opened " in text[3]
    assert "Intent: fraud_report" in summary["text"]["text"]
    assert "Open: waiting for an agent" in status["elements"][0]["text"]
    assert [(e["action_id"], e["value"], e["text"]["text"]) for e in actions["elements"]] == [
        ("sb_take", "1", "Take"), ("sb_resolve", "1", "Resolve"), ("sb_return", "1", "Return to bot")]
    [esc] = await rows(service, m.Escalation)
    assert esc.desk_refs == {"slack": {"channel": AGENTS, "ts": ts}} and esc.announce_count == 1
    # the customer was told a person is coming, in their DM
    await wait_until(lambda: posts(fake_slack, "D1"), timeout=5)
    # an @mention in the agents' channel is an agent talking, not a customer
    mention = fake_slack.app_mention_event("UA", "where is my order", channel=AGENTS)
    assert (await deliver_event(service.events, mention, SECRET))[0] == 200
    assert await count(service, m.InboxEvent) == 1


def test_card_blocks_follow_the_state():
    now = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    esc = EscalationView(7, 1, "claimed", "signal", "signal: anger 1.00", "<!channel> & co", "draft", "telegram",
                         "Alice", 3, "ann", (now - timedelta(minutes=12)).replace(tzinfo=None), now, {})
    blocks = card_blocks(esc, now)
    assert "&lt;!channel&gt; &amp; co" in blocks[2]["text"]["text"]  # customer text cannot ping the channel
    assert blocks[3]["text"]["text"].startswith("*Draft held for review*")
    assert "Taken by ann" in blocks[4]["elements"][0]["text"]
    assert [e["action_id"] for e in blocks[5]["elements"]] == ["sb_resolve", "sb_return"]
    resolved = card_blocks(EscalationView(**{**esc.__dict__, "status": "resolved"}), now)
    assert resolved[-1]["type"] == "context" and "Resolved by ann" in resolved[-1]["elements"][0]["text"]
    assert age(now - timedelta(seconds=5), now) == "5 s"
    assert age(now - timedelta(hours=3, minutes=5), now) == "3 h 5 min"


def test_a_customers_backticks_cannot_close_the_cards_code_block():
    now = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    said = "`my order```\n*URGENT* <!channel> pay to ````x` `` `"
    esc = EscalationView(8, 1, "open", "signal", "anger", said, "```" * 2000, "slack", "Bob", 3, None,
                         now.replace(tzinfo=None), now, {})
    summary, draft = (b["text"]["text"] for b in card_blocks(esc, now)[2:4])
    for text, label in ((summary, "*Summary*\n"), (draft, "*Draft held for review*\n")):
        assert text.startswith(label + "```") and len(text) <= 3000
        inner = text[len(label) + 3:].removesuffix(" _(cut)_")
        assert inner.endswith("```") and "``" not in inner[:-3]  # the only fences are ours
        assert not inner[:-3].endswith("`") and not inner.startswith("`")
    inner = summary[len("*Summary*\n```"):-3]
    assert inner.replace(ZWSP, "") == "`my order```\n*URGENT* &lt;!channel&gt; pay to ````x` `` `"  # all kept
    assert draft.endswith("``` _(cut)_")


# --- Take: one winner ---------------------------------------------------------------------------

async def test_two_concurrent_takes_have_exactly_one_winner(fake_slack, service):
    ts = await escalate(fake_slack, service)
    fake_slack.add_user("UA", "ann")
    fake_slack.add_user("UB", "bob")
    statuses = await asyncio.gather(click(fake_slack, service, "UA", "sb_take", "1", ts),
                                    click(fake_slack, service, "UB", "sb_take", "1", ts))
    assert statuses == [200, 200]
    await slack_of(service).drained()

    [esc] = await rows(service, m.Escalation)
    agents = {a.id: a for a in await rows(service, m.Agent)}
    assert esc.status == "claimed" and {a.slack_user_id for a in agents.values()} == {"UA", "UB"}
    winner = agents[esc.agent_id]
    loser = ({"UA", "UB"} - {winner.slack_user_id}).pop()
    assert ephemerals(fake_slack, loser) == [f"Escalation #1 is already taken by {winner.name}."]
    assert ephemerals(fake_slack, winner.slack_user_id) == []
    [update] = fake_slack.calls_of("chat.update")
    card = fake_slack.messages[(AGENTS, ts)]
    assert f"Taken by {winner.name}" in json.dumps(card["blocks"]) and update["ts"] == ts
    assert set(buttons(card)) == {"sb_resolve", "sb_return"}  # Take is gone
    [note] = posts(fake_slack, AGENTS, ts)
    assert note["text"].startswith(f"{winner.name} took this escalation")
    [conv] = await rows(service, m.Conversation)
    assert conv.status == "human"

    # pressing Take again is harmless: still theirs, nothing posted twice
    assert await click(fake_slack, service, winner.slack_user_id, "sb_take", "1", ts) == 200
    await slack_of(service).drained()
    [again] = await rows(service, m.Escalation)
    assert (again.status, again.agent_id, again.claimed_at) == ("claimed", winner.id, esc.claimed_at)
    assert len(fake_slack.calls_of("chat.update")) == 1 and len(posts(fake_slack, AGENTS, ts)) == 1
    assert ephemerals(fake_slack, winner.slack_user_id) == [] and len(await rows(service, m.Agent)) == 2


# --- the card's thread --------------------------------------------------------------------------


async def test_the_owner_talks_to_the_customer_in_the_cards_thread(fake_slack, service):
    ts = await escalate(fake_slack, service)
    early = thread_message(fake_slack, "UA", "on it", ts)
    assert (await deliver_event(service.events, early, SECRET))[0] == 200  # not taken yet: not sent
    assert ephemerals(fake_slack, "UA") == ["Press *Take* on the card first; then what you write here goes to the "
                                            "customer. (Not sent to the customer.)"]
    assert await click(fake_slack, service, "UA", "sb_take", "1", ts) == 200
    await slack_of(service).drained()
    dm_before = len(posts(fake_slack, "D1"))
    desk = slack_of(service).desk
    desk._cards.clear(), desk._by_ts.clear()  # as after a restart: the card is found through the database

    text = "Hi, I'm <@UA> from support: I've blocked the card &amp; ordered a new one."
    reply = thread_message(fake_slack, "UA", text, ts)
    assert (await deliver_event(service.events, reply, SECRET))[0] == 200
    await wait_until(lambda: len(posts(fake_slack, "D1")) > dm_before, timeout=5)
    assert posts(fake_slack, "D1")[-1]["text"] == \
        "Ua (Test Shop): Hi, I'm @UA from support: I've blocked the card &amp; ordered a new one."
    assert (await deliver_event(service.events, reply, SECRET, retry_num=1))[0] == 200  # Slack's retry: once only
    other = thread_message(fake_slack, "UB", "need help?", ts)  # another agent in the thread: not sent
    assert (await deliver_event(service.events, other, SECRET))[0] == 200
    assert "holds escalation #1" in ephemerals(fake_slack, "UB")[0]
    chatter = fake_slack.message_event("UB", "lunch?", channel=AGENTS, channel_type="channel", thread_ts="1.000001")
    assert (await deliver_event(service.events, chatter, SECRET))[0] == 200  # a thread that is no card: ignored
    assert len(ephemerals(fake_slack, "UB")) == 1

    # the customer's next message reaches the agent, in the thread, and the bot stays quiet
    assert (await deliver_event(service.events, fake_slack.message_event("U1", "thanks, &lt;when&gt; will it come?"),
                                SECRET))[0] == 200
    await wait_until(lambda: any("*Customer:*" in p["text"] for p in posts(fake_slack, AGENTS, ts)), timeout=5)
    assert posts(fake_slack, AGENTS, ts)[-1]["text"] == "*Customer:* thanks, &lt;when&gt; will it come?"
    sent = [(x.author, x.text) for x in await rows(service, m.Message, m.Message.direction == "out")]
    assert [a for a, _ in sent] == ["bot", "agent"]  # "a person is coming", then the agent's one reply: no bot answer
    assert len(await rows(service, m.OutboxMessage)) == 2
    [esc] = await rows(service, m.Escalation)
    assert esc.first_response_at is not None


# --- /supportbot queue --------------------------------------------------------------------------

async def test_queue_lists_open_escalations(fake_slack, service):
    assert await slash(service, "queue") == (200, {"text": "No open escalations. :tada:", "response_type": "ephemeral"})
    await escalate(fake_slack, service)
    status, body = await slash(service, "queue")
    assert status == 200 and body["response_type"] == "ephemeral"
    assert body["text"].startswith("*Open escalations: 1*\n• *#1* u1 (slack): critical, critical intent")  # users.info
    assert "(waiting " in body["text"]
    assert "<#CAGENTS>" in (await slash(service, "queue", channel="D1"))[1]["text"]  # agents' channel only
    assert "Usage" in (await slash(service, ""))[1]["text"]


# --- SLA ----------------------------------------------------------------------------------------

async def test_an_untaken_escalation_is_announced_again_after_the_sla(fake_slack, settings):
    settings.handoff.sla_seconds = 1
    async with running_service(settings, http_env(fake_slack), classifier=Scripted()) as svc:
        svc.events = svc.url + "/slack/events"
        stop = asyncio.Event()
        sla = asyncio.create_task(svc.app.handoff.run_sla(stop, every=0.05))  # the service's loop ticks every 5 s
        try:
            ts = await escalate(fake_slack, svc)
            await wait_until(lambda: posts(fake_slack, AGENTS, ts), timeout=5)
        finally:
            stop.set()
            await sla
        reminder = posts(fake_slack, AGENTS, ts)[0]
        assert reminder["text"].startswith(":alarm_clock: Escalation #1 is still not taken after ")
        assert reminder["reply_broadcast"] in (True, "true", "1")  # shown in the channel too
        assert len(posts(fake_slack)) == 1  # still one card
        [esc] = await rows(svc, m.Escalation)
        assert esc.announce_count >= 2 and esc.desk_refs["slack"]["ts"] == ts


# --- resolve, return, rating --------------------------------------------------------------------

async def test_resolve_asks_the_slack_customer_for_a_rating_with_buttons(fake_slack, service, settings):
    ts = await escalate(fake_slack, service)
    assert await click(fake_slack, service, "UB", "sb_resolve", "1", ts) == 200  # not taken: told why
    await slack_of(service).drained()
    assert ephemerals(fake_slack, "UB") == ["Could not resolve: escalation #1 is open; take it first."]
    assert await click(fake_slack, service, "UA", "sb_take", "1", ts) == 200
    await slack_of(service).drained()
    assert await click(fake_slack, service, "UB", "sb_return", "1", ts) == 200  # not theirs
    await slack_of(service).drained()
    assert ephemerals(fake_slack, "UB")[-1] == "Could not return to the bot: escalation #1 is held by another agent."

    assert await click(fake_slack, service, "UA", "sb_resolve", "1", ts) == 200
    await slack_of(service).drained()
    await wait_until(lambda: any(p.get("blocks") for p in posts(fake_slack, "D1")), timeout=5)
    [prompt] = [p for p in posts(fake_slack, "D1") if p.get("blocks")]
    assert prompt["text"] == settings.handoff.rating_prompt
    section, actions = prompt["blocks"]
    assert section["text"]["text"] == settings.handoff.rating_prompt
    assert actions["block_id"] == "sb_rate0|T1:U1|T1:D1"
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [(f"sb_rate_{i}", str(i + 1))
                                                                            for i in range(5)]
    card = fake_slack.messages[(AGENTS, ts)]
    assert "Resolved by ua" in json.dumps(card["blocks"]) and buttons(card) == {}
    prompt_ts = fake_slack.bot_messages("D1")[-1]["ts"]

    # the customer presses 5: stored as their answer, the buttons make way for the choice
    press = dict(block_id=actions["block_id"], text="5")
    assert await click(fake_slack, service, "U1", "sb_rate_4", "5", prompt_ts, channel="D1", **press) == 200
    [feedback] = await wait_until(lambda: rows(service, m.Feedback), timeout=5)
    assert (feedback.rating, feedback.escalation_id) == (5, 1)
    await wait_until(lambda: posts(fake_slack, "D1")[-1]["text"] == settings.handoff.rating_thanks, timeout=5)
    await slack_of(service).drained()
    assert "You chose: *5*" in json.dumps(fake_slack.messages[("D1", prompt_ts)]["blocks"])
    assert buttons(fake_slack.messages[("D1", prompt_ts)]) == {}
    assert await click(fake_slack, service, "U1", "sb_rate_0", "1", prompt_ts, channel="D1", **press) == 200
    assert await click(fake_slack, service, "U9", "sb_rate_0", "1", prompt_ts, channel="D1", **press) == 200
    await slack_of(service).drained()
    assert len(await rows(service, m.Feedback)) == 1  # one answer per question, and only the customer's
    assert ephemerals(fake_slack, "U9") == ["These buttons are for the customer who asked."]
    [conv] = await rows(service, m.Conversation)
    assert (conv.status, conv.resolved_by) == ("closed", "agent")


async def test_return_to_bot_hands_the_conversation_back(fake_slack, service, settings):
    ts = await escalate(fake_slack, service)
    assert await click(fake_slack, service, "UA", "sb_take", "1", ts) == 200
    await slack_of(service).drained()
    assert await click(fake_slack, service, "UA", "sb_return", "1", ts) == 200
    await slack_of(service).drained()
    await wait_until(lambda: posts(fake_slack, "D1")[-1]["text"] == settings.handoff.returned_text, timeout=5)
    card = fake_slack.messages[(AGENTS, ts)]
    assert "Returned to the bot by ua" in json.dumps(card["blocks"]) and buttons(card) == {}
    assert posts(fake_slack, AGENTS, ts)[-1]["text"] == "ua returned the conversation to the bot."
    [conv] = await rows(service, m.Conversation)
    assert conv.status == "bot"
    assert (await slash(service, "queue"))[1]["text"] == "No open escalations. :tada:"
    # the bot answers again
    n = len(posts(fake_slack, "D1"))
    assert (await deliver_event(service.events, fake_slack.message_event("U1", "where is my order?"), SECRET))[0] == 200
    await wait_until(lambda: len(posts(fake_slack, "D1")) > n, timeout=5)
    assert "track your order" in posts(fake_slack, "D1")[-1]["text"]


# --- Socket Mode --------------------------------------------------------------------------------

async def test_buttons_and_the_command_work_over_socket_mode(fake_slack, settings):
    env = {"SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_APP_TOKEN": fake_slack.app_token,
           "SLACK_API_URL": fake_slack.api_url}
    async with running_service(settings, env, classifier=Scripted()) as svc:
        await fake_slack.wait_for_socket()
        await fake_slack.wait_for_ack(await fake_slack.socket_send_event(fake_slack.message_event("U1", "my card!")))
        await wait_until(lambda: posts(fake_slack), timeout=5)
        ts = fake_slack.bot_messages(AGENTS)[-1]["ts"]
        take = fake_slack.block_action_payload("UA", "sb_take", "1", AGENTS, ts)
        await fake_slack.wait_for_ack(await fake_slack.socket_send_event(take))
        await slack_of(svc).drained()
        [esc] = await rows(svc, m.Escalation)
        assert esc.status == "claimed"
        command = {"command": "/supportbot", "text": "queue", "user_id": "UA", "channel_id": AGENTS, "team_id": "T1",
                   "api_app_id": "A1", "token": "verif-token", "response_url": "http://127.0.0.1:9/r",
                   "trigger_id": "1.2.fake"}
        ack = await fake_slack.wait_for_ack(await fake_slack.socket_send_event(command))
        assert "taken by ua" in ack["payload"]["text"] and ack["payload"]["response_type"] == "ephemeral"


async def test_a_customer_without_a_readable_profile_is_shown_by_id_and_looked_up_once(fake_slack, service):
    fake_slack.users.pop("UX", None)
    assert (await deliver_event(service.events, fake_slack.message_event("X9", "hello there"), SECRET))[0] == 200
    assert (await deliver_event(service.events, fake_slack.message_event("X9", "anyone?"), SECRET))[0] == 200
    await wait_until(lambda: len(fake_slack.bot_messages("D1")) >= 2, timeout=10)
    assert [c["user"] for c in fake_slack.calls_of("users.info")].count("X9") == 1  # user_not_found, remembered
    async with service.app.sessions() as s:
        (customer,) = (await s.scalars(select(m.Customer))).all()
    assert (customer.external_id, customer.display_name) == ("T1:X9", None)
