"""The Telegram channel inside the real serve(), against the fake Bot API (tests/fakes/telegram_api.py):
the `settings` fixture (mini config on SQLite), `serving` (serve() once the channel has told the fake
how it takes updates), the constants the mini config answers with, and readers of what was stored
and sent (`rows`, `count`, `to_chat`, `telegram`), and `fail_first_store` (an inbox hiccup)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from sqlalchemy import func, select

from channels.telegram import TelegramChannel
from tests.fakes.doubles import Scripted
from tests.fakes.telegram_api import FakeTelegram
from tests.helpers import mini_settings
from tests.service_harness import running_service


ORDER_REPLY = "Hi Alice, track your order at https://shop.test/orders."
HOOK_URL = "https://bot.example.test/telegram/webhook"
SECRET = "s3cret-Token_1"
GROUP = -1001234


@pytest.fixture
def settings(sqlite_db):
    s = mini_settings()
    s.database.url = sqlite_db
    return s


@asynccontextmanager
async def serving(settings, tg: FakeTelegram, mode: str = "polling", **env: str):  # noqa: ANN001, ANN201
    """serve() with the Telegram channel on, once it has told the fake how it takes updates."""
    env = {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_MODE": mode, **env}
    async with running_service(settings, env, classifier=Scripted()) as svc:
        await tg.wait_for("deleteWebhook" if mode == "polling" else "setWebhook", timeout=10)
        svc.hook = f"{svc.url}/telegram/webhook"
        yield svc


def telegram(svc) -> TelegramChannel:  # noqa: ANN001
    return next(rt for rt in svc.runtimes if rt.name == "telegram")


async def rows(svc, model, *where):  # noqa: ANN001, ANN201
    async with svc.app.sessions() as s:
        return (await s.scalars(select(model).where(*where).order_by(model.id))).all()


async def count(svc, model) -> int:  # noqa: ANN001
    async with svc.app.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model))


def to_chat(tg: FakeTelegram, chat_id: int) -> list[dict]:
    return [p for p in tg.sent_messages() if p["chat_id"] == chat_id]


def fail_first_store(svc) -> list:  # noqa: ANN001
    """Make the inbox fail once (a database hiccup); returns the list of failures seen."""
    real, failures = svc.app.inbox.accept, []

    async def accept(msg, external_id):  # noqa: ANN001, ANN202
        if not failures:
            failures.append(external_id)
            raise ConnectionError("database unavailable")
        return await real(msg, external_id)

    svc.app.inbox.accept = accept
    return failures
