"""The database goes away under a running `serve` (PostgreSQL through a proxy the test can cut).

While it is down: a webhook is answered 5xx (Telegram retries it; nothing was acknowledged that
was not stored), /healthz says 503. When it is back: the service reconnects by itself, the
retried update is stored once and answered once, a second retry of it is absorbed by the inbox
dedupe, and new messages flow. The server is the real CLI in a subprocess.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import aiohttp
from sqlalchemy.engine import make_url

from tests.conftest import EXAMPLE_CONFIG, ROOT
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.telegram_api import FakeTelegram
from tests.service_harness import wait_until
from tests.harness.servers import Server

SECRET = "outage-test-secret"


def _env(db_url: str, tg: FakeTelegram) -> dict:
    e = {**os.environ, "PYTHONPATH": str(ROOT), "SUPPORTBOT_CONFIG": str(EXAMPLE_CONFIG),
         "SUPPORTBOT_DATABASE_URL": db_url, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url,
         "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_URL": "https://bot.test/telegram/webhook",
         "TELEGRAM_WEBHOOK_SECRET": SECRET}
    for key in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        e.pop(key, None)
    return e


async def _health(url: str) -> int:
    async with aiohttp.ClientSession(trust_env=False) as http, http.get(url + "/healthz") as r:
        return r.status


async def test_database_outage_under_serve_loses_and_doubles_nothing(pg_url, tmp_path):
    subprocess.run([sys.executable, "-m", "bot.cli.main", "migrate", "--url", pg_url], cwd=tmp_path, check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    real = make_url(pg_url)
    async with TcpProxy(real.host or "127.0.0.1", real.port or 5432) as proxy, FakeTelegram() as tg:
        via_proxy = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        server = Server(_env(via_proxy, tg), tmp_path)
        try:
            await server.start()
            url = re.search(r"serving on (http://\S+?:\d+)", "".join(server.lines)).group(1)
            hook = url + "/telegram/webhook"

            async def send(update: dict) -> int:
                status, _ = await tg.deliver_webhook(hook, update, SECRET)
                return status

            def replies() -> Counter:
                return Counter(int(p["chat_id"]) for p in tg.sent_messages())

            assert await send(tg.text_update(101, "where is my order?")) == 200
            await wait_until(lambda: replies()[101] == 1, timeout=30)

            proxy.down()  # the database goes away
            during = tg.text_update(102, "how do I return an item?")
            assert await send(during) >= 500  # not stored, so not acknowledged: Telegram will retry
            assert await _health(url) == 503
            assert proxy.refused > 0  # the service did try to reach it

            proxy.up()  # it is back; the pool reconnects by itself
            await wait_until(_healthy(url), timeout=30)
            assert await send(during) == 200  # Telegram's retry of the refused update
            assert await send(during) == 200  # ... and a duplicate retry: acknowledged, not stored again
            assert await send(tg.text_update(103, "hello")) == 200
            await wait_until(lambda: replies()[102] >= 1 and replies()[103] >= 1, timeout=30)
            assert await server.stop() == 0
        finally:
            server.ensure_dead()
    assert replies() == Counter({101: 1, 102: 1, 103: 1})  # nothing lost, nothing answered twice


def _healthy(url: str):  # noqa: ANN202
    async def check() -> bool:
        try:
            return await _health(url) == 200
        except aiohttp.ClientError:
            return False

    return check
