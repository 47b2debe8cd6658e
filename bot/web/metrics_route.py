"""GET /metrics: Prometheus text format. The database gauges come from a cache (bot.monitor.metrics.GaugeCache)
refreshed in the background every SUPPORTBOT_METRICS_REFRESH_SECONDS (15 by default): a scrape runs
no query and never waits on the database, however often it comes."""

from __future__ import annotations

import logging
import math
import os
from typing import AsyncIterator, Mapping

from aiohttp import web

from bot.monitor import metrics
from bot.web.keys import SERVICE

log = logging.getLogger("supportbot.metrics")
GAUGES: web.AppKey[metrics.GaugeCache] = web.AppKey("metrics_gauges", metrics.GaugeCache)
ENV = "SUPPORTBOT_METRICS_REFRESH_SECONDS"


async def metrics_handler(request: web.Request) -> web.Response:
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.CONTENT_TYPE})


def refresh_seconds(env: Mapping[str, str] | None = None) -> float:
    """The refresh interval from the environment; a value that is no positive number: the default."""
    raw = (os.environ if env is None else env).get(ENV, "").strip()
    if not raw:
        return metrics.REFRESH_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value <= 0:
        log.warning("%s=%r is not a positive number of seconds: using %s", ENV, raw[:50], metrics.REFRESH_SECONDS)
        return metrics.REFRESH_SECONDS
    return value


async def _refreshing(app: web.Application) -> AsyncIterator[None]:
    app[GAUGES].start()
    yield
    await app[GAUGES].stop()


def mount(app: web.Application) -> None:
    app[GAUGES] = metrics.GaugeCache(app[SERVICE].app, refresh_seconds())
    app.cleanup_ctx.append(_refreshing)
    app.router.add_get("/metrics", metrics_handler)
