"""`supportbot doctor`'s platform checks: is each configured token accepted (getMe, auth.test)?

Each check takes the environment and returns what the platform said of the token, or raises
with its reason. The SDKs load only here and only when doctor runs.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Mapping


async def telegram(env: Mapping[str, str]) -> str:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    api = (env.get("TELEGRAM_API_URL") or "").strip().rstrip("/")
    session = AiohttpSession(api=TelegramAPIServer.from_base(api)) if api else AiohttpSession()
    bot = Bot((env.get("TELEGRAM_BOT_TOKEN") or "").strip(), session=session)
    try:
        me = await bot.get_me()
    finally:
        await bot.session.close()
    return f"getMe: @{me.username}"


async def slack(env: Mapping[str, str]) -> str:
    from slack_sdk.web.async_client import AsyncWebClient

    token, api = (env.get("SLACK_BOT_TOKEN") or "").strip(), (env.get("SLACK_API_URL") or "").strip()
    client = (AsyncWebClient(token=token, timeout=10, base_url=api) if api
              else AsyncWebClient(token=token, timeout=10))
    r = await client.auth_test()
    return f"auth.test: {r.get('user')} in {r.get('team')}"


CHECKS: dict[str, Callable[[Mapping[str, str]], Awaitable[str]]] = {"telegram": telegram, "slack": slack}
