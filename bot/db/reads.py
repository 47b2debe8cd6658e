"""What the channel adapters read from storage, as named functions.

A channel (channels/) reaches the database only through these and the runtime (Inbox, Handoff):
it imports no ORM model and builds no query. Each function opens its own session from the
factory the channel was given (ChannelContext.sessions, Handoff.sessions).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import models as m
from bot.db.models import DeskRef, DeskRefs

__all__ = ["ChatLine", "DeskRef", "DeskRefs", "chat_transcript", "open_escalation_desk_refs"]


@dataclass(frozen=True)
class ChatLine:
    """One message of a customer's conversations as a chat page shows it."""

    author: str  # customer | bot | agent | system
    text: str
    buttons: tuple[str, ...]  # the buttons its outbox row offered (none for the customer's own)


async def chat_transcript(sessions: async_sessionmaker[AsyncSession], channel: str, customer_external_id: str,
                          limit: int = 100) -> list[ChatLine]:
    """The customer's last `limit` messages on `channel`, every conversation, oldest first."""
    query = (select(m.Message.author, m.Message.text, m.OutboxMessage.buttons)
             .join(m.Conversation, m.Conversation.id == m.Message.conversation_id)
             .outerjoin(m.OutboxMessage, m.OutboxMessage.message_id == m.Message.id)
             .join(m.Customer, m.Customer.id == m.Conversation.customer_id)
             .where(m.Customer.channel == channel, m.Customer.external_id == customer_external_id)
             .order_by(m.Message.id.desc()).limit(limit))
    async with sessions() as s:
        rows = (await s.execute(query)).all()
    return [ChatLine(author, text, tuple(buttons or ())) for author, text, buttons in reversed(rows)]


async def open_escalation_desk_refs(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, DeskRefs]]:
    """(escalation id, its desk refs) of every open or claimed escalation; {} where no desk stored one."""
    async with sessions() as s:
        rows = (await s.execute(select(m.Escalation.id, m.Escalation.desk_refs).where(
            m.Escalation.status.in_(("open", "claimed"))))).all()
    return [(escalation_id, dict(refs or {})) for escalation_id, refs in rows]
