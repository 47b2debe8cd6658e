"""The Telegram channel's entry point: aiogram (about 5 s to import) loads only when a token is set.

`supportbot serve` asks every installed channel plugin to create itself; without
TELEGRAM_BOT_TOKEN there is nothing to create, so the adapter module is not even imported.
"""

from __future__ import annotations

from bot.runtime.channel import ChannelContext, ChannelRuntime

REQUIRED_ENV = ("TELEGRAM_BOT_TOKEN",)  # the start-up summary says the channel waits for these


def create(ctx: ChannelContext) -> ChannelRuntime | None:
    if not (ctx.env.get("TELEGRAM_BOT_TOKEN") or "").strip():
        return None
    from channels.telegram import create as create_telegram

    return create_telegram(ctx)
