"""The demo company with its shop API (examples/shop_api.py served on 127.0.0.1 as `chat` serves it),
on both engines: the `settings`, `shop` (its URL) and `app` fixtures, `_opened` (an App on a given
shop URL, for tests that restart it) and `calls` (the ActionCall rows)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.app import App
from bot.db import models as m
from bot.web import apps
from tests.fakes.doubles import Collect


@pytest.fixture
def settings(db_url, demo_settings_factory, monkeypatch):
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return demo_settings_factory(db_url)


async def _opened(settings, shop_url: str):  # noqa: ANN001, ANN202
    cm = App.open(settings)
    a = await cm.__aenter__()
    a.actions.self_url = shop_url
    a.out = Collect()
    a.out.name = "console"
    a.channels.register(a.out)
    a.n = 0
    return cm, a


@pytest.fixture
async def shop(settings):
    async with apps.served_alone(settings) as url:
        yield url


@pytest.fixture
async def app(settings, shop):
    cm, a = await _opened(settings, shop)
    yield a
    await cm.__aexit__(None, None, None)


async def calls(app):  # noqa: ANN001, ANN201
    async with app.sessions() as s:
        return (await s.scalars(select(m.ActionCall).order_by(m.ActionCall.id))).all()
