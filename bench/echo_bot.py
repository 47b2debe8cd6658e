"""The baseline of bench/load.py --baseline echo: a bare echo bot on the same SDKs, no supportbot at all.

    .venv/bin/python bench/echo_bot.py --port 8099

One aiohttp server, like `supportbot serve`: /healthz; POST /telegram/webhook through aiogram's
SimpleRequestHandler (its secret check included), a message handler replying with aiogram's
send_message; POST /slack/events through slack-bolt's AsyncApp (signature checked, the same
aiohttp adapter supportbot uses), a message listener replying with slack-sdk's chat_postMessage.
Each reply is the text back. Nothing is stored, classified or queued, so what it costs per
message is what the SDKs and the HTTP stack cost: supportbot's CPU per message divided by this
one's (same harness, same fakes, same run) is the `cpu_ratio_vs_echo` of issue 16.

Environment, as the channels read it: TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL, TELEGRAM_WEBHOOK_SECRET,
SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL. Stopped with SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient


def telegram(app: web.Application) -> Bot:
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"],
              session=AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"])))
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await bot.send_message(message.chat.id, message.text or "")

    handler = SimpleRequestHandler(dp, bot, secret_token=os.environ.get("TELEGRAM_WEBHOOK_SECRET"))
    app.router.add_post("/telegram/webhook", handler.handle)
    return bot


def slack(app: web.Application) -> None:
    token, base = os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_API_URL"]
    client = AsyncWebClient(token=token, base_url=base)
    me: dict[str, Any] = {}

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        if not me:
            me.update((await client.auth_test()).data)  # type: ignore[arg-type]
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id or me["team_id"], bot_id=me.get("bot_id"),
                               bot_user_id=me["user_id"], bot_token=token)

    bolt = AsyncApp(signing_secret=os.environ["SLACK_SIGNING_SECRET"], authorize=authorize,
                    client=AsyncWebClient(base_url=base), process_before_response=True)

    @bolt.event("message")
    async def echo(event: dict[str, Any]) -> None:
        if event.get("bot_id") or event.get("subtype"):
            return
        await client.chat_postMessage(channel=event["channel"], text=event.get("text") or "")

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app.router.add_post("/slack/events", events)


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_get("/healthz", lambda request: web.json_response({"ok": True}))
    bot = telegram(app)
    slack(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await bot.session.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    asyncio.run(main(p.parse_args().port))
