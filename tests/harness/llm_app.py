"""The mini app with its two models on the fake provider APIs (tests/fakes/llm_servers.py): `llm_app`
(a context manager, `adjust(settings)` before it opens), the `app` fixture on it, and the JSON the
models answer with (`answer`, `verdict`)."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest

from bot.app import App
from tests.fakes.doubles import Collect, Scripted
from tests.fakes.llm_servers import KEYS, ok
from tests.helpers import mini_settings


def answer(text: str, confidence: float) -> str:
    return json.dumps({"answer": text, "confidence": confidence})


def verdict(intent: str = "out_of_scope", confidence: float = 0.9, needs_human: bool = False,
            complexity: float = 0.1):  # noqa: ANN201
    """The cheap model's classification (the cascade asks it when the local model is unsure)."""
    return ok(json.dumps({"intent": intent, "confidence": confidence, "needs_human": needs_human,
                          "complexity": complexity}))


@asynccontextmanager
async def llm_app(db_url, llm_server, monkeypatch, adjust=None):  # noqa: ANN001, ANN201
    """The mini app with its two models on the fake provider APIs; `adjust(settings)` before it opens."""
    monkeypatch.setenv("TEST_KEY_SMALL", KEYS["openai"])
    monkeypatch.setenv("TEST_KEY_BIG", KEYS["anthropic"])
    settings = mini_settings()
    settings.database.url = db_url
    settings.models["small"].base_url = llm_server.url + "/v1"
    settings.models["big"].base_url = llm_server.url
    settings.llm.max_retries = 0
    if adjust is not None:
        adjust(settings)
    async with App.open(settings, classifier=Scripted()) as a:
        a.out = Collect()
        a.channels.register(a.out)
        a.llm = llm_server
        yield a


@pytest.fixture
async def app(db_url, llm_server, monkeypatch):  # noqa: F811
    async with llm_app(db_url, llm_server, monkeypatch) as a:
        yield a
