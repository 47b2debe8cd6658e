"""SQLAlchemy 2 models: every step of handling a message writes a row here.

The same models serve SQLite (embedded default) and PostgreSQL; Alembic revisions in
migrations/ create them, and a test checks the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, overload

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.messages import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# escalations.desk_refs: where each agent desk shows an escalation, desk name -> that desk's ref
# (a Slack card: {"channel": ..., "ts": ...})
DeskRef = dict[str, str]
DeskRefs = dict[str, DeskRef]
# a JSON object column (a channel's reply_to, an inbox event's payload...): what the JSON holds is the
# writer's business, read back by the code that wrote it
JsonObject = dict[str, Any]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table(model: type[Base]) -> Table:
    """The Core table of a model, for prebuilt statements (`__table__` is typed as any FromClause)."""
    t = model.__table__
    if not isinstance(t, Table):  # a declarative model maps one Table; only a mapping to a select would not
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return t


@overload
def ts(nullable: Literal[False] = False) -> Mapped[datetime]: ...
@overload
def ts(nullable: Literal[True]) -> Mapped[datetime | None]: ...
def ts(nullable: bool = False) -> Mapped[datetime] | Mapped[datetime | None]:
    if nullable:
        return mapped_column(DateTime(timezone=True), nullable=True)
    return mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_customers_channel_external"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))  # Telegram's last_name (migration 0013)
    username: Mapped[str | None] = mapped_column(String(255))  # Telegram's @username, without the @
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)  # e.g. the bot was blocked
    created_at: Mapped[datetime] = ts()


class Agent(Base):
    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    slack_user_id: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    available: Mapped[bool] = mapped_column(Boolean, default=False)  # set by the agent: may be assigned (else away)
    last_assigned_at: Mapped[datetime | None] = ts(nullable=True)  # round robin's tie-break (bot/handoff/assign.py)
    created_at: Mapped[datetime] = ts()


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_lookup", "channel", "thread_key", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    thread_key: Mapped[str] = mapped_column(String(255))  # chat / thread on the channel
    reply_to: Mapped[JsonObject | None] = mapped_column(JSON)  # where replies go on the channel
    # bot: the bot answers | waiting: escalated, no agent yet | human: an agent holds it | closed
    status: Mapped[str] = mapped_column(String(16), default="bot")
    resolved_by: Mapped[str | None] = mapped_column(String(16))  # bot | agent
    # what the bot waits for from the customer: {"kind": "clarify", "options": [...], ...} after a
    # "did you mean", {"kind": "resolution", "message_id": n} after an answer; None when nothing
    pending: Mapped[JsonObject | None] = mapped_column(JSON)
    language: Mapped[str | None] = mapped_column(String(8))  # the customer's language (bot/language.py), None: the default
    started_at: Mapped[datetime] = ts()
    last_message_at: Mapped[datetime] = ts()
    ended_at: Mapped[datetime | None] = ts(nullable=True)


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    author: Mapped[str] = mapped_column(String(16))  # customer | bot | agent | system
    text: Mapped[str] = mapped_column(Text)
    inbox_event_id: Mapped[int | None] = mapped_column(ForeignKey("inbox_events.id"), unique=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    language: Mapped[str | None] = mapped_column(String(8))  # a customer message's language, when it could be told
    created_at: Mapped[datetime] = ts()


class Classification(Base):
    __tablename__ = "classifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16))  # local | llm
    model_version: Mapped[str] = mapped_column(String(64))
    intent: Mapped[str] = mapped_column(String(100), index=True)
    confidence: Mapped[float] = mapped_column(Float)
    top: Mapped[list[list[str | float]] | None] = mapped_column(JSON)  # [[intent, probability], ...]
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = ts()


class RouteDecision(Base):
    __tablename__ = "route_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    route: Mapped[str] = mapped_column(String(16), index=True)
    rule: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    degraded_from: Mapped[str | None] = mapped_column(String(16))
    signals: Mapped[list[str] | None] = mapped_column(JSON)
    intent: Mapped[str | None] = mapped_column(String(100))
    confidence: Mapped[float | None] = mapped_column(Float)
    stage: Mapped[str | None] = mapped_column(String(16))  # which classifier stage decided
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)  # all model calls for this message
    counterfactual_usd: Mapped[float] = mapped_column(Float, default=0.0)  # same tokens on strong
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)  # end to end in the worker
    created_at: Mapped[datetime] = ts()


class ModelCall(Base):
    __tablename__ = "model_calls"
    __table_args__ = (Index("ix_model_calls_created_tier", "created_at", "tier"),)  # budget checks
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    purpose: Mapped[str] = mapped_column(String(16))  # classify | answer | summary
    provider: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(100), index=True)
    tier: Mapped[str] = mapped_column(String(32))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0)
    reasoning_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    # ok | retried | failed | circuit_open | budget_blocked
    outcome: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = ts()


class Escalation(Base):
    __tablename__ = "escalations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # signal | confidence | critical | asked | out_of_scope | degraded | review | policy
    reason_kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)
    draft: Mapped[str | None] = mapped_column(Text)  # a generated answer held for review
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | claimed | resolved | returned
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    team: Mapped[str | None] = mapped_column(String(64))  # a handoff.teams name: routed or handed to that team
    assigned_by: Mapped[str | None] = mapped_column(String(16))  # how the holder got it: take | auto | transfer
    created_at: Mapped[datetime] = ts()
    claimed_at: Mapped[datetime | None] = ts(nullable=True)
    first_response_at: Mapped[datetime | None] = ts(nullable=True)
    resolved_at: Mapped[datetime | None] = ts(nullable=True)
    announced_at: Mapped[datetime | None] = ts(nullable=True)  # last time agents were told (SLA re-announces)
    announce_count: Mapped[int] = mapped_column(Integer, default=0)
    desk_refs: Mapped[DeskRefs | None] = mapped_column(JSON)  # where each agent desk shows it (slack card ts...)
    review_outcome: Mapped[str | None] = mapped_column(String(16))  # approved | edited | rejected
    final_text: Mapped[str | None] = mapped_column(Text)  # what the customer got after review
    agent_intent: Mapped[str | None] = mapped_column(String(100))  # the intent the agent chose


class LabelledExample(Base):
    """A text with the intent a person chose: learning material for `supportbot train`."""

    __tablename__ = "labelled_examples"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(16))  # review | label | agent | approved | clarify (a customer's pick)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    created_at: Mapped[datetime] = ts()


class InboxEvent(Base):
    """A platform event, stored before it is acknowledged; handled from here."""

    __tablename__ = "inbox_events"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_inbox_events_channel_external"),
        Index("ix_inbox_events_pending", "status", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    thread_key: Mapped[str] = mapped_column(String(300), index=True)  # one conversation at a time
    payload: Mapped[JsonObject] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | processing | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = ts(nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = ts()
    processed_at: Mapped[datetime | None] = ts(nullable=True)


class OutboxMessage(Base):
    """A reply waiting for (or done with) delivery by its channel adapter."""

    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_pending", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    recipient: Mapped[JsonObject] = mapped_column(JSON)  # customer id, thread key, reply_to
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[list[str] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(100))  # the process sending it (status "sending")
    next_attempt_at: Mapped[datetime] = ts()  # when "sending": the end of the sender's lease
    error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(255))  # the platform's message id
    created_at: Mapped[datetime] = ts()
    sent_at: Mapped[datetime | None] = ts(nullable=True)


class GuardrailEvent(Base):
    __tablename__ = "guardrail_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # pii_redacted | injection_flagged | truncated | budget_blocked | outbound_blocked | degraded
    kind: Mapped[str] = mapped_column(String(32), index=True)
    detail: Mapped[JsonObject | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = ts()


class ActionCall(Base):
    """One call of an action to the shop's API (bot/actions/): what, with what (masked), how it went."""

    __tablename__ = "action_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[JsonObject | None] = mapped_column(JSON)  # personal values masked ("SW1***")
    status: Mapped[str] = mapped_column(String(16), index=True)  # ok | not_found | rejected | failed
    http_status: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))  # an agent's Approve (refunds over the limit)
    created_at: Mapped[datetime] = ts()


