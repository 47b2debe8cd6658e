"""The console queue's filters (channel, reason kind, team, mine / unassigned) and the search over conversations
(customer name, message text, an order number as written, an escalation number) at /agent/search.

Both are bounded: a filter value outside its list, a query shorter than MIN_QUERY or longer than
MAX_QUERY characters or holding control characters is a 400 page, never a 500 (PostgreSQL refuses a NUL
in a string); at most RESULTS conversations are listed. A hit is shown as agents see text elsewhere
(mask_for_agents): a message that matched only in a masked part (an IBAN, a password) is not listed, so
the search cannot confirm a password nobody may read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import models as m
from bot.handoff import triage
from bot.handoff.escalations import EscalationView, customer_label
from bot.messages import EscalationKind
from bot.settings import Settings
from bot.web.auth import AGENT
from bot.web.console_view import MAX_ID, agents_mask, at, page, status_text

CHANNELS = ("web", "telegram", "slack", "console")  # offered in the filter, with any others in the queue
KINDS = tuple(k.value for k in EscalationKind)
WHO = {"mine": "Mine (taken by me)", "unassigned": "Unassigned (nobody took it)"}
MIN_QUERY, MAX_QUERY, RESULTS = 2, 100, 50
_CHANNEL = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCALATION_NO = re.compile(r"#?(\d{1,12})")


@dataclass(frozen=True)
class Filters:
    channel: str = ""
    kind: str = ""
    who: str = ""  # mine | unassigned | "" (everyone)
    team: str = ""  # a handoff.teams name: routed or handed to that team

    def keep(self, v: EscalationView, agent_id: int | None) -> bool:
        if self.channel and v.channel != self.channel or self.kind and v.reason_kind != self.kind:
            return False
        if self.team and v.team != self.team:
            return False
        if self.who == "mine":
            return v.status == "claimed" and v.agent_id == agent_id
        return self.who != "unassigned" or v.status == "open"

    @property
    def query(self) -> str:
        """The filters as a query string ("" when none), for links and the live update."""
        chosen = {k: v for k, v in (("channel", self.channel), ("kind", self.kind), ("team", self.team),
                                    ("who", self.who)) if v}
        return urlencode(chosen)

    def __bool__(self) -> bool:
        return bool(self.channel or self.kind or self.who or self.team)


def filters(query: Mapping[str, str], settings: Settings | None = None) -> Filters:
    """The queue's filters from /agent?channel=&kind=&team=&who=; a value outside its list (a team not in
    handoff.teams) is a 400."""
    channel, kind, who, team = (query.get(k, "").strip() for k in ("channel", "kind", "who", "team"))
    teams = list(settings.handoff.teams) if settings is not None else []
    if team and team not in teams:
        raise web.HTTPBadRequest(text=f"team: one of {', '.join(teams)}" if teams else "team: no teams are configured")
    if channel and not _CHANNEL.fullmatch(channel):
        raise web.HTTPBadRequest(text="channel: a channel name (lower case letters, digits, - and _)")
    if kind and kind not in KINDS:
        raise web.HTTPBadRequest(text=f"kind: one of {', '.join(KINDS)}")
    if who and who not in WHO:
        raise web.HTTPBadRequest(text=f"who: one of {', '.join(WHO)}")
    return Filters(channel, kind, who, team)


def filter_options(views: list[EscalationView], chosen: Filters, settings: Settings | None = None) -> dict[str, Any]:
    """What the queue's filter form offers: the usual channels and any other in the queue, every kind, the teams."""
    channels = sorted({*CHANNELS, *(v.channel for v in views), *([chosen.channel] if chosen.channel else [])})
    teams = list(settings.handoff.teams) if settings is not None else []
    return {"channels": channels, "kinds": KINDS, "who": WHO, "teams": teams, "chosen": chosen}


