"""The Slack channel: the real slack-bolt / slack_sdk code inside the real `serve`, against FakeSlack.

HTTP Events API (signed deliveries to /slack/events) and Socket Mode (envelopes over the
fake's websocket); replies come back through the fake's chat.postMessage. The classifier is
the `Scripted` double, so "where is my order" is always the canned order-status answer.
"""

from __future__ import annotations

import io
import json
import time

import aiohttp
import pytest

from bot.runtime.channel import ChannelContext, DeliveryError
from bot.db import models as m
from bot.messages import Reply
from bot.settings import ConfigError
from channels.slack import LIMIT, SlackChannel, create, escape, plain_text, split_text
from tests.fakes.slack_api import FakeSlack, deliver_event, fake_slack, sign  # noqa: F401 - a fixture
from tests.harness.slack import ORDER_REPLY, SECRET, count, http_env, rows, service, settings  # noqa: F401 - fixtures
from tests.service_harness import running_service, wait_until
from tests.fakes.doubles import Scripted


async def post_raw(url: str, body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> int:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": sign(secret, ts, body.decode("utf-8", "replace"))}
    async with aiohttp.ClientSession() as s, s.post(url, data=io.BytesIO(body), headers=headers) as r:
        return r.status


async def barrier(fake: FakeSlack, svc, text: str = "where is my order, again?") -> dict:  # noqa: ANN001
    """A customer message delivered after others and answered: everything before it is done."""
    before = len(fake.calls_of("chat.postMessage"))
    status, _ = await deliver_event(svc.events, fake.message_event("U9", text, channel="D9"), SECRET)
    assert status == 200
    return (await fake.wait_for("chat.postMessage", before + 1))[-1]


# --- HTTP Events API -----------------------------------------------------------------------------

async def test_direct_message_end_to_end(fake_slack, service):
    ev = fake_slack.message_event("U1", "where is my order?")
    status, _ = await deliver_event(service.events, ev, SECRET)
    assert status == 200
    [event] = await rows(service, m.InboxEvent)  # stored before the 200 went out
    assert event.external_id == f"T1:{ev['event_id']}"
    assert (event.payload["customer_id"], event.payload["conversation_key"]) == ("T1:U1", "T1:D1")
    assert event.payload["reply_to"] == {"channel": "D1", "thread_ts": None}

    [post] = await fake_slack.wait_for("chat.postMessage")
    assert (post["channel"], post["text"], post.get("thread_ts")) == ("D1", ORDER_REPLY, None)
    [ts] = [t for (c, t), msg in fake_slack.messages.items() if c == "D1" and msg.get("bot_id")]
    await wait_until(lambda: count(service, m.OutboxMessage, m.OutboxMessage.status == "sent",
                                   m.OutboxMessage.external_id == ts))
    assert [(x.direction, x.author) for x in await rows(service, m.Message)] == [("in", "customer"), ("out", "bot")]
    [decision] = await rows(service, m.RouteDecision)
    assert (decision.route, decision.rule, decision.intent) == ("template", "canned", "order_status")

    async with aiohttp.ClientSession() as s, s.get(service.url + "/healthz") as r:
        health = await r.json()
    assert health["channels"]["slack"] == {"state": "http", "team": "Fake Team", "bot_user": "UBOT"}


async def test_mention_in_a_channel_is_answered_in_its_thread(fake_slack, service):
    ev = fake_slack.app_mention_event("U2", "where is my order", channel="C1")
    assert (await deliver_event(service.events, ev, SECRET))[0] == 200
    [post] = await fake_slack.wait_for("chat.postMessage")
    assert (post["channel"], post["thread_ts"], post["text"]) == ("C1", ev["event"]["ts"], ORDER_REPLY.replace("u1", "u2"))
    [event] = await rows(service, m.InboxEvent)
    assert event.payload["text"] == "where is my order"  # the leading <@UBOT> is gone
    assert event.payload["conversation_key"] == f"T1:C1:{ev['event']['ts']}"

    # a mention inside an existing thread continues that thread
    reply = fake_slack.app_mention_event("U2", "and my return?", channel="C1", thread_ts=ev["event"]["ts"])
    assert (await deliver_event(service.events, reply, SECRET))[0] == 200
    second = (await fake_slack.wait_for("chat.postMessage", 2))[-1]
    assert (second["channel"], second["thread_ts"]) == ("C1", ev["event"]["ts"])


async def test_a_thread_inside_a_direct_message_is_its_own_conversation(fake_slack, service):
    ev = fake_slack.message_event("U1", "where is my order?", thread_ts="1700000000.000100")
    assert (await deliver_event(service.events, ev, SECRET))[0] == 200
    [post] = await fake_slack.wait_for("chat.postMessage")
    assert (post["channel"], post["thread_ts"]) == ("D1", "1700000000.000100")
    [event] = await rows(service, m.InboxEvent)
    assert event.payload["conversation_key"] == "T1:D1:1700000000.000100"


async def test_url_verification_is_answered(fake_slack, service):
    status, body = await deliver_event(service.events, fake_slack.url_verification("chal-123"), SECRET)
    assert status == 200 and json.loads(body)["challenge"] == "chal-123"


async def test_forged_or_stale_signatures_are_refused(fake_slack, service):
    ev = fake_slack.message_event("U1", "where is my order?")
    assert (await deliver_event(service.events, ev, "not-the-secret"))[0] == 401
    assert (await deliver_event(service.events, ev, SECRET, signature="v0=" + "0" * 64))[0] == 401
    assert (await deliver_event(service.events, ev, SECRET, timestamp=int(time.time()) - 360))[0] == 401  # replay
    assert (await deliver_event(service.events, ev, SECRET, timestamp=int(time.time()) + 360))[0] == 401
    assert (await deliver_event(service.events, ev, SECRET, timestamp="soon"))[0] == 401  # not a number: no 500
    assert await post_raw(service.events, b"{broken", secret="not-the-secret") == 401  # not 400: unsigned
    assert await count(service, m.InboxEvent) == 0 and fake_slack.calls_of("chat.postMessage") == []


async def test_a_redelivered_event_is_answered_once(fake_slack, service):
    ev = fake_slack.message_event("U1", "where is my order?")
    assert (await deliver_event(service.events, ev, SECRET))[0] == 200
    await fake_slack.wait_for("chat.postMessage")
    assert (await deliver_event(service.events, ev, SECRET, retry_num=1))[0] == 200  # Slack's retry: acked
    await barrier(fake_slack, service)
    assert len(fake_slack.posted_messages()) == 2  # the first answer and the barrier's, no second answer
    assert await count(service, m.InboxEvent, m.InboxEvent.external_id == f"T1:{ev['event_id']}") == 1


async def test_bots_edits_and_channel_chatter_are_ignored(fake_slack, service):
    own = fake_slack.message_event("UBOT", "where is my order?", bot_id="BBOT")
    other_bot = fake_slack.message_event(None, "where is my order?", bot_id="B2")
    other_bot_user = fake_slack.message_event("U7", "where is my order?", bot_id="B7")
    edited = fake_slack.message_event("U1", "where is my order?")
    edited["event"]["subtype"] = "message_changed"
    chatter = fake_slack.message_event("U1", "where is my order?", channel="C1", channel_type="channel")
    for ev in (own, other_bot, other_bot_user, edited, chatter):
        assert (await deliver_event(service.events, ev, SECRET))[0] == 200
    await barrier(fake_slack, service)
    assert len(fake_slack.posted_messages()) == 1
    assert await count(service, m.InboxEvent) == 1


async def test_unknown_and_malformed_payloads(fake_slack, service):
    unknown = fake_slack.message_event("U1", "x")
    unknown["event"] = {"type": "reaction_added", "user": "U1", "reaction": "tada", "event_ts": "1.2",
                        "item": {"type": "message", "channel": "D1", "ts": "1.1"}}
    assert (await deliver_event(service.events, unknown, SECRET))[0] == 200
    assert (await deliver_event(service.events, {"type": "app_rate_limited", "team_id": "T1",
                                                 "minute_rate_limited": 1, "api_app_id": "A1"}, SECRET))[0] == 200
    for body in (b"{broken", b"[1, 2]", b"null", b"\xff\xfe"):
        assert 400 <= await post_raw(service.events, body) < 500, body
    assert await post_raw(service.events, b'{"pad": "' + b"x" * (1024 * 1024) + b'"}') == 413
    assert await count(service, m.InboxEvent) == 0


async def test_nothing_is_acknowledged_before_it_is_stored(fake_slack, service, monkeypatch):
    inbox, real = service.app.inbox, service.app.inbox.accept

    async def down(msg, external_id):  # noqa: ANN001, ANN202
        raise ConnectionError("database is down")

    monkeypatch.setattr(inbox, "accept", down)
    ev = fake_slack.message_event("U1", "where is my order?")
    assert (await deliver_event(service.events, ev, SECRET))[0] == 500  # Slack will retry
    monkeypatch.setattr(inbox, "accept", real)
    assert (await deliver_event(service.events, ev, SECRET, retry_num=1))[0] == 200
    [post] = await fake_slack.wait_for("chat.postMessage")
    assert post["text"] == ORDER_REPLY


async def test_events_are_refused_until_auth_test_answers(fake_slack, settings):
    """bolt answers 200 when auth.test fails with a Slack error (the event would be lost): ours says 500."""
    fake_slack.fail_next("auth.test", status=503)  # at start: the service still starts
    fake_slack.fail_next("auth.test", error="internal_error")  # at the first event: refused, Slack retries
    async with running_service(settings, http_env(fake_slack), classifier=Scripted()) as svc:
        [slack] = [rt for rt in svc.runtimes if rt.name == "slack"]
        assert slack.state()["state"] == "error"
        ev = fake_slack.message_event("U1", "where is my order?")
        assert (await deliver_event(svc.url + "/slack/events", ev, SECRET))[0] == 500
        assert await count(svc, m.InboxEvent) == 0
        assert (await deliver_event(svc.url + "/slack/events", ev, SECRET, retry_num=1))[0] == 200
        assert (await fake_slack.wait_for("chat.postMessage"))[0]["text"] == ORDER_REPLY
        assert slack.state() == {"state": "http", "team": "Fake Team", "bot_user": "UBOT"}


async def test_ratelimited_reply_is_retried_after_retry_after(fake_slack, service):
    fake_slack.fail_next("chat.postMessage", ratelimited=True, retry_after=1)
    assert (await deliver_event(service.events, fake_slack.message_event("U1", "where is my order?"), SECRET))[0] == 200
    await fake_slack.wait_for("chat.postMessage", 2, timeout=10)
    assert fake_slack.statuses[-2:] == [429, 200]
    assert [p["text"] for p in fake_slack.posted_messages()] == [ORDER_REPLY]
    [row] = await wait_until(lambda: rows(service, m.OutboxMessage, m.OutboxMessage.status == "sent"))
    assert row.attempts == 2


# --- Socket Mode ---------------------------------------------------------------------------------

async def test_socket_mode_end_to_end(fake_slack, settings, monkeypatch):
    env = {"SLACK_BOT_TOKEN": fake_slack.bot_token, "SLACK_APP_TOKEN": fake_slack.app_token,
           "SLACK_API_URL": fake_slack.api_url}
    async with running_service(settings, env, classifier=Scripted()) as svc:
        acks_when_stored, store = [], svc.app.inbox.accept

        async def accept(msg, external_id):  # noqa: ANN001, ANN202
            try:
                return await store(msg, external_id)
            finally:
                acks_when_stored.append(len(fake_slack.acks))

        monkeypatch.setattr(svc.app.inbox, "accept", accept)
        await fake_slack.wait_for_socket()
        ev = fake_slack.message_event("U1", "where is my order?")
        envelope = await fake_slack.socket_send_event(ev)
        ack = await fake_slack.wait_for_ack(envelope)
        assert ack == {"envelope_id": envelope} and acks_when_stored == [0]  # stored, then acked
        [event] = await rows(svc, m.InboxEvent)  # already stored when the ack arrived
        assert event.external_id == f"T1:{ev['event_id']}"
        [post] = await fake_slack.wait_for("chat.postMessage")
        assert (post["channel"], post["text"]) == ("D1", ORDER_REPLY)

        # a redelivery (retry_attempt 1) and an unknown event type are acked and not answered
        await fake_slack.wait_for_ack(await fake_slack.socket_send_event(ev, retry_attempt=1))
        unknown = fake_slack.message_event("U1", "x")
        unknown["event"] = {"type": "reaction_added", "user": "U1", "reaction": "tada", "event_ts": "1.2"}
        await fake_slack.wait_for_ack(await fake_slack.socket_send_event(unknown))
        assert await count(svc, m.InboxEvent) == 1
        [slack] = [rt for rt in svc.runtimes if rt.name == "slack"]
        assert slack.state() == {"state": "socket", "team": "Fake Team", "bot_user": "UBOT", "connected": True}
        async with aiohttp.ClientSession() as s, s.post(svc.url + "/slack/events", data=b"{}") as r:
            assert r.status in (404, 405)  # no HTTP endpoint in Socket Mode
    assert slack.state()["state"] == "stopped"


# --- create(), deliver() and the text helpers ----------------------------------------------------

def ctx(env: dict) -> ChannelContext:
    return ChannelContext(settings=None, inbox=None, sessions=None, env=env)


def test_create_reads_the_environment():
    assert create(ctx({})) is None
    with pytest.raises(ConfigError) as e:
        create(ctx({"SLACK_BOT_TOKEN": "xoxb-1"}))
    assert e.value.key == "SLACK_SIGNING_SECRET" and "SLACK_APP_TOKEN" in e.value.reason
    with pytest.raises(ConfigError):
        create(ctx({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-not-an-app-token"}))
    assert create(ctx({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})).mode == "http"
    assert create(ctx({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"})).mode == "socket"
    assert create(ctx({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SLACK_SIGNING_SECRET": "s"})).mode \
        == "socket"


def reply(text: str, channel: str = "D1", thread_ts: str | None = None) -> Reply:
    return Reply(text=text, channel="slack", customer_id="T1:U1", conversation_key=f"T1:{channel}",
                 reply_to={"channel": channel, "thread_ts": thread_ts})


@pytest.fixture
def channel(fake_slack) -> SlackChannel:
    return create(ctx(http_env(fake_slack)))


@pytest.mark.parametrize(("failure", "unreachable", "permanent", "retry_after"), [
    ({"error": "channel_not_found"}, True, True, None),
    ({"error": "is_archived"}, True, True, None),
    ({"error": "invalid_auth"}, False, True, None),
    ({"status": 500}, False, False, None),
    ({"error": "internal_error"}, False, False, None),
    ({"ratelimited": True, "retry_after": 7}, False, False, 7),
])
async def test_delivery_errors_are_mapped(fake_slack, channel, failure, unreachable, permanent, retry_after):
    fake_slack.fail_next("chat.postMessage", **failure)
    with pytest.raises(DeliveryError) as e:
        await channel.deliver(reply("hi"), "k1")
    assert (e.value.unreachable, e.value.permanent, e.value.retry_after) == (unreachable, permanent, retry_after)
    assert await channel.deliver(reply("hi"), "k1") == fake_slack.responses[-1]["ts"]  # the next try


async def test_long_replies_are_split_and_a_retry_sends_only_what_is_missing(fake_slack, channel, monkeypatch):
    text = "\n\n".join(f"paragraph {i} " + "word " * 700 for i in range(3))  # ~3 x 3,500 chars
    real, calls = channel.client.chat_postMessage, []

    async def second_call_fails(**kw):  # noqa: ANN003, ANN202
        calls.append(kw)
        if len(calls) == 2:
            fake_slack.fail_next("chat.postMessage", status=503)
        return await real(**kw)

    monkeypatch.setattr(channel.client, "chat_postMessage", second_call_fails)
    with pytest.raises(DeliveryError) as e:
        await channel.deliver(reply(text, thread_ts="1.5"), "k2")
    assert not e.value.permanent
    ts = await channel.deliver(reply(text, thread_ts="1.5"), "k2")
    posted = fake_slack.posted_messages()
    assert [p["text"].split(" ")[1] for p in posted] == ["0", "1", "2"]  # each paragraph once, in order
    assert all(len(p["text"]) <= LIMIT and p["thread_ts"] == "1.5" for p in posted)
    assert ts == fake_slack.responses[-1]["ts"]
    assert await channel.deliver(reply(text), "k2") == ts and len(fake_slack.posted_messages()) == 3


async def test_replies_are_escaped_for_slack(fake_slack, channel):
    await channel.deliver(reply("a <!channel> & b > c"), "k3")
    assert fake_slack.posted_messages()[0]["text"] == "a &lt;!channel&gt; &amp; b &gt; c"


def test_split_prefers_paragraphs_then_lines_then_spaces_then_a_hard_cut():
    assert split_text("short") == ["short"] and split_text("") == []
    para = "a" * 60 + "\n\n" + "b" * 30 + "\n" + "c" * 30
    assert split_text(para, 100) == ["a" * 60, "b" * 30 + "\n" + "c" * 30]
    lines = "a" * 60 + "\n" + "b" * 30 + " " + "c" * 30
    assert split_text(lines, 100) == ["a" * 60, "b" * 30 + " " + "c" * 30]
    words = ("word " * 50).strip()
    chunks = split_text(words, 100)
    assert all(len(c) <= 100 for c in chunks) and " ".join(chunks) == words
    assert split_text("x" * 250, 100) == ["x" * 100, "x" * 100, "x" * 50]
    entity = "x" * 97 + "&amp;" + "y" * 10  # a hard cut never splits an entity
    assert split_text(entity, 100) == ["x" * 97, "&amp;" + "y" * 10]
    big = ("line\n" * 2000) + "\n\n" + "z" * 9000
    assert all(len(c) <= LIMIT for c in split_text(big)) and "".join(split_text(big)).count("z") == 9000


def test_plain_text_reads_slack_markup():
    assert plain_text("<@UBOT> where is my order?", "UBOT") == "where is my order?"
    assert plain_text("<@UBOT>: hi <@U2>", "UBOT") == "hi @U2"
    assert plain_text("see <https://x.test/a|my order> &amp; &lt;3", "UBOT") == "see my order & <3"
    assert plain_text("hey <@UBOT> there", "UBOT") == "hey @UBOT there"
    assert escape(plain_text("a &lt;b&gt; &amp; c", None)) == "a &lt;b&gt; &amp; c"
