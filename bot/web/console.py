"""The agent console: the escalation queue, one conversation with its full history, the actions.

Pages are rendered on the server, every stored string through html.escape (customer text is
hostile input); bot/web/static/console.js adds live updates, no CDN and no build step. A strict
Content-Security-Policy allows no inline script, as a second line of defence.

Live updates: WebDesk is an AgentDesk on the service's Handoff. When an escalation is announced
or changes, or its customer writes, it wakes the open event streams; each stream then reads what
is new from SQL (messages after the last id it sent), so a stream that reconnects (Last-Event-ID)
misses nothing, and every KEEPALIVE seconds it looks again in case another process wrote.
"""

from __future__ import annotations

import asyncio
import html
import json
from collections import defaultdict
from datetime import datetime, timezone
from importlib.resources import files

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import models as m
from bot.handoff import EscalationView, HandoffError
from bot.messages import utcnow
from bot.web.auth import AGENT, read_form, require_agent

STATIC = files("bot.web").joinpath("static")
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
HEADERS = {"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                      "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
           "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
KEEPALIVE = 10.0  # seconds; each tick also re-reads SQL (another process may have written)
BATCH = 200
MAX_ID = 2**62
EMPTY_ROW = '<tr class="empty"><td colspan="6">Nothing waiting.</td></tr>'
CONSOLE: web.AppKey = web.AppKey("console", object)


def h(value: object) -> str:
    return html.escape(str(value), quote=True)


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC


def _at(dt: datetime) -> str:
    return f"{_utc(dt):%Y-%m-%d %H:%M:%S} UTC"


def _age(dt: datetime) -> str:
    s = max(0, int((utcnow() - _utc(dt)).total_seconds()))
    return f"{s}s" if s < 60 else f"{s // 60}m" if s < 3600 else f"{s // 3600}h {s % 3600 // 60}m"


def _status(status: str, owner: str | None) -> str:
    return f"claimed by {owner}" if status == "claimed" else status


def _id(request: web.Request) -> int:
    value = int(request.match_info["id"])
    if value > MAX_ID:
        raise web.HTTPNotFound(text="no such escalation")
    return value


def _field(form, name: str) -> str:  # noqa: ANN001 - a MultiDictProxy; uploads are not text
    value = form.get(name)
    return value if isinstance(value, str) else ""


class WebDesk:
    """The console as an AgentDesk: wakes the open event streams, which read what changed from SQL."""

    name = "web"

    def __init__(self) -> None:
        self.streams: dict[int | None, set[asyncio.Queue]] = defaultdict(set)  # conversation id; None: queue page

    def listen(self, key: int | None) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.streams[key].add(queue)
        return queue

    def forget(self, key: int | None, queue: asyncio.Queue) -> None:
        self.streams[key].discard(queue)
        if not self.streams[key]:
            del self.streams[key]

    def _wake(self, conversation_id: int, event: str) -> None:
        for queue in [*self.streams.get(conversation_id, ()), *self.streams.get(None, ())]:
            queue.put_nowait(event)

    async def announce(self, esc: EscalationView, again: bool) -> dict | None:
        self._wake(esc.conversation_id, "announced")
        return None

    async def customer_said(self, esc: EscalationView, text: str) -> None:
        self._wake(esc.conversation_id, "customer_said")

    async def changed(self, esc: EscalationView, event: str, by: str | None = None) -> None:
        self._wake(esc.conversation_id, event)

    async def close(self, _app: web.Application | None = None) -> None:
        for queues in self.streams.values():
            for queue in queues:
                queue.put_nowait(None)  # ends the event streams


async def _next(queue: asyncio.Queue) -> str | None:
    """The next wake-up ("tick" after KEEPALIVE seconds); None when the service stops."""
    try:
        item = await asyncio.wait_for(queue.get(), KEEPALIVE)
    except asyncio.TimeoutError:
        return "tick"
    while item is not None and not queue.empty():  # one read of SQL covers every wake-up queued so far
        item = queue.get_nowait()
    return item


async def _sse(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers=SSE_HEADERS)
    await resp.prepare(request)
    await resp.write(b": connected\n\n")
    return resp


async def _messages(s: AsyncSession, conversation_id: int, after: int = 0, limit: int | None = None) -> list[dict]:
    query = (select(m.Message.id, m.Message.author, m.Message.text, m.Message.created_at, m.Agent.name)
             .outerjoin(m.Agent, m.Agent.id == m.Message.agent_id)
             .where(m.Message.conversation_id == conversation_id, m.Message.id > after).order_by(m.Message.id))
    rows = (await s.execute(query.limit(limit) if limit else query)).all()
    return [{"id": i, "author": a if a in ("customer", "bot", "agent", "system") else "system",
             "who": f"agent {name}" if a == "agent" and name else a, "text": t, "at": _at(at)}
            for i, a, t, at, name in rows]


def _msg_html(x: dict, label: str = "") -> str:
    return (f'<div class="msg {h(x["author"])}" data-id="{h(x["id"])}"><div class="meta">{h(x["who"])} · '
            f'{h(x["at"])}{label}</div><div class="text">{h(x["text"])}</div></div>')


def _queue_row(r: dict) -> str:
    review = ' <span class="tag">draft to review</span>' if r["review"] else ""
    return (f'<tr><td><a href="{h(r["url"])}">#{h(r["id"])}</a></td><td>{h(r["customer"])}</td>'
            f'<td>{h(r["channel"])}</td><td><b>{h(r["reason_kind"])}</b> {h(r["reason"])}{review}</td>'
            f'<td>{h(r["status_label"])}</td><td>{h(r["age"])}</td></tr>')


def _page(title: str, body: str, agent: dict, status: int = 200, data: dict | None = None) -> web.Response:
    attrs = "".join(f' data-{k}="{h(v)}"' for k, v in (data or {}).items())
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{h(title)} · agent console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/agent/static/console.css"></head><body{attrs}>
<header><a href="/agent" class="home">Agent console</a><span class="who">{h(agent["name"])}</span>
<form method="post" action="/agent/logout">{_csrf(agent)}<button class="link">Log out</button></form></header>
<main>{body}</main><script src="/agent/static/console.js"></script></body></html>"""
    return web.Response(text=page, content_type="text/html", status=status, headers=HEADERS)


def _csrf(agent: dict) -> str:
    return f'<input type="hidden" name="csrf" value="{h(agent["csrf"])}">'


class Console:
    def __init__(self, core) -> None:  # noqa: ANN001 - bot.app.App
        self.core = core
        self.desk = WebDesk()
        self.assets = {name: STATIC.joinpath(name).read_text(encoding="utf-8") for name in ASSETS}

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.assets:
            raise web.HTTPNotFound()
        return web.Response(text=self.assets[name], content_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    # --- the queue --------------------------------------------------------------------------
    async def queue_rows(self) -> list[dict]:
        return [{"id": v.id, "url": f"/agent/escalations/{v.id}", "customer": v.customer, "channel": v.channel,
                 "reason_kind": v.reason_kind, "reason": v.reason if len(v.reason) <= 200 else v.reason[:199] + "…",
                 "status": v.status, "owner": v.agent_name, "status_label": _status(v.status, v.agent_name),
                 "age": _age(v.created_at), "created_at": _utc(v.created_at).isoformat(), "review": bool(v.draft)}
                for v in await self.core.handoff.queue()]

    async def queue_page(self, request: web.Request) -> web.Response:
        rows = "".join(_queue_row(r) for r in await self.queue_rows()) or EMPTY_ROW
        body = f"""<h1>Escalations <small id="live" class="muted"></small></h1>
<p class="muted">Open and claimed, oldest first. Open one to see the conversation.</p>
<table class="queue"><thead><tr><th>#</th><th>Customer</th><th>Channel</th><th>Reason</th><th>Status</th>
<th>Waiting</th></tr></thead><tbody id="queue-rows">{rows}</tbody></table>"""
        return _page("Escalations", body, request[AGENT], data={"page": "queue"})

    async def queue_json(self, request: web.Request) -> web.Response:
        return web.json_response(await self.queue_rows(), headers={"Cache-Control": "no-store"})

    async def queue_events(self, request: web.Request) -> web.StreamResponse:
        resp = await _sse(request)
        queue = self.desk.listen(None)
        try:
            while True:  # the whole queue on every wake-up and tick (it is short; the ages move on)
                await resp.write(f"event: queue\ndata: {json.dumps(await self.queue_rows())}\n\n".encode())
                if await _next(queue) is None:
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.desk.forget(None, queue)
        return resp

    # --- one escalation ---------------------------------------------------------------------
    async def _view(self, escalation_id: int) -> EscalationView:
        try:
            return await self.core.handoff.view(escalation_id)
        except HandoffError:
            raise web.HTTPNotFound(text=f"no escalation #{escalation_id}") from None

    async def conversation_page(self, request: web.Request, error: str | None = None,
                                status: int = 200) -> web.Response:
        v = await self._view(_id(request))
        agent = request[AGENT]
        async with self.core.sessions() as s:
            esc = await s.get(m.Escalation, v.id)
            msgs = await _messages(s, v.conversation_id)
            ids = [x["id"] for x in msgs if x["author"] == "customer"]
            labels = {c.message_id: c for c in (await s.scalars(
                select(m.Classification).where(m.Classification.message_id.in_(ids)).order_by(m.Classification.id)))}
            decision = await s.scalar(select(m.RouteDecision).where(m.RouteDecision.message_id == esc.message_id)
                                      .order_by(m.RouteDecision.id.desc()).limit(1)) if esc.message_id else None
        mine = v.status == "claimed" and v.agent_id == agent["id"]
        log = "".join(_msg_html(x, f' · {h(labels[x["id"]].intent)} {labels[x["id"]].confidence:.2f}'
                                   if x["id"] in labels else "") for x in msgs)
        guess = labels.get(esc.message_id)
        body = f"""{f'<p class="error" role="alert">{h(error)}</p>' if error else ""}
<h1>Escalation #{h(v.id)}: {h(v.customer)} <small class="muted">on {h(v.channel)}</small>
<span id="status" class="badge">{h(_status(v.status, v.agent_name))}</span></h1>
<p id="notice" class="notice" hidden>This escalation changed. <a href="/agent/escalations/{h(v.id)}">Reload</a></p>
<div class="columns"><section class="conversation"><div id="log" aria-live="polite">{log}</div>
{self._reply_form(v, agent) if mine else ""}</section>
<aside>{self._actions(v, mine, agent)}{self._why(v, guess, decision)}
{self._review(v, esc, mine, agent, guess)}</aside></div>"""
        return _page(f"Escalation #{v.id}", body, agent, status, data={
            "page": "escalation", "escalation": v.id, "after": msgs[-1]["id"] if msgs else 0,
            "status": _status(v.status, v.agent_name)})

    def _actions(self, v: EscalationView, mine: bool, agent: dict) -> str:
        def button(action: str, label: str, css: str = "") -> str:
            return (f'<form method="post" action="/agent/escalations/{h(v.id)}/{action}" class="inline">'
                    f'{_csrf(agent)}<button class="{css}">{label}</button></form>')

        if v.status == "open":
            inner = button("take", "Take")
        elif mine:
            inner = button("resolve", "Resolve") + button("return", "Return to bot", "secondary")
        elif v.status == "claimed":
            inner = f'<span class="muted">Held by {h(v.agent_name)}.</span>'
        else:
            inner = f'<span class="muted">This escalation is {h(v.status)}.</span>'
        return f'<section class="card actions">{inner}</section>'

    def _why(self, v: EscalationView, guess: m.Classification | None, decision: m.RouteDecision | None) -> str:
        rows = [("Reason", f"<b>{h(v.reason_kind)}</b>: {h(v.reason)}"), ("Summary", h(v.summary or "—")),
                ("Waiting", f"since {h(_at(v.created_at))} ({h(_age(v.created_at))})")]
        if guess is not None:
            top = ", ".join(f"{h(i)} {float(p):.2f}" for i, p in (guess.top or [])[:3])
            rows.append(("Classifier", f"{h(guess.intent)} {guess.confidence:.2f} ({h(guess.stage)}"
                                       f"{', ' + h(guess.model_version) if guess.model_version else ''}); top: {top}"))
        if decision is not None:
            rows.append(("Route", f"{h(decision.route)} by rule {h(decision.rule)}: {h(decision.reason)}"))
        items = "".join(f"<dt>{k}</dt><dd>{val}</dd>" for k, val in rows)
        return f'<section class="card"><h2>Why it is here</h2><dl>{items}</dl></section>'

    def _review(self, v: EscalationView, esc: m.Escalation, mine: bool, agent: dict,
                guess: m.Classification | None) -> str:
        if not v.draft:
            return ""
        if esc.review_outcome:
            sent = f"<pre>{h(esc.final_text)}</pre>" if esc.final_text else "<p>Nothing was sent.</p>"
            label = f" (intent: {h(esc.agent_intent)})" if esc.agent_intent else ""
            return (f'<section class="card review"><h2>Draft review</h2><p>Outcome: <b id="review-outcome">'
                    f'{h(esc.review_outcome)}</b>{label}</p>{sent}</section>')
        suggested = guess.intent if guess is not None else None
        options = "".join(f'<option value="{h(n)}"{" selected" if n == suggested else ""}>{h(n)}</option>'
                          for n in self.core.settings.intents)
        off = "" if mine else " disabled"
        note = "" if mine else '<p class="muted">Take the escalation to review its draft.</p>'
        return f"""<section class="card review" id="review"><h2>Draft held for review</h2>{note}
<form method="post" action="/agent/escalations/{h(v.id)}/review">{_csrf(agent)}
<label>Draft (edit it, then "Send edited")<textarea name="text" rows="5">{h(v.draft)}</textarea></label>
<label>Intent of the customer's message<select name="intent"><option value="">(don't label)</option>{options}</select>
</label><div class="buttons"><button name="outcome" value="approved"{off}>Approve draft</button>
<button name="outcome" value="edited"{off}>Send edited</button>
<button name="outcome" value="rejected" class="danger"{off}>Reject</button></div>
<p class="muted">After a reject, write your own reply.</p></form></section>"""

    def _reply_form(self, v: EscalationView, agent: dict) -> str:
        canned = "".join(f'<option value="{h(title)}" data-text="{h(text)}">{h(title)}</option>'
                         for title, text in self.core.settings.handoff.canned_replies.items())
        picker = (f'<select id="canned" name="canned" aria-label="Canned reply"><option value="">Canned replies…'
                  f'</option>{canned}</select>') if canned else ""
        return f"""<form method="post" action="/agent/escalations/{h(v.id)}/reply" class="reply">{_csrf(agent)}{picker}
