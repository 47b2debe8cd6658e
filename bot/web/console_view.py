"""What the console's pages share: the page response with its headers, times as agents read them, a
conversation's history (messages and agents' notes, masked for agents), canned replies filled in.

bot/web/console.py (the queue, a conversation, the actions), bot/web/console_search.py (filters and
search) and bot/web/console_customer.py (who is waiting) render through these.
"""

from __future__ import annotations

import heapq
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import models as m
from bot.handoff.escalations import EscalationView
from bot.handoff.notes import Note
from bot.messages import utcnow
from bot.pipeline.guardrails import mask_for_agents
from bot.pipeline.respond import display_name
from bot.pipeline.respond import render as fill_placeholders
from bot.settings import Settings
from bot.web.auth import Agent
from bot.web.render import render

HEADERS = {"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                      "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
           "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}
Mask = Callable[[str], str]
# the largest id a page or query may name: ids are INTEGER columns, and on PostgreSQL asyncpg refuses a larger
# parameter (a database error, so a 500, for /agent/escalations/3000000000 before)
MAX_ID = 2**31 - 1


def utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)  # SQLite hands back naive UTC


def at(dt: datetime) -> str:
    return f"{utc(dt):%Y-%m-%d %H:%M:%S} UTC"


def age(dt: datetime) -> str:
    s = max(0, int((utcnow() - utc(dt)).total_seconds()))
    return f"{s}s" if s < 60 else f"{s // 60}m" if s < 3600 else f"{s // 3600}h {s % 3600 // 60}m"


def status_text(status: str, owner: str | None) -> str:
    return f"claimed by {owner}" if status == "claimed" else status


def safe_next(value: object) -> str:
    """Where a form sends the agent back: a console path of this site, else the queue."""
    if (isinstance(value, str) and value.startswith("/agent") and len(value) <= 500 and "//" not in value
            and "\\" not in value and value.isprintable()):
        return value
    return "/agent"


def shown(text: str) -> str:
    return text


def agents_mask(settings: Settings) -> Mask:
    """What agents see of customer text: IBANs and passwords masked, unless the setting says otherwise."""
    return shown if settings.handoff.show_payment_details_to_agents else mask_for_agents


def fill_canned(text: str, v: EscalationView, agent_name: str, settings: Settings) -> str:
    """A canned reply's placeholders, filled as the bot's canned answers are (bot/pipeline/respond.py render):
    the company variables, {customer_name} ("there" when the channel gave no name a person would use) and
    {agent_name}; an unknown one is left as written."""
    values = {**settings.company_vars(), "customer_name": display_name(v.customer_name) or "there",
              "agent_name": agent_name}
    try:
        return fill_placeholders(text, values)
    except (ValueError, IndexError):  # a stray brace (canned replies are not checked at load): as written
        return text


async def messages(s: AsyncSession, conversation_id: int, mask: Mask, after: int = 0,
                   limit: int | None = None) -> list[dict[str, Any]]:
    query = (select(m.Message.id, m.Message.author, m.Message.text, m.Message.created_at, m.Agent.name)
             .outerjoin(m.Agent, m.Agent.id == m.Message.agent_id)
             .where(m.Message.conversation_id == conversation_id, m.Message.id > after).order_by(m.Message.id))
    rows = (await s.execute(query.limit(limit) if limit else query)).all()
    return [{"id": i, "author": a if a in ("customer", "bot", "agent", "system") else "system",
             "who": f"agent {name}" if a == "agent" and name else a, "text": mask(t), "at": at(when)}
            for i, a, t, when, name in rows]


def note_row(note: Note, mask: Mask) -> dict[str, Any]:
    """A note as the history shows it (author "note": its own style, never a message of the customer's)."""
    where = " in Slack" if note.source == "slack" else ""
    return {"note": note.id, "author": "note", "who": f"note by {note.agent_name}{where} · agents only",
            "text": mask(note.text), "at": at(note.created_at), "label": ""}


def history(msgs: list[dict[str, Any]], notes: Iterable[Note], mask: Mask) -> list[dict[str, Any]]:
    """Messages and notes in the order they were written (a note and a message of the same second: the
    message first)."""
    return list(heapq.merge(msgs, [note_row(n, mask) for n in notes], key=lambda x: str(x["at"])))


def page(template: str, agent: Agent, status: int = 200, data: dict[str, Any] | None = None,
         **context: Any) -> web.Response:
    text = render(template, agent=agent, data=data or {}, **context)
    return web.Response(text=text, content_type="text/html", status=status, headers=HEADERS)
