"""Routing policy: ordered rules from config, first match wins, every decision explains itself.

A rule's `when` lists conditions; all must hold. The reason names what matched, with the
figures ("confidence 0.62 < 0.90", "signal: anger 0.80"), so an analyst reading a
route_decisions row knows why without reading code.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.messages import Classification, Decision, Route, Signals
from bot.settings import Settings
from bot.settings_policy import Rule, When


@dataclass(frozen=True)
class Facts:
    """Everything a rule may look at, gathered before deciding."""

    classification: Classification
    signals: Signals
    channel: str
    has_answer: bool  # a canned answer exists for the intent
    article_score: float  # best knowledge-base score for the message (0 when none)
    can_clarify: bool = False  # the best few intents make a plausible "did you mean ...?"
    action: str | None = None  # the action the intent uses (actions: in the config)
    language: str = ""  # the customer's language (bot/language.py); "" when not known


def _signal_hits(names: list[str], s: Signals) -> list[str]:
    hits = []
    for name in names:
        if name in ("anger", "frustration", "distress"):
            if s.emotion_label == name:
                hits.append(f"{name} {s.emotion:.2f}")
        elif name in ("safety", "safety_concern"):
            if getattr(s, name):
                hits.append(f"{name.replace('_', ' ')}: {s.safety_why or getattr(s, name)}")
        elif name == "complex":
            if s.complexity >= 0.5:
                hits.append(f"complexity {s.complexity:.2f}")
        elif getattr(s, name, False):
            hits.append(name.replace("_", " "))
    return hits


def match(when: When, f: Facts, settings: Settings) -> list[str] | None:
    """The reasons each condition held, or None when one did not."""
    c, s = f.classification, f.signals
    why: list[str] = []

    def need(ok: bool, text: str) -> bool:
        if ok:
            why.append(text)
        return ok

    intent_cfg = settings.intents.get(c.intent)
    checks = [
        when.intent_in is None or need(c.intent in when.intent_in, f"intent {c.intent}"),
        when.intent_not_in is None or c.intent not in when.intent_not_in,
        when.out_of_scope is None or need(c.out_of_scope == when.out_of_scope,
                                          f"out of scope (top {c.confidence:.2f})" if when.out_of_scope else "in scope"),
        when.low_confidence is None or need(
            (c.confidence < settings.policy.confidence_threshold) == when.low_confidence,
            f"confidence {c.confidence:.2f} < {settings.policy.confidence_threshold:.2f}" if when.low_confidence
            else "confident"),
        when.confidence_below is None or need(c.confidence < when.confidence_below,
                                              f"confidence {c.confidence:.2f} < {when.confidence_below:.2f}"),
        when.confidence_at_least is None or need(c.confidence >= when.confidence_at_least,
                                                 f"confidence {c.confidence:.2f} >= {when.confidence_at_least:.2f}"),
        when.emotion_at_least is None or need(s.emotion >= when.emotion_at_least,
                                              f"emotion {s.emotion_label} {s.emotion:.2f}"),
        when.critical is None or need(s.critical == when.critical,
                                      (s.critical_why or f"critical intent {c.intent}") if when.critical
                                      else "not critical"),
        when.complexity_at_least is None or need(s.complexity >= when.complexity_at_least,
                                                 f"complexity {s.complexity:.2f}"),
        when.amount_over is None or need(s.amount > when.amount_over,
                                         f"a sum of {s.amount:,.2f} > {when.amount_over:,.2f}"),
        when.has_answer is None or need(f.has_answer == when.has_answer,
                                        "canned answer" if when.has_answer else "no canned answer"),
        when.has_action is None or need((f.action is not None) == when.has_action,
                                        f"action {f.action}" if f.action else "no action"),
        when.has_article is None or need(
            (f.article_score >= settings.knowledge.min_score) == when.has_article,
            f"article score {f.article_score:.2f}"),
        when.channel_in is None or need(f.channel in when.channel_in, f"channel {f.channel}"),
        when.language_in is None or need(f.language in when.language_in, f"language {f.language}"),
        when.can_clarify is None or need(f.can_clarify == when.can_clarify,
                                         "plausible candidates: " + ", ".join(f"{i} {p:.2f}" for i, p in c.top[:3])
                                         if when.can_clarify else "no plausible candidates"),
    ]
    if when.complex is not None:
        is_complex = bool(intent_cfg and intent_cfg.complex) or s.complexity >= 0.5
        label = f"complex intent {c.intent}" if intent_cfg and intent_cfg.complex else f"complexity {s.complexity:.2f}"
        checks.append(need(is_complex == when.complex, label if when.complex else "not complex"))
    if when.signal_any is not None:
        hits = _signal_hits(when.signal_any, s)
        checks.append(need(bool(hits), "signal: " + ", ".join(hits)))
    if when.signal_all is not None:
        hits = _signal_hits(when.signal_all, s)
        checks.append(need(len(hits) == len(when.signal_all), "signals: " + ", ".join(hits)))
    return why if all(checks) else None


def decide(f: Facts, settings: Settings) -> Decision:
    """The first rule whose conditions all hold decides the route."""
    for rule in settings.policy.rules:
        why = match(rule.when, f, settings)
        if why is not None:
            return Decision(route=rule.route, rule=rule.name, reason="; ".join(why) or "default rule")
    # no rule matched: the policy has no catch-all. Be safe: a person looks at it.
    return Decision(route=Route.HUMAN, rule="(none)", reason="no routing rule matched")


def rules_summary(rules: list[Rule]) -> list[str]:
    return [f"{i + 1}. {r.name} -> {r.route.value}" for i, r in enumerate(rules)]