<textarea id="reply-text" name="text" rows="3" placeholder="Write to the customer…" aria-label="Reply"></textarea>
<button id="send">Send</button></form>"""

    async def conversation_events(self, request: web.Request) -> web.StreamResponse:
        v = await self._view(_id(request))
        try:
            after = max(int(request.query.get("after", "0")), int(request.headers.get("Last-Event-ID", "0")))
            after = min(after, MAX_ID)
        except ValueError:
            raise web.HTTPBadRequest(text="after: a message id") from None
        resp = await _sse(request)
        queue = self.desk.listen(v.conversation_id)  # listening before reading: nothing falls in between
        shown = None
        try:
            while True:
                async with self.core.sessions() as s:
                    while batch := await _messages(s, v.conversation_id, after, BATCH):
                        for x in batch:
                            await resp.write(f"id: {x['id']}\nevent: msg\ndata: {json.dumps(x)}\n\n".encode())
                        after = batch[-1]["id"]
                now = await self.core.handoff.view(v.id)
                if _status(now.status, now.agent_name) != shown:
                    shown = _status(now.status, now.agent_name)
                    await resp.write(f"event: status\ndata: {json.dumps({'status': shown})}\n\n".encode())
                item = await _next(queue)
                if item is None:
                    break
                if item == "tick":
                    await resp.write(b": keep-alive\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.desk.forget(v.conversation_id, queue)
        return resp

    # --- actions ----------------------------------------------------------------------------
    async def act(self, request: web.Request) -> web.Response:
        escalation_id, action = _id(request), request.match_info["action"]
        agent_id, form, handoff = request[AGENT]["id"], await read_form(request), self.core.handoff
        try:
            if action == "take":
                claim = await handoff.claim(escalation_id, agent_id)
                if not claim.won:
                    raise HandoffError(f"escalation #{escalation_id} is held by {claim.owner} already")
            elif action == "reply":
                text = _field(form, "text")
                if not text.strip():  # without JS the canned picker still works: its text is sent
                    text = self.core.settings.handoff.canned_replies.get(_field(form, "canned"), "")
                await handoff.agent_reply(escalation_id, agent_id, text)
            elif action == "resolve":
                await handoff.resolve(escalation_id, agent_id)
            elif action == "return":
                await handoff.return_to_bot(escalation_id, agent_id)
            else:
                await self._do_review(escalation_id, agent_id, form)
        except HandoffError as err:
            return await self.conversation_page(request, error=str(err), status=409)
        raise web.HTTPSeeOther(f"/agent/escalations/{escalation_id}")

    async def _do_review(self, escalation_id: int, agent_id: int, form) -> None:  # noqa: ANN001
        async with self.core.sessions() as s:
            done = await s.scalar(select(m.Escalation.review_outcome).where(m.Escalation.id == escalation_id))
        if done:
            raise HandoffError(f"the draft of escalation #{escalation_id} was {done} already")
        await self.core.handoff.review(escalation_id, agent_id, _field(form, "outcome"),
                                       _field(form, "text") or None, _field(form, "intent") or None)


def mount(app: web.Application) -> None:
    """Add the console's routes and register its desk on the service's Handoff."""
    from bot.web.server import SERVICE  # here, not at the top: server.py imports this module

    console = Console(app[SERVICE].app)
    app[CONSOLE] = console
    console.core.handoff.add_desk(console.desk)
    app.on_shutdown.append(console.desk.close)
    add_get, add_post = app.router.add_get, app.router.add_post
    add_get("/agent", require_agent(console.queue_page))
    add_get("/agent/queue.json", require_agent(console.queue_json))
    add_get("/agent/events", require_agent(console.queue_events))
    add_get("/agent/static/{name}", require_agent(console.asset))
    add_get(r"/agent/escalations/{id:\d+}", require_agent(console.conversation_page))
    add_get(r"/agent/escalations/{id:\d+}/events", require_agent(console.conversation_events))
    add_post(r"/agent/escalations/{id:\d+}/{action:take|reply|resolve|return|review}", require_agent(console.act))
