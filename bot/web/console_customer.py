"""Who is waiting, on the console's conversation page: the customer as the channel named them, their
earlier conversations with the escalations in each (the outcome, the agent, any CSAT rating and comment
from `feedback`), and their ratings in all.

What a channel tells is what customers.display_name holds (the Telegram first name, with last_name and
username beside it, the Slack display name) and nothing for a browser visitor (who is "web visitor 3f9a01": the secret visitor id is never stored,
and its digest is shown cut to six characters only). The platform's own id of a Telegram or Slack user
is shown as the channel gave it; it is no secret, and agents need it to find the user there. Bounded:
the last CONVERSATIONS conversations are listed, with the number of all of them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import models as m
from bot.handoff import triage
from bot.handoff.escalations import EscalationView
from bot.handoff.view import full_name
from bot.web.console_view import Mask, at

CONVERSATIONS = 20
_CUT = 160
OUTCOME = {"open": "open, nobody took it", "claimed": "taken by {agent}", "resolved": "resolved by {agent}",
           "returned": "returned to the bot by {agent}"}


def _cut(text: str) -> str:
    return text if len(text) <= _CUT else text[:_CUT - 1] + "…"


def _platform_id(channel: str, external_id: str) -> str | None:
    """The user's id on their platform, as agents would look them up there (None for a browser visitor)."""
    if channel == "telegram":
        return f"Telegram user id {external_id}"
    if channel == "slack":
        return f"Slack user {external_id.rpartition(':')[2]}"
    return None


def _outcome(status: str, agent: str | None, review: str | None) -> str:
    text = OUTCOME.get(status, status).format(agent=agent or "an agent")
    return f"{text} ({review})" if review else text


async def customer_history(s: AsyncSession, v: EscalationView, mask: Mask) -> dict[str, Any]:
    """The customer of escalation `v`: profile, their last conversations with escalations and ratings."""
    customer = await s.scalar(select(m.Customer).join(m.Conversation, m.Conversation.customer_id == m.Customer.id)
                              .where(m.Conversation.id == v.conversation_id))
    assert customer is not None, f"conversation #{v.conversation_id}"  # foreign keys
    total = await s.scalar(select(func.count()).select_from(m.Conversation)
                           .where(m.Conversation.customer_id == customer.id)) or 0
    convs = (await s.execute(select(m.Conversation.id, m.Conversation.channel, m.Conversation.status,
                                    m.Conversation.started_at, m.Conversation.last_message_at)
                             .where(m.Conversation.customer_id == customer.id)
                             .order_by(m.Conversation.id.desc()).limit(CONVERSATIONS))).all()
    ids = [c.id for c in convs]
    first = (select(func.min(m.Message.id)).where(m.Message.conversation_id.in_(ids), m.Message.author == "customer")
             .group_by(m.Message.conversation_id))
    opening = {c: t for c, t in (await s.execute(select(m.Message.conversation_id, m.Message.text)
                                                 .where(m.Message.id.in_(first)))).all()}
    counts = {c: n for c, n in (await s.execute(select(m.Message.conversation_id, func.count()).where(
        m.Message.conversation_id.in_(ids)).group_by(m.Message.conversation_id))).all()}
    E = m.Escalation
    escalations = (await s.execute(select(E.id, E.conversation_id, E.status, E.reason_kind, E.reason, E.created_at,
                                          E.review_outcome, m.Agent.name)
                                   .outerjoin(m.Agent, m.Agent.id == E.agent_id)
                                   .where(E.conversation_id.in_(ids)).order_by(E.id))).all()
    ratings = (await s.execute(select(m.Feedback.conversation_id, m.Feedback.escalation_id, m.Feedback.rating,
                                      m.Feedback.comment).where(m.Feedback.conversation_id.in_(ids))
                               .order_by(m.Feedback.id))).all()
    all_ratings = (await s.scalars(select(m.Feedback.rating).join(m.Conversation,
                                                                   m.Conversation.id == m.Feedback.conversation_id)
                                   .where(m.Conversation.customer_id == customer.id,
                                          m.Feedback.rating.is_not(None)))).all()

    def feedback(conversation_id: int, escalation_id: int | None) -> list[str]:
        """ "rated 4/5: “quick and kind”", "rated 2/5", or a comment given without a number."""
        said = []
        for r in ratings:
            if r.conversation_id == conversation_id and r.escalation_id == escalation_id:
                parts = [f"rated {r.rating}/5"] if r.rating is not None else []
                said.append(": ".join([*parts, *([f"“{_cut(mask(r.comment))}”"] if r.comment else [])]))
        return [x for x in said if x]

    rows = []
    for c in convs:
        escs = [{"id": e.id, "url": f"/agent/escalations/{e.id}", "current": e.id == v.id,
                 "headline": triage.headline(e.reason_kind, mask(e.reason)), "since": at(e.created_at),
                 "outcome": _outcome(e.status, e.name, e.review_outcome), "ratings": feedback(c.id, e.id)}
                for e in escalations if e.conversation_id == c.id]
        rows.append({"id": c.id, "current": c.id == v.conversation_id, "channel": c.channel, "status": c.status,
                     "started": at(c.started_at), "last": at(c.last_message_at), "messages": counts.get(c.id, 0),
                     "opening": _cut(mask(opening.get(c.id, ""))), "escalations": escs,
                     "ratings": feedback(c.id, None)})
    scores = [r for r in all_ratings if r is not None]
    return {"label": v.customer, "name": full_name(customer.display_name, customer.last_name),
            "username": customer.username, "channel": customer.channel,
            "platform_id": _platform_id(customer.channel, customer.external_id), "since": at(customer.created_at),
            "conversations": rows, "total": total, "more": total > len(rows),
            "csat": f"{sum(scores) / len(scores):.1f} / 5 from {len(scores)} rating{'s' if len(scores) != 1 else ''}"
            if scores else None}
