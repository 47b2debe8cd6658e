"""Persistence of one message's handling: what the orchestrator reads and writes.

Reads happen first (conversation, history); every row that records the outcome is written
in one transaction at the end, together with the outbox row and the inbox event's
"done" mark, so a crash leaves either nothing or everything.

Model calls made while a message is handled are held in memory (`hold_model_call`, keyed by the
message in the handling task's context) and written by `finish` in the same transaction, instead
of one transaction per call. When handling fails or another worker finished the event first, the
worker writes the held rows on their own (`write_held_calls`), so the spend is still recorded;
only a process killed mid-message loses the rows of the calls that message made (its retry
makes and records them again). Budget checks do not see held rows: the overshoot bound of
bot/monitor/budget.py counts them.

The worker handling a message passes a `Handling` (set_handling, in the task's context): with a
sender named, `finish` stores the reply already leased to this process's outbox, which sends it at
once (no claim round trip), and it tells whether a later event of the conversation waits.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, Mapping

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cards import mask_card_numbers
from bot.db import models as m
from bot.db import statements as q
from bot.db.engine import retry_on_disconnect
from bot.history import History, history_from
from bot.messages import InboundMessage, Outcome, Reply, utcnow


MODEL_CALLS = m.table(m.ModelCall)
NEW_MODEL_CALL = insert(MODEL_CALLS)
# (message id, model_calls rows) of the message this task is handling; set by Store.start
# a model_calls row: column name -> value (bot/llm/router.py builds it)
ModelCallRow = Mapping[str, object]
_HELD_CALLS: ContextVar[tuple[int, list[ModelCallRow]] | None] = ContextVar("supportbot_held_model_calls", default=None)


def hold_model_call(message_id: int | None, row: ModelCallRow) -> bool:
    """Keep a model_calls row for the finish transaction of `message_id`, when this task handles it.

    False (the caller writes the row itself) for a call made outside the handling of that message."""
    held = _HELD_CALLS.get()
    if held is None or message_id is None or held[0] != message_id:
        return False
    held[1].append(row)
    return True


def held_calls() -> list[ModelCallRow]:
    held = _HELD_CALLS.get()
    return list(held[1]) if held is not None else []


def _forget_held(rows: list[ModelCallRow]) -> None:
    held = _HELD_CALLS.get()
    if held is not None:
        held[1][:] = [r for r in held[1] if not any(r is w for w in rows)]


async def write_held_calls(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Write the model calls held for the message this task was handling (its finish did not)."""
    rows = held_calls()
    if rows:
        async with sessions.begin() as s:
            await s.execute(NEW_MODEL_CALL, rows)
        _forget_held(rows)
    return len(rows)


@dataclass
class Handling:
    """What the worker handling a message asks of its finish transaction, and what it got back."""

    sender: str | None = None  # lease the reply to this sender (the local outbox, running) ...
    lease_until: datetime | None = None  # ... until then
    channels: frozenset[str] = frozenset()  # ... when it runs the reply's channel
    handed_reply: dict[str, Any] | None = None  # the reply row leased to `sender` (bot/runtime/outbox.py ClaimedReply)
    next_waiting: bool = False  # a later event of the conversation was stored pending meanwhile
    # a reply queued pending (the sender claims it), e.g. behind an unsent earlier reply
    queued: list[int] = field(default_factory=list)


_HANDLING: ContextVar[Handling | None] = ContextVar("supportbot_handling", default=None)


def set_handling(handling: Handling | None) -> Token[Handling | None]:
    return _HANDLING.set(handling)


def reset_handling(token: Token[Handling | None]) -> None:
    _HANDLING.reset(token)


class AlreadyHandled(Exception):
    """The inbox event was finished by another worker meanwhile: this outcome is dropped, unwritten."""


@dataclass(frozen=True)
class ConversationRef:
    id: int
    customer_id: int
    status: str
    pending: dict[str, Any] | None = None  # what the bot waits for from the customer
    language: str | None = None  # the language the customer wrote in last (None: not told yet, the default)


@dataclass(frozen=True)
class HistoryQuery:
    """What the policy reads of the past: intents within the repeat window, routes, transcript."""

    window_hours: float
    small_talk: frozenset[str]
    limit: int = 10


@dataclass(frozen=True)
class Started:
    conversation: ConversationRef
    message_id: int
    history: tuple[History, list[tuple[str, str]]] | None  # read in the same transaction, when asked


