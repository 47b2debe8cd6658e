"""Agent login for the web console and dashboard: signed session cookies and CSRF tokens.

A session is a cookie holding {agent id, name, csrf token, expiry}, signed with HMAC-SHA256
under SUPPORTBOT_SECRET_KEY (several processes must share it; without it a random key is
made at start, and sessions end when the service restarts). Cookies are HttpOnly,
SameSite=Lax, and Secure whenever the request came over HTTPS. Every state-changing request
must carry the session's CSRF token (form field `csrf` or header X-CSRF-Token); the login
form uses a double-submit cookie since there is no session yet.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import html
import json
import logging
import os
import secrets
import time
from typing import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from bot.agents import authenticate

log = logging.getLogger("supportbot.auth")
COOKIE = "sb_session"
LOGIN_CSRF = "sb_login_csrf"
MAX_AGE = 12 * 3600
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Signer:
    def __init__(self, key: str | None = None):
        key = key or os.environ.get("SUPPORTBOT_SECRET_KEY")
        if not key:
            log.warning("SUPPORTBOT_SECRET_KEY is not set: agent sessions end when the service restarts")
            key = secrets.token_urlsafe(32)
        self._key = hashlib.sha256(key.encode()).digest()

    def sign(self, data: dict) -> str:
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def unsign(self, token: str | None) -> dict | None:
        if not token or "." not in token:
            return None
        body, mac = token.rsplit(".", 1)
        expected = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < time.time():
            return None
        return data


SIGNER: web.AppKey = web.AppKey("signer", Signer)
AGENT: web.RequestKey = web.RequestKey("agent", dict)  # the logged-in agent: {"id", "name", "csrf"}
SESSIONS: web.AppKey = web.AppKey("sessions", object)  # async_sessionmaker


def is_secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax", secure=is_secure(request),
                        path="/")


def current_agent(request: web.Request) -> dict | None:
    return request.app[SIGNER].unsign(request.cookies.get(COOKIE))


def require_agent(handler: Handler) -> Handler:
    """Only a logged-in agent gets through; POSTs must also carry the session's CSRF token."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        agent = current_agent(request)
        if agent is None:
            if request.method == "GET":
                raise web.HTTPFound(f"/agent/login?next={quote(request.path_qs)}")
            raise web.HTTPUnauthorized(text="log in first")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get("X-CSRF-Token")
            if sent is None:
                form = await request.post()
                sent = form.get("csrf")
            if not isinstance(sent, str) or not hmac.compare_digest(sent, agent["csrf"]):
                raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page and try again")
        request[AGENT] = agent
        return await handler(request)

    return wrapper


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Agent login</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;background:#eef1f5;display:flex;justify-content:center;padding-top:10vh}}
form{{background:#fff;padding:28px;border-radius:10px;width:300px;display:flex;flex-direction:column;gap:10px}}
input{{padding:9px;font-size:15px}}button{{padding:10px;background:#1f4e79;color:#fff;border:0;border-radius:6px;font-size:15px}}
.error{{color:#b00020}}</style></head><body>
<form method="post" action="/agent/login"><h2>Agent login</h2>{error}
<input name="name" placeholder="Name" autocomplete="username" required autofocus>
<input name="password" type="password" placeholder="Password" autocomplete="current-password" required>
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button></form></body></html>"""


def _safe_next(value: str | None) -> str:
    return value if value and value.startswith("/") and not value.startswith("//") else "/agent"


async def login_form(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    page = LOGIN_PAGE.format(error=f'<p class="error">{html.escape(error)}</p>' if error else "", csrf=token,
                             next=html.escape(_safe_next(request.query.get("next"))))
    response = web.Response(text=page, content_type="text/html", status=status)
    set_cookie(response, request, LOGIN_CSRF, token, 3600)
    return response


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    token = request.cookies.get(LOGIN_CSRF)
    if not token or not hmac.compare_digest(str(form.get("csrf", "")), token):
        return await login_form(request, "The form expired: please try again.", status=403)
    agent = await authenticate(request.app[SESSIONS], str(form.get("name", "")), str(form.get("password", "")))
    if agent is None:
        log.warning("agent login failed for %r", str(form.get("name", ""))[:100])
        return await login_form(request, "Wrong name or password.", status=401)
    session = {"id": agent.id, "name": agent.name, "csrf": secrets.token_urlsafe(24), "exp": time.time() + MAX_AGE}
    response = web.HTTPFound(_safe_next(str(form.get("next", ""))))
    set_cookie(response, request, COOKIE, request.app[SIGNER].sign(session), MAX_AGE)
    response.del_cookie(LOGIN_CSRF, path="/")
    raise response


@require_agent
async def logout(request: web.Request) -> web.Response:
    response = web.HTTPFound("/agent/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def mount(app: web.Application, sessions, signer: Signer | None = None) -> None:  # noqa: ANN001
    app[SIGNER] = signer or Signer()
    app[SESSIONS] = sessions
    app.router.add_get("/agent/login", login_form)
    app.router.add_post("/agent/login", login)
    app.router.add_post("/agent/logout", logout)
