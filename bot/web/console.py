"""The agent console: the escalation queue, one conversation with its full history, the actions.

Pages are rendered on the server from Jinja2 templates with autoescape (bot/web/templates/console/:
customer text is hostile input); bot/web/static/console.js adds live updates, no CDN and no build
step, and sets text only as text. A strict Content-Security-Policy allows no inline script, as a
second line of defence. Customer text is shown with IBANs and passwords masked (cards are masked
before they are stored), in the pages, the queue JSON and the event streams alike, unless
handoff.show_payment_details_to_agents is set.

Live updates: WebDesk is an AgentDesk on the service's Handoff. When an escalation is announced
or changes, or its customer writes, it wakes the open event streams; each stream then reads what
is new from SQL (messages after the last id it sent), so a stream that reconnects (Last-Event-ID)
misses nothing, and every KEEPALIVE seconds it looks again in case another process wrote.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from importlib.resources import files
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import models as m
from bot.db.models import DeskRef
from bot.handoff import approvals, notes, triage
from bot.handoff.escalations import EscalationView, Handoff, HandoffError
from bot.messages import EscalationKind, utcnow
from bot.settings import Settings
from bot.web.auth import AGENT, Agent, Form, read_form, require_agent
from bot.web.keys import SERVICE
from bot.web.console_assign import Assignment, parse_to
from bot.web.console_customer import customer_history
from bot.web.console_search import Filters, Search, filter_options, filters
from bot.web.console_view import MAX_ID, Mask, agents_mask, fill_canned, history, note_row, page, status_text
from bot.web.console_view import age as _age
from bot.web.console_view import at as _at
from bot.web.console_view import messages as _messages
from bot.web.console_view import utc as _utc

STATIC = files("bot.web").joinpath("static")
ASSETS = {"console.css": "text/css", "console.js": "text/javascript"}
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
KEEPALIVE = 10.0  # seconds; each tick also re-reads SQL (another process may have written)
BATCH = 200


class Core(Protocol):
    """What the console reads of bot.app.App (a root: the web layer may not import it)."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    handoff: Handoff


def _id(request: web.Request) -> int:
    value = int(request.match_info["id"])
    if value > MAX_ID:
        raise web.HTTPNotFound(text="no such escalation")
    return value


def _field(form: Form, name: str) -> str:  # uploads are not text
    value = form.get(name)
    return value if isinstance(value, str) else ""


class WebDesk:
    """The console as an AgentDesk: wakes the open event streams, which read what changed from SQL."""

    name = "web"

    def __init__(self) -> None:
        self.streams: dict[int | None, set[asyncio.Queue[str | None]]] = defaultdict(set)  # conversation id; None: queue page

    def listen(self, key: int | None) -> asyncio.Queue[str | None]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.streams[key].add(queue)
        return queue

    def forget(self, key: int | None, queue: asyncio.Queue[str | None]) -> None:
        self.streams[key].discard(queue)
        if not self.streams[key]:
            del self.streams[key]

    def _wake(self, conversation_id: int, event: str) -> None:
        for queue in [*self.streams.get(conversation_id, ()), *self.streams.get(None, ())]:
            queue.put_nowait(event)

    async def announce(self, esc: EscalationView, again: bool) -> DeskRef | None:
        self._wake(esc.conversation_id, "announced")
        return None

    def listening(self, conversation_id: int) -> bool:
        """An open page of this conversation or the queue, in this process."""
        return conversation_id in self.streams or None in self.streams

    async def customer_said(self, esc: EscalationView, text: str) -> None:
        self._wake(esc.conversation_id, "customer_said")

    async def changed(self, esc: EscalationView, event: str, by: str | None = None) -> None:
        self._wake(esc.conversation_id, event)

    async def noted(self, esc: EscalationView, note: notes.Note) -> None:  # a NoteDesk (bot/handoff/notes.py)
        self._wake(esc.conversation_id, "noted")

    async def close(self, _app: web.Application | None = None) -> None:
        for queues in self.streams.values():
            for queue in queues:
                queue.put_nowait(None)  # ends the event streams