async def queue_reply(s: AsyncSession, conversation_id: int, reply: Reply, author: str, key: str,
                      agent_id: int | None = None, handling: Handling | None = None) -> int:
    """Store an outgoing message and its outbox row (delivered later by the channel).

    With a `handling` naming a sender that runs the reply's channel, the row is stored leased to it
    (unless an earlier reply of the conversation is unsent) and described in `handling.handed_reply`."""
    message_id: int = await s.scalar(q.NEW_MESSAGE, dict(
        conversation_id=conversation_id, direction="out", author=author, text=reply.text, agent_id=agent_id,
        inbox_event_id=None, created_at=utcnow()))
    row = dict(idempotency_key=f"{reply.channel}:{key}", channel=reply.channel, conversation_id=conversation_id,
               message_id=message_id, text=reply.sender + reply.text,
               recipient={"customer_id": reply.customer_id, "conversation_key": reply.conversation_key,
                          "reply_to": reply.reply_to, **({"sender": reply.sender} if reply.sender else {})},
               buttons=list(reply.buttons) or None)
    if handling is None or handling.sender is None or reply.channel not in handling.channels:
        await s.execute(q.NEW_OUTBOX_ROW, dict(row, status="pending"))
        return message_id
    row_id, status = (await s.execute(q.NEW_LEASED_OUTBOX_ROW, dict(
        row, conv=conversation_id, sender=handling.sender, now=utcnow(), lease_until=handling.lease_until))).one()
    if status == "sending":
        handling.handed_reply = dict(id=row_id, channel=row["channel"], conversation_id=conversation_id,
                                     recipient=row["recipient"], text=row["text"], buttons=row["buttons"],
                                     idempotency_key=row["idempotency_key"], attempts=1)
    else:
        handling.queued.append(row_id)
    return message_id


# called with a new escalation's id, in the transaction that creates it, after the conversation's update
# (bot/handoff/assign.py Assigner.on_escalation: its team and round robin)
EscalationHook = Callable[[AsyncSession, int, Outcome], Awaitable[None]]


