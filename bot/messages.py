"""The shared vocabulary of the pipeline: what flows between the steps.

Plain frozen dataclasses, no I/O. Channels build an InboundMessage; the orchestrator
returns a HandleResult; everything in between speaks these types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Route(str, enum.Enum):
    """Who answers a message."""

    TEMPLATE = "template"
    KNOWLEDGE = "knowledge"
    CLARIFY = "clarify"  # "did you mean ...?" with the top intents as buttons
    ACTION = "action"  # a call to the shop's API (bot/actions/): an order looked up, a return started
    CHEAP_LLM = "cheap_llm"
    STRONG_LLM = "strong_llm"
    HUMAN = "human"

    @property
    def is_llm(self) -> bool:
        return self in (Route.CHEAP_LLM, Route.STRONG_LLM)


OUT_OF_SCOPE = "out_of_scope"


class ConversationStatus(enum.StrEnum):
    """conversations.status: who answers the customer now."""

    BOT = "bot"  # the bot answers
    WAITING = "waiting"  # an escalation is open, no agent has taken it yet
    HUMAN = "human"  # an agent holds the conversation; messages are relayed to them
    RATING = "rating"  # an agent resolved it; the bot waits for the customer's 1-5 rating
    CLOSED = "closed"


class EscalationStatus(enum.StrEnum):
    """escalations.status."""

    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    RETURNED = "returned"


class EscalationKind(enum.StrEnum):
    """escalations.reason_kind: why a conversation went to a person (bot/pipeline/respond.py escalation_kind)."""

    DEGRADED = "degraded"  # a route that could not be served walked down to human
    CRITICAL = "critical"
    SAFETY = "safety"
    ASKED = "asked"  # the customer asked for a person
    SIGNAL = "signal"  # emotion, repeat contact or the model's needs_human
    OUT_OF_SCOPE = "out_of_scope"
    CONFIDENCE = "confidence"
    POLICY = "policy"
    REVIEW = "review"  # a generated answer held back for a person to check
    APPROVAL = "approval"  # an action over its limit (a large refund) waits for an agent's Approve / Deny


class Escalate(NamedTuple):
    """A request to open an escalation: its kind and the readable reason."""

    kind: EscalationKind
    reason: str


@dataclass(frozen=True)
class InboundMessage:
    """One customer message as a channel adapter hands it to the core."""

    channel: str  # "console", "telegram", "slack", "web"
    customer_id: str  # the customer's id on that channel
    text: str
    conversation_key: str = ""  # chat / thread identity on the channel; default: customer
    customer_name: str | None = None
    # what else the channel tells of the customer (Telegram): None, it tells nothing; "", they have none
    customer_last_name: str | None = None  # Telegram's last_name
    customer_username: str | None = None  # Telegram's @username, without the @
    external_id: str | None = None  # platform event / message id
    received_at: datetime = field(default_factory=utcnow)
    reply_to: dict[str, Any] | None = None  # channel-specific delivery address (chat id, thread ts)
    # text: a customer message | start: /start or first contact | help: /help
    # edited: an edit of an earlier message (logged, not re-answered)
    # unsupported: photo, sticker, voice... (a polite "text only" reply, logged)
    kind: str = "text"

    @property
    def thread(self) -> str:
        return self.conversation_key or self.customer_id


@dataclass(frozen=True)
class Classification:
    intent: str  # an intent name, or OUT_OF_SCOPE
    confidence: float  # probability of the top intent, 0..1
    top: tuple[tuple[str, float], ...] = ()  # best intents with probabilities
    stage: str = "local"  # which stage of the cascade decided: local | llm
    model_version: str = ""
    latency_ms: float = 0.0
    truncated: bool = False  # the text was cut for classification
    complexity: float | None = None  # only an LLM stage reports it
    needs_human: bool | None = None  # only an LLM stage reports it

    @property
    def out_of_scope(self) -> bool:
        return self.intent == OUT_OF_SCOPE


@dataclass(frozen=True)
class Signals:
    """What the message says about the customer's state, beyond its intent."""

    emotion: float = 0.0  # 0..1 intensity of anger / frustration
    emotion_label: str = "neutral"  # neutral | frustration | anger | distress
    wants_human: bool = False
    repeat_contact: bool = False
    more_help: bool = False  # "I need more help" after a canned answer or an article (no model wrote it)
    critical: bool = False  # a critical intent (config), a critical runner-up, or a critical phrase
    critical_why: str = ""  # which of those, for the decision's reason
    urgent: bool = False
    chasing: bool = False  # the story says an earlier attempt (an agent, a return, an exchange) did not settle it
    complexity: float = 0.0  # 0..1: several questions, long, comparisons, conditions
    injection: bool = False  # the message tries to instruct the model
    needs_human: bool = False  # the LLM classifier judged that a person should handle it
    safety: str = ""  # a safety or money-at-risk category found by meaning (bot/classify/safety.py), e.g. "burn"
    safety_concern: str = ""  # only weak cues of one ("sparked", "swollen"): a person when the bot is unsure
    safety_why: str = ""  # what was found, for the decision's reason
    gibberish: bool = False  # no word of it is one the shop or everyday English knows
    amount: float = 0.0  # the largest sum of money the message names (a currency sign or word), 0 when none

    def names(self) -> list[str]:
        """The active signals as short names, for logs and --json."""
        out = []
        if self.emotion_label != "neutral":
            out.append(self.emotion_label)
        for name in ("wants_human", "needs_human", "repeat_contact", "more_help", "critical", "safety", "safety_concern", "urgent",
                     "chasing", "injection", "gibberish"):
            if getattr(self, name):
                out.append(name)
        if self.complexity >= 0.5:
            out.append("complex")
        return out


