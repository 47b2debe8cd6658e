"""GET /metrics: Prometheus text format, gauges refreshed from the database on every scrape."""

from __future__ import annotations

import logging

from aiohttp import web

from bot import metrics

log = logging.getLogger("supportbot.metrics")


async def metrics_handler(request: web.Request) -> web.Response:
    from bot.web.server import SERVICE

    try:
        await metrics.refresh_gauges(request.app[SERVICE].app)
    except Exception:  # noqa: BLE001 - the counters are still worth serving when the database is down
        log.exception("metrics: could not refresh the database gauges")
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})


def mount(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics_handler)
