"""What matters first in the agents' queue (issue 18): an escalation's priority from why it went to a
person, the SLA clock of an untaken one, and its reason as one sentence a person reads at a glance.

The decision's reason ("signal: safety: electric shock: 'gave me a shock'", "confidence 0.55 < 0.90;
degraded strong_llm -> human: no LLM provider configured ...") stays beside the sentence, as the
technical detail. Priority follows the escalation kind (bot/messages.py EscalationKind): critical and
safety cases first, then strong emotion and repeat contacts, then a customer who asked for a person or
a draft to check, then the bot being unsure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from bot.messages import EscalationKind as K

PRIORITY: dict[str, int] = {K.CRITICAL: 1, K.SAFETY: 1, K.SIGNAL: 2, K.ASKED: 3, K.REVIEW: 3, K.APPROVAL: 3,
                            K.DEGRADED: 4, K.CONFIDENCE: 4, K.OUT_OF_SCOPE: 4, K.POLICY: 4}
PRIORITY_LABEL = {1: "urgent", 2: "high", 3: "normal", 4: "low"}

_CRITICAL_INTENT = re.compile(r"critical intent (\w+)")
_CRITICAL_PHRASE = re.compile(r"critical phrase '([^']+)'")
_SAFETY = re.compile(r"safety(?: concern)?: (possible )?([^:;']+?)(?::|;|$)")
_EMOTION = re.compile(r"\b(anger|distress|frustration) (\d\.\d+)")
_CONFIDENCE = re.compile(r"confidence (\d\.\d+) <")
_NO_MODEL = "no LLM provider configured"


def priority(kind: str) -> int:
    """1 (urgent) .. 4 (low); an unknown kind is normal."""
    return PRIORITY.get(kind, 3)


def headline(kind: str, reason: str) -> str:
    """One sentence for the agent: why this conversation is waiting for a person. It may quote the reason
    (a critical phrase the customer wrote): give it the reason as agents may see it (mask_for_agents)."""
    if kind == K.CRITICAL:
        if m := _CRITICAL_INTENT.search(reason):
            return f"Critical case: {m.group(1).replace('_', ' ')}"
        if m := _CRITICAL_PHRASE.search(reason):
            return f"Critical case: the customer wrote \u201c{m.group(1)}\u201d"
        return "Critical case"
    if kind == K.SAFETY:
        m = _SAFETY.search(reason)
        what = m.group(2).strip() if m else "safety or money"
        possible = bool(m and m.group(1)) or "safety concern" in reason
        return f"Possible {what}: check it" if possible else f"Safety or money case: {what}"
    if kind == K.ASKED:
        return "The customer asked for a person"
    if kind == K.REVIEW:
        return "A drafted answer waits for your check before the customer sees it"
    if kind == K.APPROVAL:
        what = reason.partition(": ")[2] or reason
        return f"Approve or deny: {what.replace('_', ' ')}"
    if kind == K.SIGNAL:
        return _signal(reason)
    if kind == K.DEGRADED and _NO_MODEL in reason:
        if "complexity" in reason:
            return "A complex case, and no AI model is configured to untangle it"
        return "No AI model is configured, so this went to a person"
    if kind == K.DEGRADED:
        return "The bot could not answer this one (a step failed), so it came to you"
    if kind == K.OUT_OF_SCOPE:
        return "Not something the bot knows about"
    if kind == K.CONFIDENCE:
        m = _CONFIDENCE.search(reason)
        return f"Unsure what the customer wants ({float(m.group(1)):.0%})" if m else "Unsure what the customer wants"
    return "The routing policy sends this to a person"


def _signal(reason: str) -> str:
    if m := _EMOTION.search(reason):
        mood = {"anger": "Angry", "distress": "Distressed", "frustration": "Very frustrated"}[m.group(1)]
        return f"{mood} customer ({float(m.group(2)):.0%})"
    if "more help" in reason or "repeat contact" in reason:
        return "Came back: the bot's answer did not settle it"
    if "chasing" in reason:
        return "An earlier attempt did not settle it"
    if "needs human" in reason:
        return "The AI model judged that a person should handle this"
    return "Signals say a person should handle this"


@dataclass(frozen=True)
class Clock:
    left_s: int  # seconds until the SLA is missed (negative: overdue by that much)
    overdue: bool


def sla_clock(created_at: datetime, now: datetime, sla_seconds: float) -> Clock:
    """How long an untaken escalation has left before handoff.sla_seconds is missed."""
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=timezone.utc)
    left = int(sla_seconds - (now - created_at).total_seconds())
    return Clock(left, left < 0)


def clock_text(clock: Clock) -> str:
    """'4 min left', 'overdue by 12 min'."""
    minutes = max(1, round(abs(clock.left_s) / 60))
    return f"overdue by {minutes} min" if clock.overdue else f"{minutes} min left"