def _like(text: str) -> str:
    """A LIKE pattern matching `text` anywhere, its own % _ and \\ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _snippet(text: str, q: str) -> str | None:
    """Some words around the first match in `text` (as agents see it); None when it is not there."""
    i = text.lower().find(q.lower())
    if i < 0:
        return None
    start, end = max(0, i - 60), min(len(text), i + len(q) + 100)
    return ("…" if start else "") + text[start:end] + ("…" if end < len(text) else "")


def _base() -> Select[*tuple[Any, ...]]:
    """Conversations with an escalation, with their latest one and who the customer is."""
    E = m.Escalation
    latest = select(E.conversation_id, func.max(E.id).label("escalation_id")).group_by(E.conversation_id).subquery()
    return (select(m.Conversation.id, m.Conversation.channel, m.Customer.display_name, m.Customer.external_id,
                   m.Customer.last_name, m.Customer.username,
                   E.id.label("escalation_id"), E.status, E.reason_kind, E.reason, E.created_at, m.Agent.name)
            .join(latest, latest.c.conversation_id == m.Conversation.id)
            .join(E, E.id == latest.c.escalation_id)
            .join(m.Customer, m.Customer.id == m.Conversation.customer_id)
            .outerjoin(m.Agent, m.Agent.id == E.agent_id))


class Search:
    """GET /agent/search?q=: the conversations whose customer, messages or escalation number match."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessions, self.settings = sessions, settings

    @staticmethod
    def query(request: web.Request) -> str:
        q = request.query.get("q", "").strip()
        if _CONTROL.search(q):
            raise web.HTTPBadRequest(text="q: text without control characters")
        if len(q) > MAX_QUERY:
            raise web.HTTPBadRequest(text=f"q: at most {MAX_QUERY} characters")
        if q and len(q) < MIN_QUERY:
            raise web.HTTPBadRequest(text=f"q: at least {MIN_QUERY} characters")
        return q

    async def results(self, q: str) -> tuple[list[dict[str, Any]], bool]:
        """Up to RESULTS conversations, newest escalation first, and whether there were more."""
        mask, pattern = agents_mask(self.settings), _like(q)
        found: dict[int, dict[str, Any]] = {}
        async with self.sessions() as s:
            if (number := _ESCALATION_NO.fullmatch(q)) and int(number[1]) <= MAX_ID:
                for row in (await s.execute(_base().where(m.Escalation.conversation_id.in_(
                        select(m.Escalation.conversation_id).where(m.Escalation.id == int(number[1])))))).all():
                    found[row.id] = self._row(row, "escalation number", "")
            for row in (await s.execute(_base().where(m.Customer.display_name.ilike(pattern, escape="\\"))
                                        .order_by(m.Conversation.id.desc()).limit(RESULTS + 1))).all():
                found.setdefault(row.id, self._row(row, "customer name", ""))
            hits = (_base().add_columns(m.Message.text.label("text"))
                    .join(m.Message, m.Message.conversation_id == m.Conversation.id)
                    .where(m.Message.text.ilike(pattern, escape="\\"))
                    .order_by(m.Message.id.desc()).limit(RESULTS * 4))
            for row in (await s.execute(hits)).all():
                if row.id in found:
                    continue
                snippet = _snippet(mask(row.text), q)
                if snippet is not None:  # matched only inside a masked IBAN or password: not shown
                    found[row.id] = self._row(row, "message", snippet)
        ranked = sorted(found.values(), key=lambda r: -int(r["id"]))
        return ranked[:RESULTS], len(ranked) > RESULTS

    def _row(self, row: Any, match: str, snippet: str) -> dict[str, Any]:
        reason = agents_mask(self.settings)(row.reason)
        return {"id": row.escalation_id, "url": f"/agent/escalations/{row.escalation_id}",
                "customer": customer_label(row.channel, row.display_name, row.external_id, row.last_name, row.username),
                "channel": row.channel,
                "status": status_text(row.status, row.name), "headline": triage.headline(row.reason_kind, reason),
                "since": at(row.created_at), "match": match, "snippet": snippet}

    async def page(self, request: web.Request) -> web.Response:
        try:
            q = self.query(request)
        except web.HTTPBadRequest as bad:
            return page("console/search.html", request[AGENT], 400, {"page": "search"}, title="Search",
                        q=_CONTROL.sub("", request.query.get("q", ""))[:MAX_QUERY], error=bad.text, rows=[],
                        more=False, limits=(MIN_QUERY, MAX_QUERY), limit=RESULTS)
        rows, more = await self.results(q) if q else ([], False)
        return page("console/search.html", request[AGENT], data={"page": "search"}, title="Search", q=q,
                    error=None, rows=rows, more=more, limits=(MIN_QUERY, MAX_QUERY), limit=RESULTS)
