"""What a desk shows about an escalation (EscalationView) and the prebuilt statements that read it: one
escalation, the queue, a conversation's escalation in progress; and how a customer is named to agents.

Kept apart from bot/handoff/escalations.py (the lifecycle) and bot/handoff/assign.py (who holds it); both
read escalations through here. bot/handoff/escalations.py re-exports EscalationView and customer_label.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, bindparam, select

from bot.db import models as m
from bot.db.models import DeskRefs


@dataclass(frozen=True)
class EscalationView:
    """What a desk shows about one escalation."""

    id: int
    conversation_id: int
    status: str
    reason_kind: str
    reason: str
    summary: str | None
    draft: str | None
    channel: str
    customer: str
    agent_id: int | None
    agent_name: str | None
    created_at: datetime
    claimed_at: datetime | None
    desk_refs: DeskRefs
    customer_name: str | None = None  # the name the channel gave (None: a visitor or user without one)
    language: str | None = None  # the language the customer writes in (bot/language.py), None: not told
    team: str | None = None  # the handoff.teams team it is routed or handed to
    assigned_by: str | None = None  # how its holder got it: take | auto | transfer (None: nobody holds it)


# what a desk shows, in one statement built once (it runs for every customer message relayed to agents)
E = m.Escalation
_VIEW_BASE = (select(E.id, E.conversation_id, E.status, E.reason_kind, E.reason, E.summary, E.draft, E.agent_id,
                     E.created_at, E.claimed_at, E.desk_refs, E.team, E.assigned_by, m.Conversation.channel,
                     m.Customer.display_name, m.Customer.last_name, m.Customer.username,
                     m.Customer.external_id, m.Agent.name.label("agent_name"), m.Conversation.language)
              .join(m.Conversation, m.Conversation.id == E.conversation_id)
              .join(m.Customer, m.Customer.id == m.Conversation.customer_id)
              .outerjoin(m.Agent, m.Agent.id == E.agent_id))
VIEW = _VIEW_BASE.where(E.id == bindparam("escalation_id"))
QUEUE_VIEW = _VIEW_BASE.where(E.status.in_(("open", "claimed"))).order_by(E.id)
OPEN_VIEW = (_VIEW_BASE.where(E.conversation_id == bindparam("conversation_id"), E.status.in_(("open", "claimed")))
             .order_by(E.id.desc()).limit(1))  # the conversation's escalation in progress


def full_name(display_name: str | None, last_name: str | None = None) -> str | None:
    """The first name the channel gave with the last name (Telegram gives both), None without a first name."""
    if not display_name:
        return None
    return f"{display_name} {last_name}" if last_name and not display_name.endswith(last_name) else display_name


def customer_label(channel: str, display_name: str | None, external_id: str, last_name: str | None = None,
                   username: str | None = None) -> str:
    """Who agents see: the customer's name (with the last name and @username when the channel gave them,
    "Anna Jansen (@anna_j)"), else the channel's id for them; a browser visitor has no name, and its id (a
    digest of the browser's secret, see channels/web.py) is cut to "web visitor 3f9a01"."""
    name = full_name(display_name, last_name)
    handle = f"@{username}" if username else None
    if name:
        return f"{name} ({handle})" if handle else name
    if handle:
        return handle
    return f"web visitor {external_id[:6]}" if channel == "web" else external_id


def view_of(row: Row[*tuple[object, ...]], default_language: str) -> EscalationView:  # a row of _VIEW_BASE
    """The row as a desk shows it; the customer's language only when it is not the default one (an English
    conversation of an English shop needs no tag)."""
    return EscalationView(row.id, row.conversation_id, row.status, row.reason_kind, row.reason, row.summary,
                          row.draft, row.channel,
                          customer_label(row.channel, row.display_name, row.external_id, row.last_name, row.username),
                          row.agent_id, row.agent_name, row.created_at, row.claimed_at, dict(row.desk_refs or {}),
                          row.display_name or None, row.language if row.language != default_language else None,
                          row.team, row.assigned_by)
