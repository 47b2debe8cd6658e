"""The Telegram channel: the real aiogram code against the local fake Bot API, inside the real serve().

End-to-end tests push updates into FakeTelegram (polling) or POST them to our webhook, and
watch the sendMessage calls and the database rows. Delivery details (errors, chunks) are
tested on the channel alone, against the same fake.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import aiohttp
import pytest

from bot.runtime.channel import ChannelContext, DeliveryError, load_plugin, plugin_names
from bot.db import models as m
from bot.messages import Reply
from bot.settings import ConfigError
from channels.telegram import LIMIT, TelegramChannel, create, split_text
from tests.fakes.telegram_api import FakeTelegram, fake_telegram  # noqa: F401 - fixture
from tests.harness.telegram import (GROUP, HOOK_URL, ORDER_REPLY, SECRET, count, fail_first_store, rows, serving,
                                    settings, telegram, to_chat)  # noqa: F401 - settings is a fixture
from tests.service_harness import wait_until


def test_registered_as_a_channel_plugin():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["supportbot.channels"]["telegram"] == "channels.telegram_plugin"
    assert "telegram" in plugin_names(), "installed metadata older than pyproject.toml: run `pip install -e .`"
    plugin = load_plugin("telegram")
    assert plugin.create(ChannelContext(settings=None, inbox=None, sessions=None, env={})) is None  # no token


def test_serve_without_a_telegram_token_does_not_import_aiogram(tmp_path):
    """The plugin shim keeps aiogram (seconds of import) out of a service that has no Telegram."""
    code = ("import sys; from bot.runtime.channel import ChannelContext, load_plugin; "
            "load_plugin('telegram').create(ChannelContext(settings=None, inbox=None, sessions=None, env={})); "
            "print('aiogram' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.stdout.strip() == "False"


# --- polling ------------------------------------------------------------------------------------

async def test_polling_message_in_reply_out_rows_stored(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg) as svc:
        update = tg.push_update(tg.text_update(42, "where is my order?"))
        [sent] = await tg.wait_for("sendMessage", timeout=10)
        assert sent["chat_id"] == 42 and sent["text"] == ORDER_REPLY
        assert "parse_mode" not in sent and "reply_parameters" not in sent  # plain text, private chat
        # the next getUpdates confirms it (the order is tested where storing fails, below)
        await wait_until(lambda: any(p.get("offset") == update["update_id"] + 1 for p in tg.calls_of("getUpdates")))
        assert sorted(tg.calls_of("getUpdates")[0]["allowed_updates"]) == ["callback_query", "edited_message", "message"]
        [event] = await rows(svc, m.InboxEvent)
        assert (event.channel, event.external_id) == ("telegram", f"{tg.bot_id}:{update['update_id']}")
        assert event.payload["kind"] == "text" and event.payload["reply_to"] == {"chat_id": 42}
        assert [(x.direction, x.text) for x in await rows(svc, m.Message)] == [
            ("in", "where is my order?"), ("out", ORDER_REPLY)]
        [decision] = await rows(svc, m.RouteDecision)
        assert (decision.route, decision.rule) == ("template", "canned")
        [customer] = await rows(svc, m.Customer)
        assert (customer.channel, customer.external_id, customer.display_name) == ("telegram", "42", "Alice")
        [out] = await wait_until(lambda: _rows_with_status(svc, "sent"))
        assert out.external_id == str(tg.bot_messages(42)[0]["message_id"])
        async with aiohttp.ClientSession() as http, http.get(f"{svc.url}/healthz") as r:
            health = (await r.json())["channels"]["telegram"]
        assert health["state"] == "polling" and health["bot"] == "@supportbot_test_bot"
    assert tg.calls_of("getUpdates")[-1]["timeout"] == 0  # stop confirmed the offset, then left


async def test_commands_media_and_edits(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg) as svc:
        tg.push_update(tg.text_update(1, "/start"))
        tg.push_update(tg.text_update(2, "/help"))
        tg.push_update(tg.photo_update(3, caption="look"))
        first = tg.push_update(tg.text_update(4, "where is my order?"))
        await tg.wait_for("sendMessage", 4, timeout=10)
        tg.push_update(tg.text_update(4, "where is my order??", message_id=first["message"]["message_id"],
                                      edited=True))
        tg.push_update(tg.text_update(4, "hello"))  # answered after the edit: the edit was handled by then
        await tg.wait_for("sendMessage", 5, timeout=10)
        kinds = {e.payload["conversation_key"] + e.payload["kind"] for e in await rows(svc, m.InboxEvent)}
        assert kinds == {"1start", "2help", "3unsupported", "4text", "4edited"}
        texts = [x.text for x in await rows(svc, m.Message, m.Message.direction == "in")]
        chat4 = [t for t in texts if t.startswith(("where is", "hello"))]  # other chats are handled concurrently
        assert chat4 == ["where is my order?", "where is my order??", "hello"]  # the edit is logged, in order
    assert "Test Shop support assistant" in to_chat(tg, 1)[0]["text"]
    assert to_chat(tg, 2)[0]["text"].startswith("Just type your question in your own words.")
    assert to_chat(tg, 3)[0]["text"] == "Sorry, I can only read text messages. Could you type your question?"
    assert [p["text"] for p in to_chat(tg, 4)] == [ORDER_REPLY, "Hello! How can Test Shop help?"]  # edit: no reply


async def test_redelivered_update_is_answered_once_and_unstored_one_comes_again(settings, fake_telegram):
    tg = fake_telegram
    update = tg.text_update(9, "where is my order?")
    tg.push_update(update)
    tg.push_update(update)  # delivered twice: both arrive in the first batch
    tg.push_update(tg.text_update(9, "hello"))
    async with serving(settings, tg) as svc:
        await tg.wait_for("sendMessage", 2, timeout=10)
        assert await count(svc, m.InboxEvent) == 2
        # the database fails once: that update is not confirmed, comes again, and is stored then
        failures = fail_first_store(svc)
        again = tg.push_update(tg.text_update(11, "where is my order?"))
        await tg.wait_for("sendMessage", 3, timeout=10)
        assert failures == [f"{tg.bot_id}:{again['update_id']}"]
        assert telegram(svc).state()["last_error"].startswith("ConnectionError")
        assert await count(svc, m.InboxEvent) == 3
    assert [p["text"] for p in to_chat(tg, 9)] == [ORDER_REPLY, "Hello! How can Test Shop help?"]
    assert [p["text"] for p in to_chat(tg, 11)] == [ORDER_REPLY]


# --- groups -------------------------------------------------------------------------------------

async def test_group_messages_only_when_addressed(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg) as svc:
        tg.push_update(tg.text_update(GROUP, "where is my order?", chat_type="supergroup", user_id=5))
        robot = tg.text_update(GROUP, "@supportbot_test_bot hello", chat_type="supergroup", user_id=6)
        robot["message"]["from"]["is_bot"] = True
        tg.push_update(robot)
        asked = tg.push_update(tg.text_update(GROUP, "@SupportBot_Test_Bot where is my order?",
                                              chat_type="supergroup", user_id=5))
        [sent] = await tg.wait_for("sendMessage", timeout=10)
        assert sent["chat_id"] == GROUP and sent["text"] == ORDER_REPLY
        assert sent["reply_parameters"]["message_id"] == asked["message"]["message_id"]
        follow_up = tg.text_update(GROUP, "hello", chat_type="supergroup", user_id=5)
        follow_up["message"]["reply_to_message"] = tg.bot_messages(GROUP)[0]
        tg.push_update(follow_up)
        await tg.wait_for("sendMessage", 2, timeout=10)
        assert await count(svc, m.InboxEvent) == 2
        texts = [x.text for x in await rows(svc, m.Message, m.Message.direction == "in")]
        assert texts == ["where is my order?", "hello"]  # the mention is not part of the question


# --- webhook ------------------------------------------------------------------------------------

async def test_webhook_refuses_bad_requests_stores_before_200_and_answers_once(settings, fake_telegram):
    tg = fake_telegram
    async with serving(settings, tg, "webhook", TELEGRAM_WEBHOOK_URL=HOOK_URL, TELEGRAM_WEBHOOK_SECRET=SECRET) as svc:
        assert tg.webhook["url"] == HOOK_URL and tg.webhook["secret_token"] == SECRET
        assert sorted(tg.webhook["allowed_updates"]) == ["callback_query", "edited_message", "message"]
        update = tg.text_update(21, "where is my order?")
        for secret in ("wrong", None, SECRET.upper()):
            assert (await tg.deliver_webhook(svc.hook, update, secret_token=secret))[0] == 401
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
        async with aiohttp.ClientSession() as http:
            for body in (b"not json", b"[1, 2]", b"null", json.dumps({"update_id": "x"}).encode(),
                         b"\xff\xfe garbage", b""):
                async with http.post(svc.hook, data=body, headers=headers) as r:
                    assert r.status == 400, body
        assert await count(svc, m.InboxEvent) == 0

        fail_first_store(svc)
        assert (await tg.deliver_webhook(svc.hook, update))[0] == 500  # not stored: Telegram will retry
        assert await count(svc, m.InboxEvent) == 0
        for _ in range(2):  # the retry, then a duplicate
            assert (await tg.deliver_webhook(svc.hook, update))[0] == 200
            assert await count(svc, m.InboxEvent) == 1  # stored before the 200
        assert (await tg.deliver_webhook(svc.hook, tg.text_update(21, "hello")))[0] == 200
        await tg.wait_for("sendMessage", 2, timeout=10)
        assert [p["text"] for p in to_chat(tg, 21)] == [ORDER_REPLY, "Hello! How can Test Shop help?"]
        async with aiohttp.ClientSession() as http, http.get(f"{svc.url}/healthz") as r:
            assert (await r.json())["channels"]["telegram"]["state"] == "webhook"
    assert "getUpdates" not in [c for c, _ in tg.calls]


# --- delivery through the outbox ----------------------------------------------------------------

async def test_outbox_honours_429_retry_after_and_gives_up_on_403(settings, fake_telegram):
    tg = fake_telegram
    tg.fail_next("sendMessage", 429, retry_after=1)
    async with serving(settings, tg) as svc:
        tg.push_update(tg.text_update(51, "where is my order?"))
        await tg.wait_for("sendMessage", timeout=10)
        first = asyncio.get_running_loop().time()
        await tg.wait_for("sendMessage", 2, timeout=10)
        assert asyncio.get_running_loop().time() - first >= 0.8  # not before Telegram's retry_after
        [out] = await wait_until(lambda: _rows_with_status(svc, "sent"))
        assert out.attempts == 2 and [p["text"] for p in tg.sent_messages()] == [ORDER_REPLY]

        tg.fail_next("sendMessage", 403)  # the next customer blocked the bot
        tg.push_update(tg.text_update(61, "where is my order?"))
        [_, blocked] = await wait_until(lambda: _rows_with_status(svc, "sent", "failed"))
        assert blocked.attempts == 1 and "Forbidden" in blocked.error
        unreachable = {c.external_id: c.unreachable for c in await rows(svc, m.Customer)}
        assert unreachable == {"51": False, "61": True}
    assert [s for (c, _), s in zip(tg.calls, tg.statuses) if c == "sendMessage"] == [429, 200, 403]


async def _rows_with_status(svc, *statuses):  # noqa: ANN001, ANN202
    out = await rows(svc, m.OutboxMessage)
    return out if [o.status for o in out] == list(statuses) else None


# --- the channel alone --------------------------------------------------------------------------

def channel_for(tg: FakeTelegram, **env: str) -> TelegramChannel:
    env = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url, **env}
    return create(ChannelContext(settings=None, inbox=None, sessions=None, env=env))


def reply(text: str, chat_id: int = 77, **reply_to) -> Reply:  # noqa: ANN003
    return Reply(text=text, channel="telegram", customer_id=str(chat_id), conversation_key=str(chat_id),
                 reply_to={"chat_id": chat_id, **reply_to})


@pytest.mark.parametrize("status, kind", [(429, "retry_after"), (403, "unreachable"), (400, "permanent"),
                                          (500, "retry"), (502, "retry")])
async def test_delivery_errors_are_mapped_for_the_outbox(fake_telegram, status, kind):
    ch = channel_for(fake_telegram)
    fake_telegram.fail_next("sendMessage", status, retry_after=3 if status == 429 else None)
    try:
        with pytest.raises(DeliveryError) as err:
            await ch.deliver(reply("hi"), "k1")
        e = err.value
        assert (e.retry_after, e.unreachable, e.permanent) == {
            "retry_after": (3, False, False), "unreachable": (None, True, True),
            "permanent": (None, False, True), "retry": (None, False, False)}[kind]
        assert fake_telegram.token not in str(e)
    finally:
        await ch.close()


async def test_long_reply_is_sent_in_chunks_and_a_retry_sends_only_the_rest(fake_telegram):
    tg = fake_telegram
    ch = channel_for(tg)
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 170 for i in range(10))  # ~9,000 characters
    long_reply = reply(text, GROUP, message_id=5)
    real = ch.bot.send_message

    async def second_call_fails(**kwargs):  # noqa: ANN003, ANN202
        if len(tg.calls_of("sendMessage")) == 1:
            tg.fail_next("sendMessage", 502)
        return await real(**kwargs)

    ch.bot.send_message = second_call_fails
    try:
        with pytest.raises(DeliveryError):  # chunk 1 sent, chunk 2 failed
            await ch.deliver(long_reply, "key")
        last = await ch.deliver(long_reply, "key")  # the retry sends chunks 2 and 3 only
        assert await ch.deliver(long_reply, "key") == last  # all sent already: nothing new
    finally:
        await ch.close()
    assert [s for (c, _), s in zip(tg.calls, tg.statuses) if c == "sendMessage"] == [200, 502, 200, 200]
    sent = tg.sent_messages()
    assert len(sent) == 3 and all(len(p["text"]) <= LIMIT for p in sent)
    assert "\n\n".join(p["text"] for p in sent) == text  # cut only between paragraphs
    assert all(p["reply_parameters"]["message_id"] == 5 for p in sent)
    assert last == str(tg.bot_messages(GROUP)[-1]["message_id"])


# --- the splitter -------------------------------------------------------------------------------

def test_split_keeps_paragraphs_whole():
    paragraphs = [f"{i} " + "x" * 880 for i in range(10)]  # 9,000+ characters
    text = "\n\n".join(paragraphs)
    chunks = split_text(text)
    assert len(chunks) == 3 and all(len(c) <= LIMIT for c in chunks)
    assert [p for c in chunks for p in c.split("\n\n")] == paragraphs


def test_split_falls_back_to_lines_then_spaces_then_a_hard_cut():
    lines = "\n".join("line %04d " % i + "y" * 40 for i in range(200))  # one paragraph of 10,000 chars
    chunks = split_text(lines)
    assert all(len(c) <= LIMIT for c in chunks) and "\n".join(chunks) == lines
    words = " ".join(["word"] * 2000)
    chunks = split_text(words)
    assert all(len(c) <= LIMIT and not c.startswith(" ") and not c.endswith(" ") for c in chunks)
    assert " ".join(chunks) == words
    blob = "z" * 9000
    assert [len(c) for c in split_text(blob)] == [4096, 4096, 808]


def test_split_counts_utf16_units_and_drops_blank_chunks():
    emoji = "\U0001F600" * 3000  # 6,000 UTF-16 units
    chunks = split_text(emoji)
    assert [len(c) for c in chunks] == [2048, 952] and "".join(chunks) == emoji
    assert split_text("short") == ["short"]
    assert split_text("a" * 10 + "\n\n" + " " * 5000 + "\n\n" + "b" * 10, limit=100) == ["a" * 10, "b" * 10]
    assert split_text("   ") == []


# --- configuration ------------------------------------------------------------------------------

def ctx(**env: str) -> ChannelContext:
    return ChannelContext(settings=None, inbox=None, sessions=None, env=env)


async def test_create_reads_the_environment():
    assert create(ctx()) is None
    assert create(ctx(TELEGRAM_BOT_TOKEN="  ")) is None
    with pytest.raises(ConfigError, match="TELEGRAM_MODE: expected polling or webhook"):
        create(ctx(TELEGRAM_BOT_TOKEN="1:abc", TELEGRAM_MODE="push"))
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_URL"):
        create(ctx(TELEGRAM_BOT_TOKEN="1:abc", TELEGRAM_MODE="webhook"))
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        create(ctx(TELEGRAM_BOT_TOKEN="1:abc", TELEGRAM_WEBHOOK_SECRET="no spaces allowed"))
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN") as err:
        create(ctx(TELEGRAM_BOT_TOKEN="not-a-token-secret"))
    assert "not-a-token-secret" not in str(err.value)
    ch = create(ctx(TELEGRAM_BOT_TOKEN="123:abc"))
    try:
        assert ch.mode == "polling" and ch.state()["state"] == "stopped" and ch.secret
        assert create(ctx(TELEGRAM_BOT_TOKEN="123:abc")).secret == ch.secret  # the same on every worker
    finally:
        await ch.close()
