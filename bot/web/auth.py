"""Agent login for the web console and dashboard: server-side sessions, CSRF tokens, lockout.

A session is a row in agent_sessions (bot/handoff/agents.py): the cookie holds {random session token,
csrf token, expiry}, signed with HMAC-SHA256 under SUPPORTBOT_SECRET_KEY (several processes
must share it; without it a random key is made at start, and sessions end when the service
restarts). Every request checks the row: logout, `supportbot agent passwd`, disabling the
agent and the 12 h expiry end a session, also for a copy of the cookie. Cookies are HttpOnly,
SameSite=Lax, and Secure whenever the request came over HTTPS. Every state-changing request
must carry the session's CSRF token (form field `csrf` or header X-CSRF-Token); the login
form uses a double-submit cookie since there is no session yet.

Logins are throttled (bot.handoff.agents.LoginLimits): after 5 failures for one account name, or 20
from one client address, within 15 minutes, the login answers 429 with Retry-After without
checking the password, until the failures age out or an admin runs `supportbot agent unlock
NAME`. The address is the TCP peer (request.remote): behind a reverse proxy every client shares
the proxy's address, so the per-address limit then applies to all of them together.
After a login, `next` may only be a path on this server (_safe_next).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
import unicodedata
from typing import Awaitable, Callable, Mapping, TypedDict
from urllib.parse import quote, unquote, urlsplit

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.handoff import agents
from bot.handoff.agents import authenticate
from bot.web.guard import same_secret
from bot.web.render import render

log = logging.getLogger("supportbot.auth")
COOKIE = "sb_session"
LOGIN_CSRF = "sb_login_csrf"
MAX_AGE = 12 * 3600
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


class Agent(TypedDict):
    """The logged-in agent of a request (request[AGENT])."""
    id: int
    name: str
    csrf: str
    sid: str


class Signer:
    def __init__(self, key: str | None = None):
        key = key or os.environ.get("SUPPORTBOT_SECRET_KEY")
        if not key:
            log.warning("SUPPORTBOT_SECRET_KEY is not set: agent sessions end when the service restarts")
            key = secrets.token_urlsafe(32)
        self._key = hashlib.sha256(key.encode()).digest()

    def sign(self, data: Mapping[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
        mac = hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def unsign(self, token: str | None) -> dict[str, object] | None:
        if not token or "." not in token:
            return None
        body, mac = token.rsplit(".", 1)
        expected = hmac.new(self._key, body.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        if not same_secret(mac, expected):  # a cookie may hold anything, non-ASCII too
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body.encode()))
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("exp", 0) < time.time():
            return None
        return data


SIGNER: web.AppKey[Signer] = web.AppKey("signer", Signer)
AGENT: web.RequestKey[Agent] = web.RequestKey("agent", Agent)  # the logged-in agent: {"id", "name", "csrf", "sid"}
SESSIONS: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessions", async_sessionmaker)
LIMITS: web.AppKey[agents.LoginLimits] = web.AppKey("login_limits", agents.LoginLimits)


def is_secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax", secure=is_secure(request),
                        path="/")


async def current_agent(request: web.Request) -> Agent | None:
    """{"id", "name", "csrf", "sid"} of a live session (checked in the database), else None."""
    cookie = request.app[SIGNER].unsign(request.cookies.get(COOKIE))
    if cookie is None:
        return None
    sid, csrf = cookie.get("sid"), cookie.get("csrf")
    if not isinstance(sid, str) or not isinstance(csrf, str):
        return None
    found = await agents.session_agent(request.app[SESSIONS], sid)
    if found is None:
        return None
    return {"id": found[0], "name": found[1], "csrf": csrf, "sid": sid}


async def read_form(request: web.Request) -> Form:
    """The posted form; a body that is not one (not UTF-8, a broken multipart) is a 400, not a 500."""
    try:
        return await request.post()
    except ValueError as e:  # UnicodeDecodeError, multipart errors
        log.warning("%s %s: unreadable form (%s): 400", request.method, request.path, type(e).__name__)
        raise web.HTTPBadRequest(text="unreadable form") from None


def require_agent(handler: Handler) -> Handler:
    """Only a logged-in agent gets through; POSTs must also carry the session's CSRF token."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        agent = await current_agent(request)
        if agent is None:
            if request.method == "GET":
                raise web.HTTPFound(f"/agent/login?next={quote(request.path_qs)}")
            raise web.HTTPUnauthorized(text="log in first")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent: object = request.headers.get("X-CSRF-Token")
            if sent is None:
                form = await read_form(request)
                sent = form.get("csrf")
            if not same_secret(sent, agent["csrf"]):  # bytes: a non-ASCII token is a 403, not a 500
                log.warning("%s %s: missing or wrong CSRF token: 403", request.method, request.path)
                raise web.HTTPForbidden(text="missing or wrong CSRF token: reload the page and try again")
        request[AGENT] = agent
        return await handler(request)

    return wrapper


