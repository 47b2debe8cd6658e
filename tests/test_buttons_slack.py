"""Customer reply buttons on Slack against the contract the core relies on: a press reaches the inbox
as the button's label, kind text, in the conversation of the reply that carried it (a DM, or a
channel thread), answered once: a repeated action payload, or a second press on the same message, is
recognised by the inbox. Real slack-bolt inside the real serve(), against FakeSlack.
"""

from __future__ import annotations

from bot.db import models as m
from bot.messages import Reply
from tests.fakes.slack_api import FakeSlack, deliver_event, fake_slack  # noqa: F401 - a fixture
from tests.service_harness import wait_until
from tests.harness.slack import ORDER_REPLY, SECRET, count, rows, service, settings  # noqa: F401 - fixtures

LABELS = ("Order status", "Returns", "Something else")
LONG = "I would like to talk about something else than any of these, " * 3  # over Slack's 75 for a button


def slack_of(svc):  # noqa: ANN001, ANN201
    [rt] = [rt for rt in svc.runtimes if rt.name == "slack"]
    return rt


async def counted(n: int, svc, model, *where) -> bool:  # noqa: ANN001
    return await count(svc, model, *where) == n


def button_rows(message: dict) -> list[tuple[str, str, str]]:
    return [(b["block_id"], e["action_id"], e["value"]) for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]]


def payload_for(fake: FakeSlack, user: str, channel: str, ts: str, i: int) -> dict:
    block, action, value = button_rows(fake.messages[(channel, ts)])[i]
    return fake.block_action_payload(user, action, value, channel, ts, block_id=block, text=value[:75])


async def press(fake: FakeSlack, svc, user: str, channel: str, ts: str, i: int, payload: dict | None = None) -> dict:  # noqa: ANN001
    payload = payload or payload_for(fake, user, channel, ts, i)
    status, _ = await fake.deliver_interaction(svc.events, payload, SECRET)
    assert status == 200
    return payload


async def test_a_press_is_the_label_in_the_dm_conversation_once(fake_slack, service):
    status, _ = await deliver_event(service.events, fake_slack.message_event("U1", "hello"), SECRET)
    assert status == 200
    await fake_slack.wait_for("chat.postMessage")
    reply = Reply(text="Did you mean one of these?", channel="slack", customer_id="T1:U1", conversation_key="T1:D1",
                  reply_to={"channel": "D1", "thread_ts": None}, buttons=(*LABELS, LONG))
    ts = await slack_of(service).deliver(reply, "buttons-dm")
    assert [v for _, _, v in button_rows(fake_slack.messages[("D1", ts)])] == [*LABELS, LONG]

    second = payload_for(fake_slack, "U1", "D1", ts, 1)  # pressed before the buttons went
    first = await press(fake_slack, service, "U1", "D1", ts, 0)
    await press(fake_slack, service, "U1", "D1", ts, 0, first)  # Slack delivers the same payload again
    await press(fake_slack, service, "U1", "D1", ts, 1, second)
    await wait_until(lambda: any(p["text"] == ORDER_REPLY for p in fake_slack.posted_messages()))
    events = await rows(service, m.InboxEvent)
    assert len(events) == 2  # hello, and one press
    p = events[1].payload
    assert (p["text"], p["kind"], p["conversation_key"], p["customer_id"]) == ("Order status", "text", "T1:D1", "T1:U1")
    await wait_until(lambda: counted(2, service, m.Message, m.Message.direction == "out"))  # hello and the press answered
    assert await count(service, m.Conversation) == 1
    await slack_of(service).drained()
    assert button_rows(fake_slack.messages[("D1", ts)]) == []  # the buttons made way for the choice

    # a long label comes back whole (the button shows its first 75 characters)
    reply = Reply(text="And now?", channel="slack", customer_id="T1:U1", conversation_key="T1:D1",
                  reply_to={"channel": "D1", "thread_ts": None}, buttons=(LONG,))
    ts2 = await slack_of(service).deliver(reply, "buttons-dm-2")
    await press(fake_slack, service, "U1", "D1", ts2, 0)
    await wait_until(lambda: counted(3, service, m.InboxEvent))
    assert (await rows(service, m.InboxEvent))[-1].payload["text"] == LONG


async def test_a_press_in_a_channel_thread_stays_in_that_thread(fake_slack, service):
    mention = fake_slack.app_mention_event("U1", "<@UBOT> hello", channel="C1")
    status, _ = await deliver_event(service.events, mention, SECRET)
    assert status == 200
    [post] = await fake_slack.wait_for("chat.postMessage")
    thread = post["thread_ts"]
    [asked] = await rows(service, m.InboxEvent)
    key = asked.payload["conversation_key"]
    reply = Reply(text="Did that help?", channel="slack", customer_id="T1:U1", conversation_key=key,
                  reply_to={"channel": "C1", "thread_ts": thread}, buttons=("That helped", "I need more help"))
    ts = await slack_of(service).deliver(reply, "buttons-thread")
    await press(fake_slack, service, "U2", "C1", ts, 0)  # someone else: told so, nothing stored
    await slack_of(service).drained()
    assert await count(service, m.InboxEvent) == 1
    await press(fake_slack, service, "U1", "C1", ts, 1)
    await wait_until(lambda: counted(2, service, m.InboxEvent))
    p = (await rows(service, m.InboxEvent))[-1].payload
    assert (p["text"], p["conversation_key"], p["reply_to"]) == ("I need more help", key,
                                                                {"channel": "C1", "thread_ts": thread})
    await fake_slack.wait_for("chat.postMessage", 3)
    assert fake_slack.posted_messages()[-1]["thread_ts"] == thread
