"""The Telegram and Slack fakes, proven against the real client libraries (aiogram 3,
slack_sdk, slack_bolt): if these pass, the channel adapters can be tested on the fakes."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter,
                                TelegramServerError, TelegramUnauthorizedError)
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack, deliver_event, deliver_interaction, sign
from tests.fakes.telegram_api import FakeTelegram

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def tg_bot(tg: FakeTelegram, token: str | None = None) -> Bot:
    return Bot(token or tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Run an aiohttp app on a free 127.0.0.1 port; returns (runner, base URL)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- Telegram ----------------------------------------------------------------------------------

async def test_aiogram_get_me_and_send_message_with_keyboard():
    async with FakeTelegram() as tg:
        bot = tg_bot(tg)
        try:
            me = await bot.get_me()
            assert (me.id, me.username, me.is_bot) == (tg.bot_id, "supportbot_test_bot", True)
            kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="yes")]])
            sent = await bot.send_message(42, "Hello <b>there</b>", parse_mode="HTML", reply_markup=kb)
            assert sent.text == "Hello there" and sent.chat.id == 42 and sent.from_user.is_bot
            assert sent.reply_markup.inline_keyboard[0][0].callback_data == "yes"
            params = tg.sent_messages()[0]
            assert params["chat_id"] == 42 and params["text"] == "Hello <b>there</b>"
            assert params["reply_markup"] == {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
            edited = await bot.edit_message_text("Done", chat_id=42, message_id=sent.message_id)
            assert edited.text == "Done" and edited.reply_markup is None
            assert await bot.send_chat_action(42, "typing") is True
            assert [m for m, _ in tg.calls] == ["getMe", "sendMessage", "editMessageText", "sendChatAction"]
        finally:
            await bot.session.close()


async def test_aiogram_sees_scripted_failures_as_its_exceptions():
    async with FakeTelegram() as tg:
        bot, intruder = tg_bot(tg), tg_bot(tg, token="999:wrong")
        try:
            tg.fail_next("sendMessage", status=429, retry_after=2)
            with pytest.raises(TelegramRetryAfter) as ra:
                await bot.send_message(1, "x")
            assert ra.value.retry_after == 2 and "retry after 2" in ra.value.message
            tg.fail_next("sendMessage", status=403, description="Forbidden: bot was blocked by the user")
            with pytest.raises(TelegramForbiddenError, match="blocked"):
                await bot.send_message(1, "x")
            tg.fail_next("sendMessage", status=500)
            with pytest.raises(TelegramServerError):
                await bot.send_message(1, "x")
            with pytest.raises(TelegramBadRequest, match="can't parse entities"):
                await bot.send_message(1, "a < b", parse_mode="HTML")
            with pytest.raises(TelegramBadRequest, match="not modified"):
                m = await bot.send_message(1, "same")
                await bot.edit_message_text("same", chat_id=1, message_id=m.message_id)
            with pytest.raises(TelegramUnauthorizedError):
                await intruder.get_me()
            assert tg.statuses == [429, 403, 500, 400, 200, 400, 401]
            assert [p["text"] for p in tg.sent_messages()] == ["same"]
        finally:
            await bot.session.close()
            await intruder.session.close()


async def test_dispatcher_polling_receives_updates_and_confirms_offsets():
    async with FakeTelegram() as tg:
        bot, dp = tg_bot(tg), Dispatcher()
        seen: list[str] = []
        clicked = asyncio.Event()

        @dp.message(F.text)
        async def echo(message: Message) -> None:
            seen.append(message.text)
            await message.answer(f"echo: {message.text}")

        @dp.callback_query()
        async def on_click(query: CallbackQuery) -> None:
            await query.answer("ok")
            clicked.set()

        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
        try:
            first = tg.push_update(tg.text_update(7, "hi", first_name="Bob"))
            await tg.wait_for("sendMessage")
            click = tg.push_update(tg.callback_update(7, "yes", message_id=tg.bot_messages(7)[0]["message_id"]))
            await asyncio.wait_for(clicked.wait(), 5)
            await tg.wait_for("answerCallbackQuery")
        finally:
            await dp.stop_polling()
            await polling
        assert seen == ["hi"] and tg.sent_messages()[0] == {"chat_id": 7, "text": "echo: hi"}
        # aiogram confirms an update by sending offset = update_id + 1 on its NEXT getUpdates
        offsets = [p.get("offset") for p in tg.calls_of("getUpdates")]
        assert first["update_id"] + 1 in offsets and click["update_id"] + 1 in offsets
        assert tg.calls[0][0] == "getMe"


async def test_long_poll_waits_confirms_and_conflicts():
    async with FakeTelegram() as tg, aiohttp.ClientSession() as http:
        url = f"{tg.base_url}/bot{tg.token}/getUpdates"

        async def poll(**params) -> dict:
            async with http.post(url, json=params) as r:
                return await r.json()

        waiting = asyncio.create_task(poll(timeout=5))
        await tg.wait_for("getUpdates")
        u1 = tg.push_update(tg.text_update(5, "one"))
        assert (await waiting)["result"] == [u1]                          # woke up on the push
        u2 = tg.push_update(tg.photo_update(5, caption="pic"))
        async with http.post(url, data={"offset": str(u1["update_id"] + 1), "timeout": "0"}) as r:  # form post
            assert [u["update_id"] for u in (await r.json())["result"]] == [u2["update_id"]]
        assert (await poll(offset=u2["update_id"] + 1))["result"] == []  # confirmed, timeout 0: no wait
        old = asyncio.create_task(poll(timeout=5))
        await tg.wait_for("getUpdates", count=4)
        new = asyncio.create_task(poll(timeout=5))
        assert (await old)["error_code"] == 409                           # terminated by the newer poll
        tg.push_update(tg.text_update(5, "two"))
        assert (await new)["result"][0]["message"]["text"] == "two"
        assert u2["message"]["caption"] == "pic" and len(u2["message"]["photo"]) == 2
        async with http.post(f"{tg.base_url}/bot{tg.token}/sendMessage",
                             data={"chat_id": "5", "text": "t", "reply_markup": json.dumps({"inline_keyboard": []})}) as r:
            assert (await r.json())["result"]["chat"]["first_name"] == "Alice"
        assert tg.sent_messages()[-1] == {"chat_id": 5, "text": "t", "reply_markup": {"inline_keyboard": []}}


async def test_webhook_delivery_with_secret_and_webhook_reply():
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    async with FakeTelegram() as tg:
        bot, dp = tg_bot(tg), Dispatcher()

        @dp.message()
        async def reply(message: Message):
            return message.answer("via webhook reply")  # returned method → answered in the HTTP reply

        app = web.Application()
        SimpleRequestHandler(dp, bot, secret_token="s3cret", handle_in_background=False).register(app, "/tg")
        runner, base = await serve(app)
        try:
            await bot.set_webhook(f"{base}/tg", secret_token="s3cret")
            info = await bot.get_webhook_info()
            assert info.url == f"{base}/tg"
            status, _ = await tg.deliver_webhook(None, tg.text_update(9, "hello"), secret_token="wrong")
            assert status == 401
            status, body = await tg.deliver_webhook(None, tg.text_update(9, "hello"))
            assert status == 200 and json.loads(body)["method"] == "sendMessage"
            assert tg.sent_messages()[-1]["text"] == "via webhook reply"
            with pytest.raises(Exception, match="webhook is active"):
                await bot.get_updates()
            assert await bot.delete_webhook() is True and tg.webhook == {}
        finally:
            await runner.cleanup()
            await bot.session.close()


# --- Slack -------------------------------------------------------------------------------------

async def test_slack_web_client_calls_are_answered_and_recorded():
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        auth = await client.auth_test()
        assert (auth["team_id"], auth["user_id"], auth["bot_id"]) == ("T1", "UBOT", "BBOT")
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
        first = await client.chat_postMessage(channel="C1", text="hi", blocks=blocks)
        reply = await client.chat_postMessage(channel="C1", text="in thread", thread_ts=first["ts"])
        assert float(reply["ts"]) > float(first["ts"]) and reply["message"]["thread_ts"] == first["ts"]
        assert [p.get("thread_ts") for p in slack.posted_messages()] == [None, first["ts"]]
        assert slack.posted_messages()[0]["blocks"] == blocks
        upd = await client.chat_update(channel="C1", ts=first["ts"], text="edited")
        assert upd["message"]["text"] == "edited"
        dm = await client.conversations_open(users="U42")
        assert dm["channel"]["id"] == "D42"
        assert (await client.users_info(user="U42"))["user"]["profile"]["email"] == "u42@example.com"
        assert (await client.chat_postEphemeral(channel="C1", user="U42", text="psst"))["message_ts"]
        with pytest.raises(SlackApiError) as bad:
            await AsyncWebClient(token="xoxb-nope", base_url=slack.api_url).auth_test()
        assert bad.value.response["error"] == "invalid_auth"
        with pytest.raises(SlackApiError) as missing:
            await client.chat_update(channel="C1", ts="1.2", text="x")
        assert missing.value.response["error"] == "message_not_found"


async def test_slack_scripted_failures():
    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        slack.fail_next("chat.postMessage", ratelimited=True, retry_after=2)
        slack.fail_next("chat.postMessage", error="channel_not_found")
        slack.fail_next("chat.postMessage", status=500)
        with pytest.raises(SlackApiError) as rl:
            await client.chat_postMessage(channel="C1", text="x")
        assert rl.value.response.status_code == 429 and rl.value.response.headers["Retry-After"] == "2"
        assert rl.value.response["error"] == "ratelimited"
        with pytest.raises(SlackApiError) as nf:
            await client.chat_postMessage(channel="C1", text="x")
        assert nf.value.response.status_code == 200 and nf.value.response["error"] == "channel_not_found"
        with pytest.raises(SlackApiError) as ise:
            await client.chat_postMessage(channel="C1", text="x")
        assert ise.value.response.status_code == 500
        await client.chat_postMessage(channel="C1", text="x")
        assert slack.statuses == [429, 200, 500, 200] and len(slack.posted_messages()) == 1
        assert len(await slack.wait_for("chat.postMessage", count=4)) == 4
        with pytest.raises(TimeoutError):
            await slack.wait_for("chat.delete", timeout=0.05)


async def test_socket_mode_client_receives_and_acks():
    async with FakeSlack() as slack:
        web_client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        client = SocketModeClient(app_token="xapp-1-test", web_client=web_client)
        got: list[dict] = []

        async def listener(c: SocketModeClient, req) -> None:
            got.append(req.payload)
            await c.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

        client.socket_mode_request_listeners.append(listener)
        try:
            await client.connect()
            eid = await slack.socket_send_event(slack.message_event("U1", "hello over socket"))
            assert await slack.wait_for_ack(eid) == {"envelope_id": eid}
            assert got[0]["event"]["text"] == "hello over socket" and got[0]["type"] == "event_callback"
            await slack.socket_disconnect()                 # SDK reconnects with a fresh URL
            await slack.wait_for_socket(count=2)
            eid2 = await slack.socket_send_event(slack.block_action_payload("U1", "approve", "42", "C1", "1.1"))
            await slack.wait_for_ack(eid2)
            assert got[-1]["actions"][0]["value"] == "42"
        finally:
            await client.close()
        assert len(slack.calls_of("apps.connections.open")) == 2


async def test_bolt_socket_mode_app_answers_an_event():
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_bolt.async_app import AsyncApp

    async with FakeSlack() as slack:
        app = AsyncApp(client=AsyncWebClient(token="xoxb-test", base_url=slack.api_url))

        @app.event("message")
        async def on_message(event, say):
            await say(text=f"you said {event['text']}", thread_ts=event["ts"])

        handler = AsyncSocketModeHandler(app, "xapp-1-test")
        try:
            await handler.connect_async()
            event = slack.message_event("U1", "help me", channel="D7")
            eid = await slack.socket_send_event(event)
            await slack.wait_for_ack(eid)
            posted = (await slack.wait_for("chat.postMessage"))[0]
            assert posted["text"] == "you said help me" and posted["channel"] == "D7"
            assert posted["thread_ts"] == event["event"]["ts"]
        finally:
            await handler.close_async()


async def test_bolt_http_events_and_interactions_with_signing():
    from slack_bolt.async_app import AsyncApp

    ts = int(time.time())
    assert SignatureVerifier(SECRET).is_valid('{"a":1}', ts, sign(SECRET, ts, '{"a":1}'))
    assert not SignatureVerifier(SECRET).is_valid('{"a":2}', ts, sign(SECRET, ts, '{"a":1}'))
    async with FakeSlack() as slack:
        app = AsyncApp(client=AsyncWebClient(token="xoxb-test", base_url=slack.api_url), signing_secret=SECRET)

        @app.event("app_mention")
        async def on_mention(event, say):
            await say(f"hello <@{event['user']}>")

        @app.action("approve")
        async def on_approve(ack, body, respond):
            await ack()
            await respond(f"approved {body['actions'][0]['value']}")

        runner, base = await serve(app.web_app(path="/slack/events"))
        url = f"{base}/slack/events"
        try:
            status, body = await deliver_event(url, slack.url_verification("chal-123"), SECRET)
            assert status == 200 and "chal-123" in body
            assert (await deliver_event(url, slack.app_mention_event("U9", "hi"), SECRET, signature="v0=bad"))[0] == 401
            stale = int(time.time()) - 600  # replayed request: bolt refuses timestamps older than 5 minutes
            assert (await deliver_event(url, slack.app_mention_event("U9", "hi"), SECRET, timestamp=stale))[0] == 401
            status, _ = await deliver_event(url, slack.app_mention_event("U9", "hi"), SECRET, retry_num=1)
            assert status == 200
            assert (await slack.wait_for("chat.postMessage"))[0]["text"] == "hello <@U9>"
            msg = slack.bot_messages()[0]
            payload = slack.block_action_payload("U9", "approve", "7", msg["channel"], msg["ts"])
            assert payload["message"]["text"] == "hello <@U9>"
            status, _ = await deliver_interaction(url, payload, SECRET)
            assert status == 200
            assert (await slack.wait_for("response_url"))[0]["text"] == "approved 7"
        finally:
            await runner.cleanup()