DEFAULT_NEXT = "/agent"


def _local_path(value: str, decoded: bool = False) -> bool:
    """A path a browser can only read as one on this server: one leading slash, no scheme or
    host, no backslash. As sent: printable ASCII only (no spaces, controls, unicode look-alikes).
    Once percent-decoded: no controls, invisible or odd spaces (a plain space is fine)."""
    if not value or "\\" in value:
        return False
    if decoded:
        if any(c != " " and unicodedata.category(c)[0] in "CZ" for c in value):
            return False
    elif any(not 0x21 <= ord(c) <= 0x7E for c in value):
        return False
    if not value.startswith("/") or value.startswith("//"):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def _safe_next(value: str | None) -> str:
    """Where to go after the login: a same-origin path, else the console's queue.
    The percent-decoded form must pass too (`/%09/evil`, `/%5Cevil`, `/%2F/evil`)."""
    if not value or len(value) > 2000 or not _local_path(value):
        return DEFAULT_NEXT
    decoded = value
    for _ in range(3):
        try:
            decoded, before = unquote(decoded, errors="strict"), decoded
        except UnicodeDecodeError:
            return DEFAULT_NEXT
        if not _local_path(decoded, decoded=True):
            return DEFAULT_NEXT
        if decoded == before:
            return value
    return DEFAULT_NEXT


async def login_form(request: web.Request, error: str = "", status: int = 200,
                     headers: dict[str, str] | None = None) -> web.Response:
    token = secrets.token_urlsafe(24)
    page = render("login.html", error=error, csrf=token, next=_safe_next(request.query.get("next")))
    response = web.Response(text=page, content_type="text/html", status=status, headers=headers)
    set_cookie(response, request, LOGIN_CSRF, token, 3600)
    return response


async def login(request: web.Request) -> web.Response:
    form = await read_form(request)
    token = request.cookies.get(LOGIN_CSRF)
    if not same_secret(form.get("csrf"), token):
        log.warning("agent login: missing or wrong form token: 403")
        return await login_form(request, "The form expired: please try again.", status=403)
    sessions, name = request.app[SESSIONS], str(form.get("name", "")).strip()
    address = request.remote or "unknown"
    attempt, wait = await agents.begin_attempt(sessions, name, address, request.app[LIMITS])
    if attempt is None:
        log.warning("agent login locked out for %r from %s", name[:100], address)
        return await login_form(request, f"Too many failed logins: try again in {wait} seconds, or ask an "
                                         "admin to run `supportbot agent unlock`.", status=429,
                                headers={"Retry-After": str(wait)})
    try:
        agent = await authenticate(sessions, name, str(form.get("password", "")))
    except agents.Busy:
        await agents.attempt_aborted(sessions, attempt)
        return await login_form(request, "The server is busy: please try again.", status=503,
                                headers={"Retry-After": "1"})
    if agent is None:
        log.warning("agent login failed for %r from %s", name[:100], address)
        return await login_form(request, "Wrong name or password.", status=401)
    await agents.login_succeeded(sessions, name)
    sid = await agents.open_session(sessions, agent.id, MAX_AGE)
    session = {"sid": sid, "csrf": secrets.token_urlsafe(24), "exp": time.time() + MAX_AGE}
    response = web.HTTPFound(_safe_next(str(form.get("next", ""))))
    set_cookie(response, request, COOKIE, request.app[SIGNER].sign(session), MAX_AGE)
    response.del_cookie(LOGIN_CSRF, path="/")
    raise response


@require_agent
async def logout(request: web.Request) -> web.Response:
    await agents.close_session(request.app[SESSIONS], request[AGENT]["sid"])
    response = web.HTTPFound("/agent/login")
    response.del_cookie(COOKIE, path="/")
    raise response


def mount(app: web.Application, sessions: async_sessionmaker[AsyncSession], signer: Signer | None = None,
          limits: agents.LoginLimits | None = None) -> None:
    app[SIGNER] = signer or Signer()
    app[SESSIONS] = sessions
    app[LIMITS] = limits or agents.LoginLimits()
    app.router.add_get("/agent/login", login_form)
    app.router.add_post("/agent/login", login)
    app.router.add_post("/agent/logout", logout)
