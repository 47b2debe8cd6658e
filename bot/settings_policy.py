"""The `policy:` section of supportbot.yaml: routing rules and their conditions (kept apart from
bot/settings.py to keep both small). bot/pipeline/policy.py evaluates them; bot/pipeline/signals.py names the signals."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.messages import Route

SIGNAL_NAMES = ("anger", "frustration", "distress", "wants_human", "needs_human", "repeat_contact", "more_help", "critical",
                "safety", "safety_concern", "urgent", "chasing", "injection", "complex", "gibberish")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class When(Strict):
    """Conditions of one rule; all given ones must hold."""

    intent_in: list[str] | None = None
    intent_not_in: list[str] | None = None
    out_of_scope: bool | None = None
    low_confidence: bool | None = None  # confidence under policy.confidence_threshold
    confidence_below: float | None = Field(default=None, ge=0, le=1)
    confidence_at_least: float | None = Field(default=None, ge=0, le=1)
    signal_any: list[str] | None = None  # at least one of these signals
    signal_all: list[str] | None = None  # every one of these signals
    emotion_at_least: float | None = Field(default=None, ge=0, le=1)
    critical: bool | None = None
    complex: bool | None = None  # intent flagged complex, or message complexity >= 0.5
    complexity_at_least: float | None = Field(default=None, ge=0, le=1)
    # the message names a sum of money over this ("€530 taken twice"): e.g. the bot's own limit,
    # guardrails.refund_limit, above which it may not promise money back
    amount_over: float | None = Field(default=None, ge=0)
    has_answer: bool | None = None  # a canned answer exists for the intent
    has_action: bool | None = None  # the intent uses an action (actions.<name>.intents)
    has_article: bool | None = None  # a KB article scores above knowledge.min_score
    channel_in: list[str] | None = None
    language_in: list[str] | None = None  # the customer's language (language.detect in the config)
    can_clarify: bool | None = None  # the best few intents make a plausible "did you mean ...?"

    @field_validator("signal_any", "signal_all")
    @classmethod
    def _known_signals(cls, v: list[str] | None) -> list[str] | None:
        for s in v or []:
            if s not in SIGNAL_NAMES:
                raise ValueError(f"unknown signal {s!r}; known: {', '.join(SIGNAL_NAMES)}")
        return v


DegradeTo = Literal["strong_llm", "cheap_llm", "template", "knowledge", "clarify", "human"]


class Rule(Strict):
    name: str
    when: When = When()
    route: Route
    degrade_to: list[DegradeTo] | None = None  # this rule's own fallbacks (default: policy.degrade_to)
    # a model's answer under this rule is a draft a person approves before the customer sees it,
    # whatever its confidence (policy exceptions, several troubles in one story)
    review: bool = False


class Policy(Strict):
    confidence_threshold: float = Field(0.90, ge=0, le=1)  # under it: not sure enough to answer
    review_threshold: float = Field(0.90, ge=0, le=1)  # generated answers under it go to review
    rules: list[Rule] = Field(min_length=1)
    # when an LLM route cannot be served (no provider, all down, budget): try these in order
    # ("clarify" here means: ask the customer to rephrase, once)
    degrade_to: list[DegradeTo] = ["knowledge", "clarify", "human"]
