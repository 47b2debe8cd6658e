"""The service's aiohttp app (bot.web.server.build_web_app) on a free port, without channel plugins.

Lighter than tests/service_harness.running_service (no Telegram/Slack SDK imports, no workers):
the test drives messages itself (tests.test_pipeline.say) and reads the pages over HTTP.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from aiohttp import web

from bot.app import App
from bot.service import Service
from bot.web.server import build_web_app
from tests.fakes.doubles import Collect, Scripted


@asynccontextmanager
async def serving(settings) -> AsyncIterator[Service]:  # noqa: ANN001
    """Yields the Service with .url and .app (an App with a `test` channel collecting replies)."""
    async with App.open(settings, classifier=Scripted()) as app:
        app.out = Collect()
        app.channels.register(app.out)
        service = Service(app, [])
        runner = web.AppRunner(build_web_app(service), access_log=None)
        service.web_app = runner.app  # e.g. its GaugeCache, to drive a refresh of the /metrics gauges
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = site._server.sockets[0].getsockname()[:2]
        service.address = (host, port)
        service.url = f"http://{host}:{port}"
        try:
            yield service
        finally:
            await runner.cleanup()
