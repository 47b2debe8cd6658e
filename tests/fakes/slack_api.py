"""A local fake of Slack's Web API, Socket Mode and Events API delivery (aiohttp on 127.0.0.1).

    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)   # ".../api/"
        await client.chat_postMessage(channel="D1", text="hi")
        await slack.wait_for("chat.postMessage")
        eid = await slack.socket_send_event(slack.message_event("U1", "hello"))  # Socket Mode
        await slack.wait_for_ack(eid)
        status, body = await deliver_event(url, slack.message_event("U1", "hi"), SECRET)  # HTTP

Web API as on slack.com: ``{api_url}{method}`` (GET or POST; query string, urlencoded or JSON
bodies, often mixed: slack_sdk sends some arguments as query params even on POST), the token as
``Authorization: Bearer`` or a ``token`` argument, answers 200 ``{"ok": true, ...}`` or
``{"ok": false, "error": ...}`` (missing token: not_authed, wrong: invalid_auth, xapp vs xoxb
mix-up: not_allowed_token_type); rate limits are HTTP 429 with ``Retry-After``.
Socket Mode: apps.connections.open (xapp token) returns ``ws://.../link/?ticket=...``; the socket
sends ``hello``, then envelopes; the client acks with ``{"envelope_id": ...}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import time
import uuid
from typing import Any, AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest_asyncio
from aiohttp import web

_JSON_ARGS = {"blocks", "attachments", "metadata", "view"}
_INTERACTIVE = {"block_actions", "view_submission", "view_closed", "shortcut", "message_action",
                "block_suggestion"}


def sign(secret: str, timestamp: int | str, body: str | bytes) -> str:
    """Slack's request signature: ``v0=`` + HMAC-SHA256(secret, f"v0:{timestamp}:{body}")."""
    if isinstance(body, bytes):
        body = body.decode()
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()


async def _deliver(url: str, body: str, content_type: str, secret: str, timestamp: int | None,
                   signature: str | None, extra: dict[str, str]) -> tuple[int, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
               "X-Slack-Signature": signature or sign(secret, ts, body),
               "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)", **extra}
    async with aiohttp.ClientSession(trust_env=False) as s:
        async with s.post(url, data=body.encode(), headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as r:
            return r.status, await r.text()


async def deliver_event(url: str, payload: dict, signing_secret: str, *, timestamp: int | None = None,
                        retry_num: int | None = None, retry_reason: str = "http_timeout",
                        signature: str | None = None) -> tuple[int, str]:
    """POST an Events API payload (JSON, signed) to the app's URL as Slack does; (status, body).
    ``retry_num`` adds X-Slack-Retry-Num / -Reason; ``signature`` overrides the computed one."""
    extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason} if retry_num else {}
    return await _deliver(url, json.dumps(payload), "application/json", signing_secret, timestamp, signature, extra)


async def deliver_interaction(url: str, payload: dict, signing_secret: str, *, timestamp: int | None = None,
                              signature: str | None = None) -> tuple[int, str]:
    """POST an interactivity payload as Slack does: form-encoded ``payload=<json>``, signed."""
    body = urlencode({"payload": json.dumps(payload)})
    return await _deliver(url, body, "application/x-www-form-urlencoded", signing_secret, timestamp, signature, {})


