"""Persistence of one message's handling: what the orchestrator reads and writes.

Reads happen first (conversation, history); every row that records the outcome is written
in one transaction at the end, together with the outbox row and the inbox event's
"done" mark, so a crash leaves either nothing or everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import models as m
from bot.messages import Classification, Decision, InboundMessage, Reply, Route, Signals, utcnow
from bot.signals import History


@dataclass
class Outcome:
    """Everything handling produced, written by Store.finish in one transaction."""

    decision: Decision
    signals: Signals
    classification: Classification | None = None
    reply: Reply | None = None
    reply_author: str = "bot"
    guardrail_events: list[tuple[str, dict]] = field(default_factory=list)
    escalate: tuple[str, str] | None = None  # (reason_kind, reason)
    escalation_summary: str | None = None
    draft: str | None = None  # a generated answer held back for human review
    cost_usd: float = 0.0
    counterfactual_usd: float = 0.0
    latency_ms: float = 0.0
    record_decision: bool = True  # False for events that were only logged (edits)
    relayed: bool = False  # the message is for the agent holding the conversation
    feedback: int | None = None  # a 1-5 rating after an agent resolved the conversation
    conversation_status: str | None = None  # set the conversation to this status


@dataclass(frozen=True)
class ConversationRef:
    id: int
    customer_id: int
    status: str


async def queue_reply(s: AsyncSession, conversation_id: int, reply: Reply, author: str, key: str,
                      agent_id: int | None = None) -> int:
    """Store an outgoing message and its outbox row (delivered later by the channel)."""
    msg = m.Message(conversation_id=conversation_id, direction="out", author=author, text=reply.text,
                    agent_id=agent_id)
    s.add(msg)
    await s.flush()
    s.add(m.OutboxMessage(
        idempotency_key=f"{reply.channel}:{key}", channel=reply.channel, conversation_id=conversation_id,
        message_id=msg.id, text=reply.text,
        recipient={"customer_id": reply.customer_id, "conversation_key": reply.conversation_key,
                   "reply_to": reply.reply_to},
        buttons=list(reply.buttons) or None, status="pending"))
    return msg.id


class Store:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions

    async def open_conversation(self, msg: InboundMessage) -> ConversationRef:
        """The customer's open conversation on this thread, created when there is none."""
        async with self.sessions.begin() as s:
            customer = await s.scalar(select(m.Customer).where(
                m.Customer.channel == msg.channel, m.Customer.external_id == msg.customer_id))
            if customer is None:
                customer = m.Customer(channel=msg.channel, external_id=msg.customer_id,
                                      display_name=msg.customer_name)
                try:
                    async with s.begin_nested():
                        s.add(customer)
                except IntegrityError:  # another worker created it a moment ago
                    customer = await s.scalar(select(m.Customer).where(
                        m.Customer.channel == msg.channel, m.Customer.external_id == msg.customer_id))
            else:
                if msg.customer_name and customer.display_name != msg.customer_name:
                    customer.display_name = msg.customer_name
                if customer.unreachable:  # they wrote again (e.g. unblocked the bot): reachable once more
                    customer.unreachable = False
            conv = await s.scalar(
                select(m.Conversation)
                .where(m.Conversation.channel == msg.channel, m.Conversation.thread_key == msg.thread,
                       m.Conversation.status != "closed")
                .order_by(m.Conversation.id.desc()).limit(1))
            if conv is None:
                conv = m.Conversation(customer_id=customer.id, channel=msg.channel, thread_key=msg.thread,
                                      reply_to=msg.reply_to, status="bot")
                s.add(conv)
                await s.flush()
            elif msg.reply_to and conv.reply_to != msg.reply_to:
                conv.reply_to = msg.reply_to
            return ConversationRef(conv.id, customer.id, conv.status)

    async def record_inbound(self, conv: ConversationRef, msg: InboundMessage, event_id: int | None) -> int:
        """Store the customer's message; idempotent per inbox event (a retried event reuses it)."""
        async with self.sessions.begin() as s:
            if event_id is not None:
                existing = await s.scalar(select(m.Message.id).where(m.Message.inbox_event_id == event_id))
                if existing:
                    return existing
            row = m.Message(conversation_id=conv.id, direction="in", author="customer", text=msg.text,
                            inbox_event_id=event_id, created_at=msg.received_at)
            s.add(row)
            await s.flush()
            return row.id

    async def history(self, conv: ConversationRef, message_id: int, window_hours: float,
                      small_talk: set[str], limit: int = 10) -> tuple[History, list[tuple[str, str]]]:
        """Repeat-contact facts and the recent transcript (author, text), oldest first."""
        since = utcnow() - timedelta(hours=window_hours)
        async with self.sessions() as s:
            intents = (await s.scalars(
                select(m.Classification.intent)
                .join(m.Message, m.Message.id == m.Classification.message_id)
                .join(m.Conversation, m.Conversation.id == m.Message.conversation_id)
                .where(m.Conversation.customer_id == conv.customer_id, m.Message.id != message_id,
                       m.Message.created_at >= since))).all()
            decisions = (await s.execute(
                select(m.RouteDecision.route, m.RouteDecision.intent)
                .where(m.RouteDecision.conversation_id == conv.id)
                .order_by(m.RouteDecision.id.desc()).limit(20))).all()
            transcript = (await s.execute(
                select(m.Message.author, m.Message.text)
                .where(m.Message.conversation_id == conv.id, m.Message.id != message_id)
                .order_by(m.Message.id.desc()).limit(limit))).all()
        unresolved = 0
        for route, intent in decisions:
            if route == Route.HUMAN.value or intent in small_talk:
                break
            unresolved += 1
        return (History(recent_intents=tuple(intents), unresolved_bot_turns=unresolved),
                [(a, t) for a, t in reversed(transcript)])

    async def finish(self, conv: ConversationRef, message_id: int, event_id: int | None,
                     out: Outcome) -> tuple[int | None, int | None]:
        """Write the outcome, queue the reply and mark the event done. Returns (reply id, escalation id)."""
        async with self.sessions.begin() as s:
            c = out.classification
            if c is not None:
                s.add(m.Classification(message_id=message_id, stage=c.stage, model_version=c.model_version,
                                       intent=c.intent, confidence=c.confidence,
                                       top=[[i, round(p, 4)] for i, p in c.top], truncated=c.truncated,
                                       latency_ms=c.latency_ms))
            for kind, detail in out.guardrail_events:
                s.add(m.GuardrailEvent(conversation_id=conv.id, message_id=message_id, kind=kind, detail=detail))
            escalation_id = None
            if out.escalate:
                escalation_id = await self._escalate(s, conv, message_id, out)
            reply_id = None
            if out.reply is not None:
                reply_id = await queue_reply(s, conv.id, out.reply, out.reply_author,
                                             f"{event_id or message_id}:reply")
            d = out.decision
            if out.record_decision:
                s.add(m.RouteDecision(
                    message_id=message_id, conversation_id=conv.id, route=d.route.value, rule=d.rule,
                    reason=d.reason, degraded_from=d.degraded_from.value if d.degraded_from else None,
                    signals=out.signals.names(), intent=c.intent if c else None,
                    confidence=c.confidence if c else None, stage=c.stage if c else None,
                    cost_usd=out.cost_usd, counterfactual_usd=out.counterfactual_usd, latency_ms=out.latency_ms))
            if out.feedback is not None:
                escalation = await s.scalar(select(m.Escalation.id).where(m.Escalation.conversation_id == conv.id)
                                            .order_by(m.Escalation.id.desc()).limit(1))
                s.add(m.Feedback(conversation_id=conv.id, escalation_id=escalation, rating=out.feedback))
            values: dict = {"last_message_at": utcnow()}
            if out.conversation_status:
                values["status"] = out.conversation_status
                if out.conversation_status == "closed":
                    values["ended_at"] = utcnow()
            await s.execute(update(m.Conversation).where(m.Conversation.id == conv.id).values(**values))
            if event_id is not None:
                await s.execute(update(m.InboxEvent).where(m.InboxEvent.id == event_id)
                                .values(status="done", processed_at=utcnow(), locked_until=None, error=None))
            return reply_id, escalation_id

    async def _escalate(self, s: AsyncSession, conv: ConversationRef, message_id: int, out: Outcome) -> int:
        open_one = await s.scalar(select(m.Escalation.id).where(
            m.Escalation.conversation_id == conv.id, m.Escalation.status.in_(("open", "claimed"))))
        if open_one:
            return open_one
        kind, reason = out.escalate or ("policy", "")
        row = m.Escalation(conversation_id=conv.id, message_id=message_id, reason_kind=kind, reason=reason,
                           summary=out.escalation_summary, draft=out.draft, status="open")
        s.add(row)
        await s.execute(update(m.Conversation).where(m.Conversation.id == conv.id).values(status="waiting"))
        await s.flush()
        return row.id

    async def close_conversation(self, conversation_id: int, resolved_by: str | None) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(m.Conversation).where(m.Conversation.id == conversation_id)
                            .values(status="closed", ended_at=utcnow(), resolved_by=resolved_by))

    async def count(self, model: type[m.Base]) -> int:
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)
