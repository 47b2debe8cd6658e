"""Private notes between agents on a conversation: what one agent tells the next ("refund already
promised by phone", "VIP, be gentle") that the customer never reads.

A note is a row of agent_notes, never a message and never an outbox row, so no channel can deliver
it. Any agent may write one on any escalation, open, taken or done: in the console's note box, or in
the Slack card's thread as a message starting with "note:". Desks that show notes (the console's
history, the Slack card's thread) are told through NoteDesk; a desk that is not one is not told.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cards import mask_card_numbers
from bot.db import models as m
from bot.handoff.escalations import EscalationView, Handoff, HandoffError
from bot.messages import utcnow

log = logging.getLogger("supportbot.handoff.notes")
MAX_NOTE = 2000  # characters
SOURCES = ("console", "slack")
_SLACK_NOTE = re.compile(r"\s*note\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Note:
    id: int
    conversation_id: int
    escalation_id: int | None
    agent_name: str
    text: str
    source: str  # console | slack
    created_at: datetime


@runtime_checkable
class NoteDesk(Protocol):
    """A desk that shows agents' notes (the console, the Slack card's thread)."""

    name: str

    async def noted(self, esc: EscalationView, note: Note) -> None: ...


def slack_note(text: str) -> str | None:
    """The note in a Slack thread message that starts with "note:" (any case), else None."""
    found = _SLACK_NOTE.match(text)
    return text[found.end():] if found else None


_COLUMNS = (m.AgentNote.id, m.AgentNote.conversation_id, m.AgentNote.escalation_id, m.Agent.name, m.AgentNote.text,
            m.AgentNote.source, m.AgentNote.created_at)


def _note(row: Row[int, int, int | None, str, str, str, datetime]) -> Note:
    return Note(*row)


async def _read(s: AsyncSession, note_id: int) -> Note:
    row = (await s.execute(select(*_COLUMNS).join(m.Agent, m.Agent.id == m.AgentNote.agent_id)
                           .where(m.AgentNote.id == note_id))).one()
    return _note(row)


async def notes_for(sessions: async_sessionmaker[AsyncSession], conversation_id: int, after: int = 0,
                    limit: int = 500) -> list[Note]:
    """The conversation's notes after note id `after`, oldest first."""
    async with sessions() as s:
        rows = (await s.execute(select(*_COLUMNS).join(m.Agent, m.Agent.id == m.AgentNote.agent_id)
                                .where(m.AgentNote.conversation_id == conversation_id, m.AgentNote.id > after)
                                .order_by(m.AgentNote.id).limit(limit))).all()
    return [_note(r) for r in rows]


async def add_note(handoff: Handoff, escalation_id: int, agent_id: int, text: str, source: str = "console",
                   key: str | None = None) -> Note:
    """Store an agent's note on the escalation's conversation and show it on the desks. `key` (a Slack
    event) makes a redelivered note a no-op: the note stored the first time is returned, nobody is told
    again. Card numbers are cut to their last four, as in customer messages."""
    text = text.strip()
    if not text:
        raise HandoffError("the note is empty")
    if len(text) > MAX_NOTE:
        raise HandoffError(f"a note holds at most {MAX_NOTE} characters (this one has {len(text)})")
    if source not in SOURCES:
        raise HandoffError(f"unknown note source {source!r}")
    esc = await handoff.view(escalation_id)  # HandoffError when there is no such escalation
    try:
        async with handoff.sessions.begin() as s:
            if key is not None and (seen := await s.scalar(select(m.AgentNote.id)
                                                           .where(m.AgentNote.external_key == key))):
                return await _read(s, seen)
            row = m.AgentNote(conversation_id=esc.conversation_id, escalation_id=esc.id, agent_id=agent_id,
                              text=mask_card_numbers(text), source=source, external_key=key, created_at=utcnow())
            s.add(row)
            await s.flush()
            note = await _read(s, row.id)
    except IntegrityError:  # the same Slack event, stored by another process a moment ago
        async with handoff.sessions() as s:
            seen = await s.scalar(select(m.AgentNote.id).where(m.AgentNote.external_key == key))
            if seen is None:
                raise
            return await _read(s, seen)
    for desk in handoff.desks:
        if isinstance(desk, NoteDesk):
            try:
                await desk.noted(esc, note)
            except Exception:  # a desk that is down must not lose the note (it is stored)
                log.exception("notes: desk %s could not show note #%s", desk.name, note.id)
    return note