class FakeSlack:
    """The fake Slack. After entering: ``base_url``, ``api_url`` (base_url + "/api/"). Records:
    ``calls`` [(method, params without token)], ``statuses``, ``responses``, ``messages`` {(channel, ts): message},
    ``acks`` {envelope_id: ack}, ``users`` {id: user object} (unknown U/W ids get a default)."""

    def __init__(self, *, bot_token: str = "xoxb-test", app_token: str = "xapp-1-test", team_id: str = "T1",
                 team: str = "Fake Team", bot_user_id: str = "UBOT", bot_id: str = "BBOT", app_id: str = "A1",
                 bot_name: str = "supportbot", verification_token: str = "verif-token") -> None:
        self.bot_token, self.app_token, self.team_id, self.team = bot_token, app_token, team_id, team
        self.bot_user_id, self.bot_id, self.app_id, self.bot_name = bot_user_id, bot_id, app_id, bot_name
        self.verification_token = verification_token
        self.base_url = self.api_url = ""
        self.calls: list[tuple[str, dict]] = []
        self.statuses: list[int] = []
        self.responses: list[dict] = []  # the JSON answered to each call, same order
        self.messages: dict[tuple[str, str], dict] = {}
        self.acks: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.socket_connections = 0  # websockets ever opened (reconnects count again)
        self._sockets: list[web.WebSocketResponse] = []
        self._tickets: set[str] = set()
        self._failures: dict[str, list[tuple[int, dict, dict]]] = {}
        self._stubs: dict[str, dict] = {}
        self._t0, self._n = int(time.time()), 0
        self._cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> "FakeSlack":
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link/", self._ws)
        app.router.add_post("/response_url/{n}", self._response_url)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.api_url = self.base_url + "/api/"  # trailing slash matters: slack_sdk urljoin()s methods on it
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- scripting and inspection -----------------------------------------------------------

    def fail_next(self, method: str, *, error: str | None = None, ratelimited: bool = False,
                  retry_after: int = 1, status: int | None = None) -> None:
        """Queue a one-shot failure for ``method``: ``ratelimited`` → 429 + Retry-After and
        ``{"ok":false,"error":"ratelimited"}``; ``error`` → 200 ``{"ok":false,"error":error}``;
        ``status`` (e.g. 500/503) → that HTTP status with an ok:false body."""
        if ratelimited:
            item = (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        else:
            item = (status or 200, {"ok": False, "error": error or "internal_error"}, {})
        self._failures.setdefault(method, []).append(item)

    def stub(self, method: str, response: dict) -> None:
        """Answer an otherwise unimplemented ``method`` with ``{"ok": true, **response}``."""
        self._stubs[method] = response

    def add_user(self, user_id: str, name: str, *, email: str | None = None, is_bot: bool = False,
                 tz: str = "Europe/Berlin") -> dict:
        self.users[user_id] = {"id": user_id, "team_id": self.team_id, "name": name, "real_name": name.title(),
                               "deleted": False, "is_bot": is_bot, "tz": tz,
                               "profile": {"real_name": name.title(), "display_name": name,
                                           "email": email or f"{name}@example.com"}}
        return self.users[user_id]

    def calls_of(self, method: str) -> list[dict]:
        return [p for m, p in self.calls if m == method]

    def posted_messages(self) -> list[dict]:
        """Params of every chat.postMessage that succeeded (answered ok: true)."""
        return [p for (m, p), r in zip(self.calls, self.responses) if m == "chat.postMessage" and r.get("ok")]

    def bot_messages(self, channel: str | None = None) -> list[dict]:
        """Messages the bot posted (as updated since), oldest first, each with its ``channel``."""
        return [{**m, "channel": c} for (c, _), m in self.messages.items()
                if m.get("bot_id") == self.bot_id and channel in (None, c)]

    async def _wait(self, pred: Any, timeout: float, what: str) -> None:
        try:
            async with self._cond:
                await asyncio.wait_for(self._cond.wait_for(pred), timeout)
        except TimeoutError:
            raise TimeoutError(f"{what} within {timeout}s; calls: {[m for m, _ in self.calls]}") from None

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5) -> list[dict]:
        """Wait until ``method`` was called ``count`` times; returns the params of all its calls."""
        await self._wait(lambda: len(self.calls_of(method)) >= count, timeout, f"no {count} {method} call(s)")
        return self.calls_of(method)

    async def wait_for_ack(self, envelope_id: str, timeout: float = 5) -> dict:
        """Wait for the Socket Mode ack of ``envelope_id``; returns it (``payload`` when given)."""
        await self._wait(lambda: envelope_id in self.acks, timeout, f"no ack for {envelope_id}")
        return self.acks[envelope_id]

    async def wait_for_socket(self, count: int = 1, timeout: float = 5) -> None:
        """Wait until ``count`` Socket Mode connections have been opened (and greeted)."""
        await self._wait(lambda: self.socket_connections >= count and bool(self._sockets), timeout,
                         f"no {count} socket connection(s)")

    async def socket_send_event(self, payload: dict, *, envelope_type: str | None = None,
                                accepts_response_payload: bool | None = None, retry_attempt: int = 0,
                                retry_reason: str = "", timeout: float = 5) -> str:
        """Send one envelope over the newest socket (waiting for one); returns its envelope_id.
        The type follows the payload: event_callback → events_api, block_actions & co →
        interactive, a slash command → slash_commands."""
        await self.wait_for_socket(timeout=timeout)
        kind = payload.get("type")
        envelope_type = envelope_type or ("events_api" if kind == "event_callback" else
                                          "interactive" if kind in _INTERACTIVE else "slash_commands")
        if accepts_response_payload is None:
            accepts_response_payload = envelope_type != "events_api" and kind != "block_actions"
        eid = str(uuid.uuid4())
        env = {"envelope_id": eid, "payload": payload, "type": envelope_type,
               "accepts_response_payload": accepts_response_payload}
        if envelope_type == "events_api":
            env.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        await self._sockets[-1].send_str(json.dumps(env))
        return eid

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask connected clients to reconnect, as Slack does before rotating a socket."""
        for ws in list(self._sockets):
            await ws.send_str(json.dumps({"type": "disconnect", "reason": reason,
                                          "debug_info": {"host": "applink-fake-1"}}))

    # --- payload builders -----------------------------------------------------------------------

    def next_ts(self) -> str:
        self._n += 1
        return f"{self._t0 + self._n}.000100"

    def _callback(self, event: dict, team_id: str) -> dict:
        self._n += 1
        return {"token": self.verification_token, "team_id": team_id, "api_app_id": self.app_id, "event": event,
                "type": "event_callback", "event_id": f"Ev{self._n:08d}", "event_time": int(time.time()),
                "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": self.bot_user_id,
                                    "is_bot": True, "is_enterprise_install": False}],
                "is_ext_shared_channel": False, "event_context": f"4-fake-{self._n}"}

    def _user_event(self, etype: str, user: str | None, text: str, channel: str, ts: str | None,
                    thread_ts: str | None, team_id: str) -> dict:
        ts = ts or self.next_ts()
        ev: dict[str, Any] = {"type": etype, "user": user, "text": text, "ts": ts, "channel": channel,
                              "event_ts": ts, "team": team_id, "client_msg_id": str(uuid.uuid4()),
                              "blocks": [{"type": "rich_text", "block_id": "b1", "elements": [
                                  {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}]}]}
        if thread_ts:
            ev["thread_ts"] = thread_ts
        self.messages.setdefault((channel, ts), {k: v for k, v in ev.items() if k not in ("channel", "event_ts")})
        return ev

    def message_event(self, user: str | None, text: str, channel: str = "D1", channel_type: str = "im",
                      ts: str | None = None, thread_ts: str | None = None, bot_id: str | None = None,
                      team_id: str = "T1") -> dict:
        """An event_callback envelope with a ``message`` event. With ``bot_id`` it is a bot's
        message (and, without ``user``, subtype bot_message) — what an app must ignore."""
        ev = self._user_event("message", user, text, channel, ts, thread_ts, team_id)
        ev["channel_type"] = channel_type
        if bot_id:
            ev.update(bot_id=bot_id, app_id="A_OTHER" if bot_id != self.bot_id else self.app_id)
            ev.pop("client_msg_id")
            if not user:
                ev.pop("user")
                ev["subtype"] = "bot_message"
        return self._callback(ev, team_id)

    def app_mention_event(self, user: str, text: str, channel: str = "C1", ts: str | None = None,
                          thread_ts: str | None = None, team_id: str = "T1") -> dict:
        """An event_callback envelope with an ``app_mention`` (``<@BOT>`` prepended if absent)."""
        mention = f"<@{self.bot_user_id}>"
        text = text if mention in text else f"{mention} {text}"
        return self._callback(self._user_event("app_mention", user, text, channel, ts, thread_ts, team_id), team_id)

    def url_verification(self, challenge: str) -> dict:
        return {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}

    def block_action_payload(self, user: str, action_id: str, value: str, channel: str, message_ts: str,
                             *, block_id: str = "actions", text: str = "Button") -> dict:
        """A ``block_actions`` payload for a pressed button on message ``message_ts``; its
        ``response_url`` points at this fake (calls recorded as method "response_url")."""
        self._n += 1
        msg = self.messages.get((channel, message_ts)) or {"type": "message", "ts": message_ts, "text": ""}
        return {"type": "block_actions", "user": {"id": user, "username": user.lower(), "name": user.lower(),
                                                  "team_id": self.team_id},
                "api_app_id": self.app_id, "token": self.verification_token,
                "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                              "is_ephemeral": False},
                "trigger_id": f"{self._n}.{self._t0}.fake", "team": {"id": self.team_id, "domain": "fake-team"},
                "enterprise": None, "is_enterprise_install": False, "channel": {"id": channel, "name": channel},
                "message": msg, "state": {"values": {}}, "response_url": f"{self.base_url}/response_url/{self._n}",
                "actions": [{"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                             "text": {"type": "plain_text", "text": text, "emoji": True},
                             "action_ts": f"{time.time():.6f}"}]}

    sign = staticmethod(sign)
    deliver_event = staticmethod(deliver_event)
    deliver_interaction = staticmethod(deliver_interaction)

    # --- server -------------------------------------------------------------------------------

    async def _record(self, method: str, params: dict, status: int, body: dict) -> None:
        async with self._cond:
            self.calls.append((method, params))
            self.statuses.append(status)
            self.responses.append(body)
            self._cond.notify_all()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for k in _JSON_ARGS & params.keys():
            if isinstance(params[k], str):
                try:
                    params[k] = json.loads(params[k])
                except ValueError:
                    pass
        auth = request.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else params.pop("token", None)
        params.pop("token", None)
        status, headers, body = 200, {}, self._auth_error(method, token)
        if body is None and self._failures.get(method):
            status, body, headers = self._failures[method].pop(0)
        elif body is None:
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is not None:
                body = handler(params)
            elif method in self._stubs:
                body = {"ok": True, **self._stubs[method]}
            else:
                body = {"ok": False, "error": "unknown_method", "req_method": method}
        await self._record(method, params, status, body)
        return web.json_response(body, status=status, headers=headers)

    def _auth_error(self, method: str, token: str | None) -> dict | None:
        if not token:
            return {"ok": False, "error": "not_authed"}
        want_app = method == "apps.connections.open"
        if token.startswith("xapp-") != want_app:
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != (self.app_token if want_app else self.bot_token):
            return {"ok": False, "error": "invalid_auth"}
        return None

    def _channel(self, channel: str) -> str:
        return "D" + channel[1:] if channel[:1] in ("U", "W") else channel  # posting to a user opens the DM

    def _m_auth_test(self, p: dict) -> dict:
        return {"ok": True, "url": "https://fake-team.slack.com/", "team": self.team, "user": self.bot_name,
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _bot_message(self, p: dict, ts: str) -> dict:
        msg = {"user": self.bot_user_id, "type": "message", "ts": ts, "bot_id": self.bot_id, "app_id": self.app_id,
               "text": p.get("text", ""), "team": self.team_id,
               "bot_profile": {"id": self.bot_id, "app_id": self.app_id, "name": self.bot_name,
                               "team_id": self.team_id, "deleted": False}}
        for k in ("blocks", "attachments", "thread_ts", "metadata"):
            if p.get(k):
                msg[k] = p[k]
        return msg

    def _m_chat_postMessage(self, p: dict) -> dict:
        if not p.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not (p.get("text") or p.get("blocks") or p.get("attachments")):
            return {"ok": False, "error": "no_text"}
        if len(p.get("text") or "") > 40000:
            return {"ok": False, "error": "msg_too_long"}
        channel, ts = self._channel(p["channel"]), self.next_ts()
        self.messages[(channel, ts)] = msg = self._bot_message(p, ts)
        return {"ok": True, "channel": channel, "ts": ts, "message": msg}

    def _m_chat_update(self, p: dict) -> dict:
        key = (p.get("channel", ""), p.get("ts", ""))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        if self.messages[key].get("bot_id") != self.bot_id:
            return {"ok": False, "error": "cant_update_message"}
        msg = {**self._bot_message({**self.messages[key], **p}, key[1]),
               "edited": {"user": self.bot_user_id, "ts": self.next_ts()}}
        self.messages[key] = msg
        return {"ok": True, "channel": key[0], "ts": key[1], "text": msg["text"], "message": msg}

    def _m_chat_postEphemeral(self, p: dict) -> dict:
        if not p.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not p.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self.next_ts()}

    def _m_conversations_open(self, p: dict) -> dict:
        users = [u for u in str(p.get("users", "")).split(",") if u]
        if not users and not p.get("channel"):
            return {"ok": False, "error": "users_list_not_supplied"}
        return {"ok": True, "no_op": True, "already_open": True,
                "channel": {"id": p.get("channel") or self._channel(users[0])}}

    def _m_users_info(self, p: dict) -> dict:
        uid = p.get("user", "")
        if uid not in self.users and uid[:1] not in ("U", "W"):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": self.users.get(uid) or self.add_user(uid, uid.lower())}

    def _m_views_open(self, p: dict) -> dict:
        if not p.get("trigger_id") or not isinstance(p.get("view"), dict):
            return {"ok": False, "error": "invalid_arguments"}
        self._n += 1
        return {"ok": True, "view": {"id": f"V{self._n:08d}", "team_id": self.team_id, **p["view"],
                                     "state": {"values": {}}, "hash": f"{self._t0}.fake", "app_id": self.app_id,
                                     "bot_id": self.bot_id}}

    def _m_apps_connections_open(self, p: dict) -> dict:
        ticket = str(uuid.uuid4())
        self._tickets.add(ticket)
        ws = self.base_url.replace("http://", "ws://")
        return {"ok": True, "url": f"{ws}/link/?ticket={ticket}&app_id={self.app_id}"}

    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record("response_url", body, 200, {"ok": True})
        return web.json_response({"ok": True})

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("ticket") not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)  # answers the SDK's "sdk-ping-pong" pings
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": len(self._sockets) + 1,
                                      "debug_info": {"host": "applink-fake-1", "build_number": 1,
                                                     "approximate_connection_time": 18060},
                                      "connection_info": {"app_id": self.app_id}}))
        async with self._cond:
            self._sockets.append(ws)
            self.socket_connections += 1
            self._cond.notify_all()
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        async with self._cond:
                            self.acks[data["envelope_id"]] = data
                            self._cond.notify_all()
        finally:
            self._sockets.remove(ws)
        return ws


@pytest_asyncio.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as slack:
        yield slack