class Store:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self.sessions = sessions
        self.on_escalation: EscalationHook | None = None

    async def start(self, msg: InboundMessage, event_id: int | None,
                    history: HistoryQuery | None = None) -> Started:
        """One transaction: the customer, their open conversation on this thread (created when there
        is none) and the stored customer message; and, when asked and the bot is to answer, the
        history the policy reads. Idempotent per inbox event: a retried event reuses the message
        stored the first time."""
        return await retry_on_disconnect(lambda: self._start_tx(msg, event_id, history))

    async def _start_tx(self, msg: InboundMessage, event_id: int | None, history: HistoryQuery | None) -> Started:
        async with self.sessions.begin() as s:
            ref, message_id = await self._start(s, msg, event_id)
            _HELD_CALLS.set((message_id, []))
            wanted = msg.kind == "text" and ref.status in ("bot", "rating", "waiting")
            query = history if wanted else None
            return Started(ref, message_id, await self._history(s, ref, message_id, query) if query is not None else None)

    async def _start(self, s: AsyncSession, msg: InboundMessage, event_id: int | None) -> tuple[ConversationRef, int]:
        """The customer, their open conversation (created when there is none), the stored message."""
        if event_id is not None:
            stored = (await s.execute(q.MESSAGE_OF_EVENT, {"event_id": event_id})).first()
            if stored is not None:
                known = (await s.execute(q.CONVERSATION_BY_ID, {"conversation_id": stored.conversation_id})).one()
                return ConversationRef(*known), stored.id
        customer_id = await self._customer(s, msg)
        conv = (await s.execute(q.OPEN_CONVERSATION, {"channel": msg.channel, "thread_key": msg.thread})).first()
        if conv is None:
            now = utcnow()
            conv_id: int = await s.scalar(q.NEW_CONVERSATION, dict(
                customer_id=customer_id, channel=msg.channel, thread_key=msg.thread, reply_to=msg.reply_to,
                status="bot", started_at=now, last_message_at=now))
            ref = ConversationRef(conv_id, customer_id, "bot")
        else:
            ref = ConversationRef(conv.id, customer_id, conv.status, conv.pending, conv.language)
            if msg.reply_to and conv.reply_to != msg.reply_to:
                await s.execute(q.UPDATE_CONVERSATION, {"conversation_id": conv.id, "reply_to": msg.reply_to})
        message_id: int = await s.scalar(q.NEW_MESSAGE, dict(
            conversation_id=ref.id, direction="in", author="customer", text=mask_card_numbers(msg.text),
            inbox_event_id=event_id, agent_id=None, created_at=msg.received_at))  # a card keeps its last 4 only
        return ref, message_id

    @staticmethod
    async def _customer(s: AsyncSession, msg: InboundMessage) -> int:
        """The customer's id, created on first contact; their name kept current, reachable again."""
        key = {"channel": msg.channel, "external_id": msg.customer_id}
        row = (await s.execute(q.CUSTOMER, key)).first()
        if row is None:
            new_id: int | None = await s.scalar(q.new_customer(s.get_bind().dialect.name), dict(
                key, display_name=msg.customer_name, last_name=msg.customer_last_name or None,
                username=msg.customer_username or None,
                unreachable=False, created_at=utcnow()))
            if new_id is not None:
                return new_id
            row = (await s.execute(q.CUSTOMER, key)).first()  # another worker created them a moment ago
            if row is None:  # the conflicting insert was not committed after all; the event is retried
                raise LookupError(f"customer {msg.channel}:{msg.customer_id} neither created nor found")
        changes: dict[str, object] = {}
        if msg.customer_name and row.display_name != msg.customer_name:
            changes["display_name"] = msg.customer_name
        for column, value in (("last_name", msg.customer_last_name), ("username", msg.customer_username)):
            if value is not None and getattr(row, column) != (value or None):  # "": the channel says there is none
                changes[column] = value or None
        if row.unreachable:  # they wrote again (e.g. unblocked the bot): reachable once more
            changes["unreachable"] = False
        if changes:
            await s.execute(q.UPDATE_CUSTOMER, {"customer_id": row.id, **changes})
        customer_id: int = row.id
        return customer_id

    async def history(self, conv: ConversationRef, message_id: int,
                      query: HistoryQuery) -> tuple[History, list[tuple[str, str]]]:
        """Repeat-contact facts and the recent transcript (author, text), oldest first."""
        async with self.sessions() as s:
            return await self._history(s, conv, message_id, query)

    @staticmethod
    async def _history(s: AsyncSession, conv: ConversationRef, message_id: int,
                       query: HistoryQuery) -> tuple[History, list[tuple[str, str]]]:
        since = utcnow() - timedelta(hours=query.window_hours)
        unhelpful = (await s.scalars(q.UNHELPFUL_INTENTS, dict(customer_id=conv.customer_id, since=since))).all()
        decisions = (await s.execute(q.RECENT_ROUTES, {"conversation_id": conv.id})).all()
        transcript = (await s.execute(q.TRANSCRIPT, dict(conversation_id=conv.id, message_id=message_id,
                                                         limit=query.limit))).all()
        history = history_from([tuple(d) for d in decisions], tuple(unhelpful), query.small_talk)
        return history, [(a, t) for a, t in reversed(transcript)]

    async def finish(self, conv: ConversationRef, message_id: int, event_id: int | None,
                     out: Outcome) -> tuple[int | None, int | None]:
        """Write the outcome, queue the reply and mark the event done. Returns (reply id, escalation id)."""
        calls = held_calls()
        done = await retry_on_disconnect(lambda: self._finish(conv, message_id, event_id, out, calls))
        _forget_held(calls)
        return done

    async def _finish(self, conv: ConversationRef, message_id: int, event_id: int | None, out: Outcome,
                      calls: list[ModelCallRow]) -> tuple[int | None, int | None]:
        handling = _HANDLING.get()
        if handling is not None:
            handling.handed_reply, handling.next_waiting, handling.queued = None, False, []
        async with self.sessions.begin() as s:
            if calls:
                await s.execute(NEW_MODEL_CALL, calls)
            c = out.classification
            if c is not None:
                await s.execute(q.NEW_CLASSIFICATION, dict(
                    message_id=message_id, stage=c.stage, model_version=c.model_version, intent=c.intent,
                    confidence=c.confidence, top=[[i, round(p, 4)] for i, p in c.top], truncated=c.truncated,
                    latency_ms=c.latency_ms, created_at=utcnow()))
            if out.guardrail_events:
                await s.execute(q.NEW_GUARDRAIL_EVENT, [
                    dict(conversation_id=conv.id, message_id=message_id, kind=kind, detail=detail, created_at=utcnow())
                    for kind, detail in out.guardrail_events])
            escalation_id, opened = None, False
            if out.escalate:
                escalation_id, opened = await self._escalate(s, conv, message_id, out)
            reply_id = None
            if out.reply is not None:
                reply_id = await queue_reply(s, conv.id, out.reply, out.reply_author,
                                             f"{event_id or message_id}:reply", handling=handling)
            d = out.decision
            if out.record_decision:
                await s.execute(q.NEW_DECISION, dict(
                    message_id=message_id, conversation_id=conv.id, route=d.route.value, rule=d.rule,
                    reason=d.reason, degraded_from=d.degraded_from.value if d.degraded_from else None,
                    signals=out.signals.names(), intent=c.intent if c else None,
                    confidence=c.confidence if c else None, stage=c.stage if c else None,
                    cost_usd=out.cost_usd, counterfactual_usd=out.counterfactual_usd, latency_ms=out.latency_ms,
                    created_at=utcnow()))
            if out.feedback is not None or out.feedback_comment:
                await _feedback(s, conv.id, out.feedback, out.feedback_comment)
            if out.resolution is not None:
                await s.execute(q.NEW_RESOLUTION, dict(conversation_id=conv.id, message_id=out.resolution[1],
                                                       outcome=out.resolution[0], created_at=utcnow()))
            if out.labelled is not None:
                text, intent, source_id = out.labelled
                await s.execute(q.NEW_LABELLED, dict(text=text, intent=intent, source="clarify", message_id=source_id,
                                                     agent_id=None, created_at=utcnow()))
            if (a := out.action_call) is not None:
                await s.execute(q.NEW_ACTION_CALL, dict(
                    conversation_id=conv.id, message_id=message_id, action=a.action, params=a.params, status=a.status,
                    http_status=a.http_status, attempts=a.attempts, latency_ms=a.latency_ms,
                    error=(a.error or "")[:500] or None, approved_by=None, created_at=utcnow()))
            values: dict[str, object] = {"last_message_at": utcnow()}
            if out.language:  # the message's language, when it could be told, is the conversation's from now on
                await s.execute(q.MESSAGE_LANGUAGE, {"message_id": message_id, "language": out.language})
                values["language"] = out.language
            if out.set_pending:
                values["pending"] = out.pending
            if opened:
                values["status"] = "waiting"
            if out.conversation_status:
                values["status"] = out.conversation_status
                if out.conversation_status == "closed":
                    values["ended_at"] = utcnow()
            await s.execute(q.UPDATE_CONVERSATION, {"conversation_id": conv.id, **values})
            if opened and escalation_id is not None and values.get("status") == "waiting" and self.on_escalation:
                await self.on_escalation(s, escalation_id, out)
            if event_id is not None:
                marked = (await s.execute(q.EVENT_DONE, {"event_id": event_id, "now": utcnow()})).first()
                if marked is None:  # another worker finished it first (this one's lease had run out)
                    raise AlreadyHandled(f"inbox event {event_id} was handled by another worker")
                if handling is not None:
                    handling.next_waiting = bool(marked.waiting)
        return reply_id, escalation_id

    async def _escalate(self, s: AsyncSession, conv: ConversationRef, message_id: int,
                        out: Outcome) -> tuple[int, bool]:
        """(the conversation's open escalation, False), or (a new one, True): then it waits for an agent."""
        open_one = await s.scalar(q.OPEN_ESCALATION, {"conversation_id": conv.id})
        if open_one:
            return open_one, False
        kind, reason = out.escalate or ("policy", "")
        new_id = await s.scalar(q.NEW_ESCALATION, dict(
            conversation_id=conv.id, message_id=message_id, reason_kind=kind, reason=reason,
            summary=out.escalation_summary, draft=out.draft, status="open", announce_count=0, created_at=utcnow()))
        return new_id, True

    async def close_conversation(self, conversation_id: int, resolved_by: str | None) -> None:
        async with self.sessions.begin() as s:
            await s.execute(update(m.Conversation).where(m.Conversation.id == conversation_id)
                            .values(status="closed", ended_at=utcnow(), resolved_by=resolved_by))

    async def count(self, model: type[m.Base]) -> int:
        async with self.sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _feedback(s: AsyncSession, conversation_id: int, rating: int | None, comment: str | None) -> None:
    """One feedback row per rating question: words come first as a comment (rating still empty),
    a number given later fills in that row; a number alone is a row of its own."""
    escalation = await s.scalar(select(m.Escalation.id).where(m.Escalation.conversation_id == conversation_id)
                                .order_by(m.Escalation.id.desc()).limit(1))
    open_row = await s.scalar(select(m.Feedback).where(
        m.Feedback.conversation_id == conversation_id, m.Feedback.rating.is_(None),
        m.Feedback.escalation_id.is_(None) if escalation is None else m.Feedback.escalation_id == escalation)
        .order_by(m.Feedback.id.desc()).limit(1))
    if open_row is None:
        s.add(m.Feedback(conversation_id=conversation_id, escalation_id=escalation, rating=rating, comment=comment))
        return
    open_row.rating = rating
    if comment:
        open_row.comment = comment