class Resolution(Base):
    """The customer's verdict on a bot answer: confirmed ("that helped") or more_help.
    Soft resolutions (no further request within the window) are derived in SQL, not stored."""

    __tablename__ = "resolutions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))  # the customer message answered
    outcome: Mapped[str] = mapped_column(String(16))  # confirmed | more_help
    created_at: Mapped[datetime] = ts()


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    rating: Mapped[int | None] = mapped_column(Integer)  # 1..5; empty for a comment given before a number
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = ts()


class AgentNote(Base):
    """A private note between agents on a conversation (bot/handoff/notes.py): shown in the console's
    history and the Slack card's thread, never sent to the customer (it has no outbox row)."""

    __tablename__ = "agent_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # console | slack
    external_key: Mapped[str | None] = mapped_column(String(255), unique=True)  # a Slack event: stored once
    created_at: Mapped[datetime] = ts()


class AgentSession(Base):
    """A login to the web console (bot/web/auth.py). The cookie carries a random token; only its
    SHA-256 is stored here, so a copy of this table lets nobody in. Logout, a password change and
    disabling the agent set revoked_at; a session past expires_at is refused too."""

    __tablename__ = "agent_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie's token
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    created_at: Mapped[datetime] = ts()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = ts(nullable=True)


class LoginFailure(Base):
    """A failed (or still running) agent login, counted per account name and per client address
    to lock out password guessing; `supportbot agent unlock NAME` deletes an account's rows."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(100), index=True)  # the name typed, which may not exist
    address: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
