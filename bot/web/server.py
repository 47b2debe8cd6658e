"""The aiohttp application: core routes here, channel routes mounted by each channel."""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from aiohttp import web
from sqlalchemy import text

from bot.web import auth, console, dashboard, metrics_route
from bot.web.keys import SERVICE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger("supportbot.web")
MAX_BODY = 1024 * 1024  # webhook bodies above this get 413


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A bad request gets a clear 4xx; a bug gets a 500 with no stack trace on the wire."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


def build_web_app(service: Any) -> web.Application:  # bot.service.Service (roots: not importable here)
    app = web.Application(client_max_size=MAX_BODY, middlewares=[errors])
    app[SERVICE] = service
    app.router.add_get("/healthz", healthz)
    auth.mount(app, service.app.sessions)
    console.mount(app)  # the agent console: queue, conversations, review
    metrics_route.mount(app)  # GET /metrics (Prometheus)
    dashboard.mount(app)  # GET /dashboard, /dashboard/data (agent login)
    return app


async def healthz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    channels: dict[str, dict[str, Any]] = {}  # each channel's state(), as ChannelRuntime reports it
    body: dict[str, object] = {"status": "ok", "channels": channels}
    try:
        async with service.app.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        body["database"] = "ok"
    except Exception as e:  # noqa: BLE001 - report, don't crash
        body["status"], body["database"] = "degraded", f"unreachable: {type(e).__name__}"
    for ch in service.runtimes:
        try:
            channels[ch.name] = ch.state()
        except Exception as e:  # noqa: BLE001
            channels[ch.name] = {"state": "error", "error": str(e)}
    body["inbox_backlog"] = await service.app.inbox.backlog() if body["database"] == "ok" else None
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)