async def _next(queue: asyncio.Queue[str | None]) -> str | None:
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


class Console:
    def __init__(self, core: Core) -> None:
        self.core = core
        self.desk = WebDesk()
        self.assignment = Assignment(core.handoff)  # available / away, the hand-over (bot/web/console_assign.py)
        self.assets = {name: STATIC.joinpath(name).read_text(encoding="utf-8") for name in ASSETS}

    @property
    def mask(self) -> Mask:
        """What agents see of customer text: IBANs and passwords masked, unless the setting says otherwise."""
        return agents_mask(self.core.settings)

    async def asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.assets:
            raise web.HTTPNotFound()
        return web.Response(text=self.assets[name], content_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    # --- the queue --------------------------------------------------------------------------
    async def queue_rows(self, chosen: Filters = Filters(), agent_id: int | None = None,
                         views: list[EscalationView] | None = None) -> list[dict[str, Any]]:
        """What matters first (bot/handoff/triage.py): by priority, then the longest wait; an untaken
        escalation's SLA clock; the reason in one sentence, the technical one beside it. Only the rows
        the filters keep (bot/web/console_search.py; "mine": taken by agent_id)."""
        now, sla = utcnow(), self.core.settings.handoff.sla_seconds
        rows = []
        views = await self.core.handoff.queue() if views is None else views
        for v in sorted(views, key=lambda v: (triage.priority(v.reason_kind), v.id)):
            if not chosen.keep(v, agent_id):
                continue
            clock = triage.sla_clock(v.created_at, now, sla) if v.status == "open" else None
            rank = triage.priority(v.reason_kind)
            label = status_text(v.status, v.agent_name) + (" (assigned)" if v.assigned_by == "auto" else
                                                           " (handed over)" if v.assigned_by == "transfer" else "")
            rows.append({"id": v.id, "url": f"/agent/escalations/{v.id}", "customer": v.customer, "channel": v.channel,
                         "language": v.language or "",
                         "reason_kind": v.reason_kind, "reason": self._cut(self.mask(v.reason)),
                         "headline": triage.headline(v.reason_kind, self.mask(v.reason)), "priority": rank,
                         "priority_label": triage.PRIORITY_LABEL[rank], "status": v.status, "owner": v.agent_name,
                         "status_label": label + (f" · team {v.team}" if v.team else ""), "team": v.team or "",
                         "age": _age(v.created_at),
                         "created_at": _utc(v.created_at).isoformat(), "review": bool(v.draft),
                         "sla": triage.clock_text(clock) if clock else "", "overdue": bool(clock and clock.overdue)})
        return rows

    @staticmethod
    def _cut(reason: str) -> str:
        return reason if len(reason) <= 200 else reason[:199] + "…"

    async def queue_page(self, request: web.Request) -> web.Response:
        chosen, views = filters(request.query, self.core.settings), await self.core.handoff.queue()
        empty = "Nothing matches these filters." if chosen else "Nothing waiting."
        return page("console/queue.html", request[AGENT], data={"page": "queue", "filters": chosen.query,
                                                                 "empty": empty},
                    title="Escalations", rows=await self.queue_rows(chosen, request[AGENT]["id"], views), empty=empty,
                    options=filter_options(views, chosen, self.core.settings),
                    me=await self.assignment.header(request[AGENT], request.path_qs))

    async def queue_json(self, request: web.Request) -> web.Response:
        rows = await self.queue_rows(filters(request.query, self.core.settings), request[AGENT]["id"])
        return web.json_response(rows, headers={"Cache-Control": "no-store"})

    async def queue_events(self, request: web.Request) -> web.StreamResponse:
        chosen, agent_id = filters(request.query, self.core.settings), request[AGENT]["id"]  # a bad filter: 400 before the stream
        resp = await _sse(request)
        queue = self.desk.listen(None)
        try:
            while True:  # the whole queue on every wake-up and tick (it is short; the ages move on)
                rows = await self.queue_rows(chosen, agent_id)
                await resp.write(f"event: queue\ndata: {json.dumps(rows)}\n\n".encode())
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
        said = await notes.notes_for(self.core.sessions, v.conversation_id)
        async with self.core.sessions() as s:
            esc = await s.get(m.Escalation, v.id)
            assert esc is not None, f"escalation #{v.id}"  # _view just read it, and escalations are never deleted
            msgs = await _messages(s, v.conversation_id, self.mask)
            ids = [x["id"] for x in msgs if x["author"] == "customer"]
            labels = {c.message_id: c for c in (await s.scalars(
                select(m.Classification).where(m.Classification.message_id.in_(ids)).order_by(m.Classification.id)))}
            decision = await s.scalar(select(m.RouteDecision).where(m.RouteDecision.message_id == esc.message_id)
                                      .order_by(m.RouteDecision.id.desc()).limit(1)) if esc.message_id else None
            who = await customer_history(s, v, self.mask)
        mine = v.status == "claimed" and v.agent_id == agent["id"]
        for x in msgs:
            c = labels.get(x["id"])
            x["label"] = f"{c.intent} {c.confidence:.2f}" if c is not None else ""
        guess = labels.get(esc.message_id) if esc.message_id is not None else None
        top = ", ".join(f"{i} {float(p):.2f}" for i, p in (guess.top or [])[:3]) if guess is not None else ""
        status_label = status_text(v.status, v.agent_name)
        data = {"page": "escalation", "escalation": v.id, "after": msgs[-1]["id"] if msgs else 0,
                "notes": said[-1].id if said else 0, "status": status_label}
        return page("console/conversation.html", agent, status, data, title=f"Escalation #{v.id}", error=error,
                    v=v, status_label=status_label, msgs=history(msgs, said, self.mask), note_max=notes.MAX_NOTE,
                    mine=mine, reason=self.mask(v.reason), summary=self.mask(v.summary or ""), since=_at(v.created_at),
                    age=_age(v.created_at), guess=guess, top=top, decision=decision, review=self._review(v, esc, guess),
                    intents=list(self.core.settings.intents), headline=triage.headline(v.reason_kind, self.mask(v.reason)),
                    canned=self._canned(v, agent), approval=self._approval(v, esc), who=who,
                    me=await self.assignment.header(agent, f"/agent/escalations/{v.id}"),
                    transfer=await self.assignment.transfer_options(v, agent))

    def _canned(self, v: EscalationView, agent: Agent) -> list[tuple[str, str]]:
        """handoff.canned_replies, their placeholders filled for this conversation."""
        return [(title, fill_canned(text, v, agent["name"], self.core.settings))
                for title, text in self.core.settings.handoff.canned_replies.items()]

    def _approval(self, v: EscalationView, esc: m.Escalation) -> dict[str, Any] | None:
        """A write over its limit waiting for Approve / Deny (bot/handoff/approvals.py), or how it was decided."""
        if v.reason_kind != EscalationKind.APPROVAL:
            return None
        return {"what": v.reason.partition(": ")[2] or v.reason, "outcome": esc.review_outcome,
                "told": self.mask(esc.final_text or ""), "open": v.status in ("open", "claimed") and not esc.review_outcome}

    def _review(self, v: EscalationView, esc: m.Escalation, guess: m.Classification | None) -> dict[str, Any] | None:
        """The draft held for review (masked like customer text: a draft may quote the customer), if any."""
        if not v.draft:
            return None
        return {"outcome": esc.review_outcome, "intent": esc.agent_intent,
                "final_text": self.mask(esc.final_text) if esc.final_text else "", "draft": self.mask(v.draft),
                "suggested": guess.intent if guess is not None else None}

    async def conversation_events(self, request: web.Request) -> web.StreamResponse:
        v = await self._view(_id(request))
        try:
            after = max(int(request.query.get("after", "0")), int(request.headers.get("Last-Event-ID", "0")))
            after, noted = (min(max(n, 0), MAX_ID) for n in (after, int(request.query.get("notes", "0"))))
        except ValueError:
            raise web.HTTPBadRequest(text="after, notes: a message id, a note id") from None
        resp = await _sse(request)
        queue = self.desk.listen(v.conversation_id)  # listening before reading: nothing falls in between
        shown = None
        try:
            while True:
                async with self.core.sessions() as s:
                    while batch := await _messages(s, v.conversation_id, self.mask, after, BATCH):
                        for x in batch:
                            await resp.write(f"id: {x['id']}\nevent: msg\ndata: {json.dumps(x)}\n\n".encode())
                        after = batch[-1]["id"]
                for note in await notes.notes_for(self.core.sessions, v.conversation_id, noted):  # no id: Last-Event-ID
                    await resp.write(f"event: note\ndata: {json.dumps(note_row(note, self.mask))}\n\n".encode())
                    noted = note.id  # counts messages only
                now = await self.core.handoff.view(v.id)
                if status_text(now.status, now.agent_name) != shown:
                    shown = status_text(now.status, now.agent_name)
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
                    chosen = self.core.settings.handoff.canned_replies.get(_field(form, "canned"), "")
                    text = fill_canned(chosen, await handoff.view(escalation_id), request[AGENT]["name"],
                                       self.core.settings)
                await handoff.agent_reply(escalation_id, agent_id, text)
            elif action == "transfer":  # to a colleague or a team (bot/handoff/assign.py)
                to_agent, to_team = parse_to(form.get("to"))
                await self.assignment.assigner.transfer(escalation_id, agent_id, to_agent, to_team)
            elif action == "note":  # any agent, whoever holds it: agents only, never the customer
                await notes.add_note(handoff, escalation_id, agent_id, _field(form, "note"))
            elif action == "resolve":
                await handoff.resolve(escalation_id, agent_id)
            elif action == "return":
                await handoff.return_to_bot(escalation_id, agent_id)
            elif action in ("approve", "deny"):
                await approvals.decide(handoff, escalation_id, agent_id, action == "approve",
                                       _field(form, "note")[:500] or None)
            else:
                await self._do_review(escalation_id, agent_id, form)
        except HandoffError as err:
            return await self.conversation_page(request, error=str(err), status=409)
        raise web.HTTPSeeOther(f"/agent/escalations/{escalation_id}")

    async def _do_review(self, escalation_id: int, agent_id: int, form: Form) -> None:
        async with self.core.sessions() as s:
            done = await s.scalar(select(m.Escalation.review_outcome).where(m.Escalation.id == escalation_id))
        if done:
            raise HandoffError(f"the draft of escalation #{escalation_id} was {done} already")
        await self.core.handoff.review(escalation_id, agent_id, _field(form, "outcome"),
                                       _field(form, "text") or None, _field(form, "intent") or None)


CONSOLE = web.AppKey("console", Console)


def mount(app: web.Application) -> None:
    """Add the console's routes and register its desk on the service's Handoff."""
    console = Console(app[SERVICE].app)
    app[CONSOLE] = console
    console.core.handoff.add_desk(console.desk)
    app.on_shutdown.append(console.desk.close)
    add_get, add_post = app.router.add_get, app.router.add_post
    add_get("/agent", require_agent(console.queue_page))
    add_get("/agent/queue.json", require_agent(console.queue_json))
    add_get("/agent/events", require_agent(console.queue_events))
    add_get("/agent/search", require_agent(Search(console.core.sessions, console.core.settings).page))
    add_get("/agent/static/{name}", require_agent(console.asset))
    add_get(r"/agent/escalations/{id:\d+}", require_agent(console.conversation_page))
    add_get(r"/agent/escalations/{id:\d+}/events", require_agent(console.conversation_events))
    add_post("/agent/availability", require_agent(console.assignment.availability))
    add_post(r"/agent/escalations/{id:\d+}/{action:take|reply|note|transfer|resolve|return|review|approve|deny}",
             require_agent(console.act))