@dataclass(frozen=True)
class Decision:
    route: Route
    rule: str  # the name of the policy rule that matched
    reason: str  # human-readable: "confidence 0.62 < 0.90"
    degraded_from: Route | None = None  # set when the chosen route could not be served

    def degrade(self, to: Route, why: str) -> "Decision":
        return Decision(
            route=to,
            rule=self.rule,
            reason=f"{self.reason}; degraded {self.route.value} -> {to.value}: {why}",
            degraded_from=self.degraded_from or self.route,
        )


@dataclass(frozen=True)
class Reply:
    """One message to the customer, as the channel adapter delivers it."""

    text: str
    channel: str
    customer_id: str
    conversation_key: str
    reply_to: dict[str, Any] | None = None
    buttons: tuple[str, ...] = ()
    # a person's reply: who wrote it, as the customer sees it ("Ann (Northwind Goods): "). The outbox sends it
    # before the text (a channel needs to do nothing); messages keep the words alone
    sender: str = ""


@dataclass(frozen=True)
class ActionRecord:
    """One call of an action, as action_calls stores it (parameters masked where they are personal data)."""

    action: str
    params: dict[str, str]
    status: str  # ok | not_found | rejected | failed
    http_status: int | None
    latency_ms: float
    attempts: int
    error: str | None = None


@dataclass
class Outcome:
    """Everything handling one message produced: the orchestrator builds it, Store.finish (bot/db/store.py)
    writes it in one transaction."""

    decision: Decision
    signals: Signals
    classification: Classification | None = None
    reply: Reply | None = None
    reply_author: str = "bot"
    guardrail_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    escalate: Escalate | None = None  # (kind, reason)
    escalation_summary: str | None = None
    draft: str | None = None  # a generated answer held back for human review
    cost_usd: float = 0.0
    counterfactual_usd: float = 0.0
    latency_ms: float = 0.0
    record_decision: bool = True  # False for events that were only logged (edits)
    relayed: bool = False  # the message is for the agent holding the conversation
    feedback: int | None = None  # a 1-5 rating after an agent resolved the conversation
    feedback_comment: str | None = None  # words given with (or before) the rating
    conversation_status: str | None = None  # set the conversation to this status
    set_pending: bool = False  # replace conversations.pending with `pending`
    pending: dict[str, Any] | None = None  # what the bot now waits for from the customer (None: nothing)
    resolution: tuple[str, int | None] | None = None  # (confirmed | more_help, the customer message answered)
    labelled: tuple[str, str, int | None] | None = None  # (text, intent, message id): a "did you mean" pick
    action_call: ActionRecord | None = None  # the shop API call an action made for this message
    language: str | None = None  # the message's language, when it could be told (it becomes the conversation's)


@dataclass(frozen=True)
class HandleResult:
    """What handling one inbound message produced, for the caller and for --json: the Outcome that
    was stored, with the ids storage gave it (no field copied from one to the other)."""

    conversation_id: int
    message_id: int
    text: str
    outcome: Outcome
    escalation_id: int | None = None

    @property
    def classification(self) -> Classification | None:
        return self.outcome.classification

    @property
    def signals(self) -> Signals:
        return self.outcome.signals

    @property
    def decision(self) -> Decision:
        return self.outcome.decision

    @property
    def reply(self) -> Reply | None:
        return self.outcome.reply

    @property
    def relayed(self) -> bool:  # the message is for the agent who holds the conversation
        return self.outcome.relayed

    @property
    def new_escalation(self) -> bool:  # agents must be told
        return bool(self.outcome.escalate and self.escalation_id)

    @property
    def cost_usd(self) -> float:
        return self.outcome.cost_usd

    @property
    def counterfactual_usd(self) -> float:
        return self.outcome.counterfactual_usd

    def as_dict(self) -> dict[str, Any]:
        c = self.classification
        return {
            "text": self.text,
            "intent": c.intent if c else None,
            "confidence": round(c.confidence, 4) if c else None,
            "stage": c.stage if c else None,
            "language": self.outcome.language,
            "signals": self.signals.names(),
            "route": self.decision.route.value,
            "rule": self.decision.rule,
            "reason": self.decision.reason,
            "degraded_from": self.decision.degraded_from.value if self.decision.degraded_from else None,
            "reply": self.reply.text if self.reply else None,
            "buttons": list(self.reply.buttons) if self.reply else [],
            "conversation_id": self.conversation_id,
            "escalation_id": self.escalation_id,
            "cost_usd": round(self.cost_usd, 6),
            "counterfactual_usd": round(self.counterfactual_usd, 6),
        }
