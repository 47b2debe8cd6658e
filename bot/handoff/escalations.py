"""Escalation lifecycle: open -> claimed -> resolved (or returned to the bot).

The orchestrator opens an escalation; agent desks (Slack cards, the web console) are told
through the AgentDesk protocol. Taking an escalation is decided in SQL (a conditional
UPDATE), so two agents pressing Take at once get exactly one winner. While a person holds
the conversation the bot stays quiet: customer messages are relayed to the agent, agent
messages go to the customer through the outbox, on whatever channel the customer used.
On resolve the customer is asked for a 1-5 rating.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Awaitable, Callable, Protocol

from sqlalchemy import Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import models as m
from bot.db.engine import rows_affected
from bot.db.models import DeskRef
from bot.db.store import queue_reply
from bot.handoff.view import OPEN_VIEW, QUEUE_VIEW, VIEW, EscalationView, customer_label
from bot.handoff.view import view_of as _view
from bot.pipeline.guardrails import mask_for_agents
from bot.pipeline.respond import render
from bot.messages import Reply, utcnow
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.actions.runner import Actions

__all__ = ["AgentDesk", "Claim", "EscalationView", "Handoff", "HandoffError", "customer_label"]
log = logging.getLogger("supportbot.handoff")
RATING_BUTTONS = ("1", "2", "3", "4", "5")


ESCALATIONS = m.table(m.Escalation)


def _reserve_statement(again: bool) -> Update:
    """The first announcement also of an escalation round robin gave an agent at once (bot/handoff/assign.py);
    announced again only while nobody holds it."""
    due = (ESCALATIONS.c.announced_at < bindparam("cutoff", type_=ESCALATIONS.c.announced_at.type) if again
           else ESCALATIONS.c.announced_at.is_(None))
    status = ESCALATIONS.c.status == "open" if again else ESCALATIONS.c.status.in_(("open", "claimed"))
    return (update(ESCALATIONS)
            .where(ESCALATIONS.c.id == bindparam("escalation_id"), due, status)
            .values(announced_at=bindparam("now", type_=ESCALATIONS.c.announced_at.type),
                    announce_count=ESCALATIONS.c.announce_count + 1))


RESERVE_FIRST, RESERVE_AGAIN = _reserve_statement(False), _reserve_statement(True)


class AgentDesk(Protocol):
    """Somewhere agents see escalations: a Slack channel, the web console."""

    name: str

    async def announce(self, esc: EscalationView, again: bool) -> DeskRef | None:
        """Show a new (or, again=True, still untaken) escalation; may return a ref to store."""
        ...

    def listening(self, conversation_id: int) -> bool:
        """Whether customer_said for this conversation would reach anyone now (else it is not read)."""
        ...

    async def customer_said(self, esc: EscalationView, text: str) -> None: ...

    async def changed(self, esc: EscalationView, event: str, by: str | None = None) -> None:
        """claimed | agent_replied | resolved | returned | reviewed | approved | denied"""
        ...


class HandoffError(Exception):
    """The action can't be done in the escalation's state (a readable reason)."""


@dataclass(frozen=True)
class Claim:
    won: bool
    owner: str | None  # the agent who holds it now


class Handoff:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession],
                 outbox_wake: asyncio.Event | None = None):
        self.settings = settings
        self.sessions = sessions
        self.outbox_wake = outbox_wake or asyncio.Event()
        self.desks: list[AgentDesk] = []
        self.actions: "Actions | None" = None  # what an agent's Approve runs (bot/handoff/approvals.py)
        # run when an agent's place frees (Resolve, Return to bot): bot/handoff/assign.py gives out what waits
        self.freed: list[Callable[[], Awaitable[object]]] = []

    def add_desk(self, desk: AgentDesk) -> None:
        self.desks.append(desk)

    # --- reading ----------------------------------------------------------------------
    async def view(self, escalation_id: int) -> EscalationView:
        async with self.sessions() as s:
            row = (await s.execute(VIEW, {"escalation_id": escalation_id})).first()
        if row is None:
            raise HandoffError(f"no escalation #{escalation_id}")
        return _view(row, self.settings.language.default)

    async def queue(self) -> list[EscalationView]:
        """Open and claimed escalations, oldest first (one statement)."""
        async with self.sessions() as s:
            return [_view(row, self.settings.language.default) for row in (await s.execute(QUEUE_VIEW)).all()]

    async def open_for_conversation(self, conversation_id: int) -> int | None:
        async with self.sessions() as s:
            return await s.scalar(select(m.Escalation.id).where(
                m.Escalation.conversation_id == conversation_id, m.Escalation.status.in_(("open", "claimed")))
                .order_by(m.Escalation.id.desc()).limit(1))

    # --- telling the desks ------------------------------------------------------------
    async def _tell(self, what: str, call: Callable[[AgentDesk], Awaitable[None]],
                    desks: list[AgentDesk] | None = None) -> None:
        """call(desk) for every desk (or those given); `what` names the call in the log when a desk fails."""
        for desk in self.desks if desks is None else desks:
            try:
                await call(desk)
            except Exception:  # a desk that is down must not stop the others (the SLA loop re-announces)
                log.exception("handoff: desk %s failed on %s", desk.name, what)

    async def _reserve(self, escalation_id: int, again: bool) -> bool:
        """Claim the right to announce (in SQL): one card per escalation, however many processes try."""
        now = utcnow()
        cutoff = now - timedelta(seconds=self.settings.handoff.sla_seconds)
        async with self.sessions.begin() as s:
            won = await s.execute(RESERVE_AGAIN if again else RESERVE_FIRST,
                                  {"escalation_id": escalation_id, "cutoff": cutoff, "now": now})
        return rows_affected(won) == 1

    async def announce(self, escalation_id: int, again: bool = False) -> None:
        if not await self._reserve(escalation_id, again):
            return  # another worker or process announced it a moment ago (or it was taken)
        esc = await self.view(escalation_id)
        refs = dict(esc.desk_refs)
        for desk in self.desks:
            try:
                ref = await desk.announce(esc, again)
            except Exception:
                log.exception("handoff: desk %s could not announce escalation #%s", desk.name, escalation_id)
                continue
            if ref:
                refs[desk.name] = ref
        if refs != esc.desk_refs:
            async with self.sessions.begin() as s:
                await s.execute(update(m.Escalation).where(m.Escalation.id == escalation_id).values(desk_refs=refs))

    async def relay_customer(self, conversation_id: int, text: str) -> None:
        """A customer wrote while a person holds (or is about to take) the conversation. The escalation is
        read only for a desk that listens: a console nobody has open costs no query per message."""
        listening = [d for d in self.desks if d.listening(conversation_id)]
        if not listening:
            return
        async with self.sessions() as s:
            row = (await s.execute(OPEN_VIEW, {"conversation_id": conversation_id})).first()
        if row is not None:  # agents see cards, IBANs and passwords masked, on every desk
            esc, masked = _view(row, self.settings.language.default), mask_for_agents(text)
            await self._tell("customer_said", lambda desk: desk.customer_said(esc, masked), listening)

    # --- agent actions ----------------------------------------------------------------
    async def claim(self, escalation_id: int, agent_id: int) -> Claim:
        """Take an escalation. Idempotent for its owner; exactly one winner under a race."""
        async with self.sessions.begin() as s:
            won = await s.execute(update(m.Escalation)
                                  .where(m.Escalation.id == escalation_id, m.Escalation.status == "open")
                                  .values(status="claimed", agent_id=agent_id, claimed_at=utcnow(), assigned_by="take"))
            row = (await s.execute(select(m.Escalation.status, m.Escalation.agent_id, m.Escalation.conversation_id)
                                   .where(m.Escalation.id == escalation_id))).first()
            if row is None:
                raise HandoffError(f"no escalation #{escalation_id}")
            won_it = rows_affected(won) == 1
            if won_it:
                await s.execute(update(m.Conversation).where(m.Conversation.id == row.conversation_id)
                                .values(status="human"))
        esc = await self.view(escalation_id)
        if won_it:
            await self._tell("changed", lambda desk: desk.changed(esc, "claimed", esc.agent_name))
            return Claim(True, esc.agent_name)
        if row.status == "claimed" and row.agent_id == agent_id:
            return Claim(True, esc.agent_name)  # pressed twice: still theirs
        return Claim(False, esc.agent_name)

    async def _held_by(self, s: AsyncSession, escalation_id: int, agent_id: int) -> m.Escalation:
        esc = await s.get(m.Escalation, escalation_id, with_for_update=s.get_bind().dialect.name == "postgresql")
        if esc is None:
            raise HandoffError(f"no escalation #{escalation_id}")
        if esc.status != "claimed":
            raise HandoffError(f"escalation #{escalation_id} is {esc.status}; take it first")
        if esc.agent_id != agent_id:
            raise HandoffError(f"escalation #{escalation_id} is held by another agent")
        return esc

    async def _send(self, s: AsyncSession, conversation_id: int, text: str, author: str, key: str,
                    agent_id: int | None, buttons: tuple[str, ...] = (), sender: str = "") -> int:
        conv = await s.get(m.Conversation, conversation_id)
        customer = await s.get(m.Customer, conv.customer_id) if conv is not None else None
        if conv is None or customer is None:  # foreign keys: only a conversation deleted meanwhile
            raise HandoffError(f"conversation #{conversation_id} (or its customer) is gone")
        reply = Reply(text=text, channel=conv.channel, customer_id=customer.external_id,
                      conversation_key=conv.thread_key, reply_to=conv.reply_to, buttons=buttons, sender=sender)
        return await queue_reply(s, conversation_id, reply, author, key, agent_id=agent_id)

    async def _text(self, s: AsyncSession, key: str, conversation_id: int) -> str:
        """One of the bot's texts (settings.text) in the conversation's language."""
        language = await s.scalar(select(m.Conversation.language).where(m.Conversation.id == conversation_id))
        return self.settings.text(key, language or "")

    async def _signature(self, s: AsyncSession, agent_id: int) -> str:
        """handoff.agent_prefix for this agent ("Ann (Northwind Goods): "), "" when it is off."""
        template = self.settings.handoff.agent_prefix
        if not template:
            return ""
        name = await s.scalar(select(m.Agent.name).where(m.Agent.id == agent_id)) or "Our team"
        return render(template, {**self.settings.company_vars(), "agent_name": name[:1].upper() + name[1:]})

    async def agent_reply(self, escalation_id: int, agent_id: int, text: str, key: str | None = None) -> int:
        """Send the agent's words to the customer. `key` (e.g. the platform's message id) makes a
        redelivered agent message a no-op instead of a second reply."""
        text = text.strip()
        if not text:
            raise HandoffError("the reply is empty")
        async with self.sessions.begin() as s:
            esc = await self._held_by(s, escalation_id, agent_id)
            if key is None:
                key = str(await s.scalar(select(m.Message.id).where(m.Message.conversation_id == esc.conversation_id)
                                         .order_by(m.Message.id.desc()).limit(1)))
            outbox_key = f"{esc.conversation_id}:agent:{escalation_id}:{key}"
            channel = await s.scalar(select(m.Conversation.channel).where(m.Conversation.id == esc.conversation_id))
            done = await s.scalar(select(m.OutboxMessage.message_id)
                                  .where(m.OutboxMessage.idempotency_key == f"{channel}:{outbox_key}"))
            if done is not None:
                return done  # this agent message was sent already
            msg_id = await self._send(s, esc.conversation_id, text, "agent", outbox_key, agent_id,
                                      sender=await self._signature(s, agent_id))
            if esc.first_response_at is None:
                esc.first_response_at = utcnow()
        self.outbox_wake.set()
        esc_now = await self.view(escalation_id)
        await self._tell("changed", lambda desk: desk.changed(esc_now, "agent_replied", None))
        return msg_id

    async def review(self, escalation_id: int, agent_id: int, outcome: str, text: str | None = None,
                     intent: str | None = None) -> None:
        """A held-back draft: approve it, send an edited version, or reject it (then reply yourself)."""
        if outcome not in ("approved", "edited", "rejected"):
            raise HandoffError(f"unknown review outcome {outcome!r}")
        if intent is not None and intent not in self.settings.intents:
            raise HandoffError(f"unknown intent {intent!r}")
        async with self.sessions.begin() as s:
            esc = await self._held_by(s, escalation_id, agent_id)
            if not esc.draft:
                raise HandoffError(f"escalation #{escalation_id} has no draft to review")
            if esc.review_outcome:
                raise HandoffError(f"the draft of escalation #{escalation_id} was {esc.review_outcome} already")
            final = {"approved": esc.draft, "edited": (text or "").strip(), "rejected": None}[outcome]
            if outcome == "edited" and not final:
                raise HandoffError("the edited text is empty")
            esc.review_outcome, esc.final_text, esc.agent_intent = outcome, final, intent
            if final:
                await self._send(s, esc.conversation_id, final, "agent", f"review:{escalation_id}", agent_id)
                esc.first_response_at = esc.first_response_at or utcnow()
            if intent and esc.message_id:
                original = await s.get(m.Message, esc.message_id)
                if original is None:  # a foreign key: the message outlives its escalation
                    raise HandoffError(f"escalation #{escalation_id}: message #{esc.message_id} is gone")
                s.add(m.LabelledExample(text=original.text, intent=intent, source="review",
                                        message_id=esc.message_id, agent_id=agent_id))
        self.outbox_wake.set()
        esc_now = await self.view(escalation_id)
        await self._tell("changed", lambda desk: desk.changed(esc_now, "reviewed", outcome))

    async def resolve(self, escalation_id: int, agent_id: int) -> None:
        """Done: the customer is thanked and asked for a 1-5 rating."""
        async with self.sessions.begin() as s:
            esc = _decided(await self._held_by(s, escalation_id, agent_id))
            esc.status, esc.resolved_at = "resolved", utcnow()
            await s.execute(update(m.Conversation).where(m.Conversation.id == esc.conversation_id)
                            .values(status="rating", resolved_by="agent"))
            await self._send(s, esc.conversation_id, await self._text(s, "handoff.rating_prompt", esc.conversation_id),
                             "bot", f"rating:{escalation_id}", None, RATING_BUTTONS)
        self.outbox_wake.set()
        esc_now = await self.view(escalation_id)
        await self._tell("changed", lambda desk: desk.changed(esc_now, "resolved", None))
        await self._freed()

    async def return_to_bot(self, escalation_id: int, agent_id: int) -> None:
        async with self.sessions.begin() as s:
            esc = _decided(await self._held_by(s, escalation_id, agent_id))
            esc.status, esc.resolved_at = "returned", utcnow()
            await s.execute(update(m.Conversation).where(m.Conversation.id == esc.conversation_id)
                            .values(status="bot"))
            await self._send(s, esc.conversation_id, await self._text(s, "handoff.returned_text", esc.conversation_id),
                             "bot", f"returned:{escalation_id}", None)
        self.outbox_wake.set()
        esc_now = await self.view(escalation_id)
        await self._tell("changed", lambda desk: desk.changed(esc_now, "returned", None))
        await self._freed()

    async def _freed(self) -> None:
        for hook in self.freed:
            try:
                await hook()
            except Exception:  # the SLA loop and the next change try again
                log.exception("handoff: giving out waiting escalations failed")

    # --- SLA --------------------------------------------------------------------------
    async def due(self) -> list[tuple[int, bool]]:
        """Escalations never announced, or open past the SLA since their last announcement."""
        cutoff = utcnow() - timedelta(seconds=self.settings.handoff.sla_seconds)
        async with self.sessions() as s:
            rows = (await s.execute(select(m.Escalation.id, m.Escalation.announced_at).where(
                (m.Escalation.announced_at.is_(None) & m.Escalation.status.in_(("open", "claimed")))
                | ((m.Escalation.status == "open") & (m.Escalation.announced_at < cutoff)))
                .order_by(m.Escalation.id))).all()
        return [(i, at is not None) for i, at in rows]

    async def run_sla(self, stop: asyncio.Event, every: float | None = None) -> None:
        every = every if every is not None else max(0.5, min(5.0, self.settings.handoff.sla_seconds / 2))
        while not stop.is_set():
            for escalation_id, again in await self.due():
                await self.announce(escalation_id, again=again)
            await self._freed()  # places freed in another process, or by an approval
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except asyncio.TimeoutError:
                pass


def _decided(esc: m.Escalation) -> m.Escalation:
    """A write waiting for approval is never dropped by Resolve or Return to bot: Approve or Deny first
    (Deny with a note when the customer no longer wants it)."""
    if esc.reason_kind == "approval" and not esc.review_outcome:
        raise HandoffError(f"escalation #{esc.id} waits for Approve or Deny; decide it first "
                           "(Deny, with a note, if the customer no longer wants it)")
    return esc


async def agent_for_slack_user(sessions: async_sessionmaker[AsyncSession], slack_user_id: str, name: str) -> int:
    """The agent account of a Slack user, created on first use (agents in Slack need no password)."""
    async with sessions.begin() as s:
        agent = await s.scalar(select(m.Agent).where(m.Agent.slack_user_id == slack_user_id))
        if agent is None:
            taken = await s.scalar(select(m.Agent.id).where(m.Agent.name == name))
            agent = m.Agent(name=name if not taken else f"{name} ({slack_user_id})", slack_user_id=slack_user_id)
            s.add(agent)
            await s.flush()
        return agent.id
