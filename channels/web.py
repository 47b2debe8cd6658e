"""Browser chat: a page at / where a visitor chats with the bot; no build step, no CDN.

POST /chat/messages stores the message in the inbox (deduplicated on the page's message
id) and answers 202; replies come back over server-sent events at /chat/events. The
page keeps a random visitor id in localStorage; /chat/history replays the conversation
after a reload, so nothing delivered while the page was closed is lost.

The visitor id is the browser's secret: whoever knows it reads the history and writes as that
customer. So it is never stored or shown: the customer is known by `public_id(visitor)`, a
one-way digest (migration 0007 replaced the ids stored before), and agents see
`web visitor 3f9a01` (bot.handoff.escalations.customer_label).

Abuse limits (settings.rate_limits): posts per visitor and per client address, open event
streams per visitor and in all; over a limit the answer is 429 with Retry-After. A body that
is not a JSON object of the expected fields is a 400 and one warning line, never a traceback.

A reply's buttons travel with it (`buttons`: the labels, in the SSE event and in the history);
the page shows them as chips, and a click posts the label as an ordinary message.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections import defaultdict
from importlib.resources import files
from typing import TypedDict

from aiohttp import web

from bot.runtime.channel import ChannelContext
from bot.db.reads import chat_transcript
from bot.messages import InboundMessage, Reply
from bot.ratelimit import Limiter

log = logging.getLogger("supportbot.web")
NAME = "web"
VISITOR = re.compile(r"^[A-Za-z0-9_-]{16,64}$")  # a secret: long enough not to be guessed from its digest
MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_TEXT = 10_000
STREAM_RETRY_S = 30  # Retry-After for an event stream over its cap
STATIC = files("channels").joinpath("static")
PAGE = STATIC.joinpath("chat.html")
ASSETS = {"chat.js": "text/javascript", "chat.css": "text/css"}  # the page's script and style, as files
# no inline script or style, nothing from elsewhere: text that slipped into the DOM as HTML could not run
HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                                      "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; "
                                      "frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class Pushed(TypedDict):
    """A reply as an open chat page gets it on its event stream."""

    id: str  # the outbox idempotency key of the reply
    text: str
    buttons: list[str]
    author: str  # "bot", or "agent" for a person's reply (its own bubble)


# what an open page's event stream is fed: a reply, or None to end the stream
Listener = asyncio.Queue[Pushed | None]


class WebChat:
    name = NAME

    def __init__(self, ctx: ChannelContext):
        self.ctx = ctx
        self.listeners: dict[str, set[Listener]] = defaultdict(set)
        self.accepting = True
        self.limits = ctx.settings.rate_limits
        self.limiter = Limiter()
        self.per_visitor, self.per_address = (self.limits.item("chat_posts_per_visitor"),
                                              self.limits.item("chat_posts_per_address"))
        self.history_per_address = self.limits.item("chat_history_per_address")
        self.streams = 0  # open /chat/events streams, all visitors

    # --- ChannelRuntime -------------------------------------------------------------
    def mount(self, app: web.Application) -> None:
        app.router.add_get("/", self.page)
        app.router.add_get("/chat/{asset:chat\\.(?:js|css)}", self.asset)
        app.router.add_post("/chat/messages", self.post_message)
        app.router.add_get("/chat/events", self.events)
        app.router.add_get("/chat/history", self.history)

    async def start(self) -> None:
        self.accepting = True

    async def stop(self) -> None:
        self.accepting = False
        for queues in self.listeners.values():
            for q in queues:
                q.put_nowait(None)  # ends the event streams

    async def close(self) -> None:
        return None

    def state(self) -> dict[str, str | int]:
        return {"state": "ready" if self.accepting else "stopped",
                "listeners": sum(len(q) for q in self.listeners.values())}

    async def deliver(self, reply: Reply, idempotency_key: str) -> str | None:
        """Push to every open page of this visitor; stored already, so a closed page sees it on reload."""
        for q in list(self.listeners.get(reply.customer_id, ())):
            q.put_nowait({"id": idempotency_key, "text": reply.text, "buttons": list(reply.buttons),
                          "author": "agent" if reply.sender else "bot"})
        return idempotency_key

    # --- HTTP -----------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        html = PAGE.read_text(encoding="utf-8").replace("{{company}}", _escape(self.ctx.settings.company.name))
        return web.Response(text=html, content_type="text/html", headers=HEADERS)

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["asset"]
        return web.Response(text=STATIC.joinpath(name).read_text(encoding="utf-8"), content_type=ASSETS[name],
                            headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    async def post_message(self, request: web.Request) -> web.Response:
        if not self.accepting:
            return web.json_response({"error": "shutting down, try again shortly"}, status=503)
        if (wait := self.limiter.hit(self.per_address, "address", request.remote or "")) is not None:
            return _too_many(wait, "too many messages from this address")
        try:
            body = await request.json()
        except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, or nested too deep to parse
            return _bad(request, "expected a JSON body", type(e).__name__)
        if not isinstance(body, dict):
            return _bad(request, "expected a JSON object", type(body).__name__)
        visitor, text, msg_id = body.get("visitor"), body.get("text"), body.get("id")
        if not isinstance(visitor, str) or not VISITOR.match(visitor):
            return _bad(request, "visitor: 16-64 letters, digits, - or _")
        if not isinstance(msg_id, str) or not MESSAGE_ID.match(msg_id):
            return _bad(request, "id: 8-64 letters, digits, - or _")
        if not isinstance(text, str) or len(text) > MAX_TEXT:
            return _bad(request, f"text: a string of at most {MAX_TEXT} characters")
        if (wait := self.limiter.hit(self.per_visitor, "visitor", visitor)) is not None:
            return _too_many(wait, "too many messages, please wait a moment")
        customer = public_id(visitor)
        msg = InboundMessage(channel=NAME, customer_id=customer, text=text, conversation_key=customer,
                             customer_name=None, external_id=msg_id)
        event_id = await self.ctx.inbox.accept(msg, f"{customer}:{msg_id}")
        return web.json_response({"accepted": True, "duplicate": event_id is None}, status=202)

    async def events(self, request: web.Request) -> web.StreamResponse:
        visitor = request.query.get("visitor", "")
        if not VISITOR.match(visitor):
            return web.json_response({"error": "visitor required"}, status=400)
        visitor = public_id(visitor)  # replies are addressed to the public id
        if len(self.listeners.get(visitor, ())) >= self.limits.chat_streams_per_visitor:
            return _too_many(STREAM_RETRY_S, "too many open chat windows")
        if self.streams >= self.limits.chat_streams_total:
            return _too_many(STREAM_RETRY_S, "the chat is busy, try again shortly")
        queue: Listener = asyncio.Queue()
        self.listeners[visitor].add(queue)  # before the first await, so the caps hold for concurrent requests
        self.streams += 1
        try:
            return await self._stream(request, queue)
        finally:
            self.streams -= 1
            self.listeners[visitor].discard(queue)
            if not self.listeners[visitor]:
                del self.listeners[visitor]

    @staticmethod
    async def _stream(request: web.Request, queue: Listener) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        try:
            await resp.write(b": connected\n\n")
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=15)
                except asyncio.TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                if item is None:
                    break
                await resp.write(f"event: reply\ndata: {json.dumps(item)}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    async def history(self, request: web.Request) -> web.Response:
        if (wait := self.limiter.hit(self.history_per_address, "history", request.remote or "")) is not None:
            return _too_many(wait, "too many history requests from this address")
        visitor = request.query.get("visitor", "")
        if not VISITOR.match(visitor):
            return web.json_response({"error": "visitor required"}, status=400)
        customer = public_id(visitor)
        lines = await chat_transcript(self.ctx.sessions, NAME, customer, limit=100)
        return web.json_response([{"author": line.author, "text": line.text, "buttons": list(line.buttons)}
                                  for line in lines])


def public_id(visitor: str) -> str:
    """The customer id stored and shown for a browser's secret visitor id: its SHA-256, cut to 128 bits."""
    return hashlib.sha256(b"supportbot web visitor\0" + visitor.encode()).hexdigest()[:32]


def _bad(request: web.Request, error: str, detail: str = "") -> web.Response:
    """400, and one warning line (no body, no traceback: what the client sent is not logged)."""
    log.warning("web chat: 400 for %s: %s%s", request.remote, error, f" ({detail})" if detail else "")
    return web.json_response({"error": error}, status=400)


def _too_many(wait: int, error: str) -> web.Response:
    return web.json_response({"error": error, "retry_after": wait}, status=429, headers={"Retry-After": str(wait)})


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def create(ctx: ChannelContext) -> WebChat:
    """The browser chat needs no settings: it is always on."""
    return WebChat(ctx)
