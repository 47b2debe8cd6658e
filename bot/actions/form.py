"""The values an action needs, gathered over one or several turns.

The customer's words are searched with each parameter's pattern, in the order the action lists them;
a value found is taken out of the text before the next pattern looks, so the digits of an order
number are not read again as a postcode. A missing value is asked for (Param.ask); the
conversation's `pending` state remembers what was asked and what is known, so a restart in the
middle loses nothing. "never mind" ends the form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.settings_actions import Action, Param

CANCEL = re.compile(r"^\s*(?:no\s*,?\s*)?(?:never\s*mind|nevermind|forget it|cancel( that| it)?|stop|not now|"
                    r"leave it|no thanks|no thank you|doesn'?t matter|skip( it)?)\b[\s.!]*$", re.I)


CONFIRM = "confirm"  # Form.asking while the bot waits for the customer's yes or no to a write
YES = re.compile(r"^\s*(?:y|yes|yep|yeah|yup|sure|ok|okay|please|yes please|go ahead|do it|confirm(?:ed)?|"
                 r"that'?s right|correct)\b[\s,.!]*(?:please|thanks|thank you|cancel it|do it|go ahead)?[\s.!]*$", re.I)
NO = re.compile(r"^\s*(?:n|no|nope|nah|don'?t|do not|keep it|no keep it|wait|hold on)\b[\s,.!]*(?:thanks|thank you|"
                r"keep it|don'?t)?[\s.!]*$", re.I)


def is_cancel(text: str) -> bool:
    return bool(CANCEL.match(text))


def confirmation(text: str, buttons: tuple[str, str]) -> bool | None:
    """True for a yes (or the first button), False for a no (or the second), None for anything else."""
    t = " ".join(text.lower().split()).strip(" .!")
    if t == buttons[0].lower() or YES.match(text):
        return True
    if t == buttons[1].lower() or NO.match(text) or is_cancel(text):
        return False
    return None


def find(param: Param, text: str, asked: bool = False) -> tuple[str, str] | None:
    """(value, the text with the match taken out) or None. `asked`: the text answers this param's question."""
    pattern = (param.when_asked or param.pattern) if asked else param.pattern
    m = re.search(pattern, text, re.IGNORECASE) if pattern else None
    if m is None:
        return None
    groups = [m.group(0), *(g or "" for g in m.groups())]
    try:
        value = param.value.format(*groups).strip()
    except IndexError:  # value names a group the pattern does not have
        value = m.group(0)
    if param.upper:
        value = value.upper()
    value = " ".join(value.split())
    return (value, text[: m.start()] + " " + text[m.end():]) if value else None


def extract(action: Action, text: str, known: dict[str, str] | None = None, asking: str | None = None) -> dict[str, str]:
    """The values known before, plus those this message gives (a later mention does not overwrite one
    given); `asking`: the parameter the bot's last question asked for."""
    values = dict(known or {})
    rest = text
    for name, param in action.params.items():  # a value given before and said again is taken out first
        if name in values and (again := find(param, rest)) is not None:
            rest = again[1]
    for name, param in action.params.items():
        if name in values:
            continue
        got = find(param, rest, asked=name == asking)
        if got is not None:
            values[name], rest = got
    return values


def missing(action: Action, values: dict[str, str]) -> str | None:
    """The first parameter still to ask for, or None when the call can be made."""
    return next((name for name in action.params if name not in values), None)


@dataclass(frozen=True)
class Form:
    """A form in progress, as conversations.pending holds it."""

    action: str
    values: dict[str, str]
    asking: str  # the parameter the last question asked for
    asks: int  # how many times the bot has asked for it
    text: str  # the customer's original request
    intent: str
    message_id: int | None
    confirmed: bool = False  # the customer said yes to the write (set for the turn that makes the call)
    looked_up: dict[str, Any] | None = None  # the lookup's answer (Action.lookup), once it was read

    def pending(self) -> dict[str, Any]:
        return {"kind": "action", "action": self.action, "values": self.values, "asking": self.asking,
                "asks": self.asks, "text": self.text[:2000], "intent": self.intent, "message_id": self.message_id,
                **({"lookup": self.looked_up} if self.looked_up is not None else {})}

    @classmethod
    def of(cls, pending: dict[str, Any]) -> "Form | None":
        if pending.get("kind") != "action" or not isinstance(pending.get("values"), dict):
            return None
        return cls(action=str(pending.get("action")), values={str(k): str(v) for k, v in pending["values"].items()},
                   asking=str(pending.get("asking")), asks=int(pending.get("asks") or 1),
                   text=str(pending.get("text") or ""), intent=str(pending.get("intent") or ""),
                   message_id=pending.get("message_id"),
                   looked_up=pending["lookup"] if isinstance(pending.get("lookup"), dict) else None)


@dataclass(frozen=True)
class Waiting:
    """A write over its approval limit, waiting for an agent, as conversations.pending holds it."""

    action: str
    values: dict[str, str]
    looked_up: dict[str, Any] | None
    amount: float
    limit: float
    text: str  # the customer's original request
    intent: str
    message_id: int | None

    def pending(self) -> dict[str, Any]:
        return {"kind": "approval", "action": self.action, "values": self.values, "lookup": self.looked_up,
                "amount": self.amount, "limit": self.limit, "text": self.text[:2000], "intent": self.intent,
                "message_id": self.message_id}

    @classmethod
    def of(cls, pending: dict[str, Any] | None) -> "Waiting | None":
        if not pending or pending.get("kind") != "approval" or not isinstance(pending.get("values"), dict):
            return None
        try:
            amount, limit = float(pending.get("amount") or 0), float(pending.get("limit") or 0)
        except (TypeError, ValueError):
            return None
        return cls(action=str(pending.get("action")), values={str(k): str(v) for k, v in pending["values"].items()},
                   looked_up=pending["lookup"] if isinstance(pending.get("lookup"), dict) else None,
                   amount=amount, limit=limit, text=str(pending.get("text") or ""),
                   intent=str(pending.get("intent") or ""), message_id=pending.get("message_id"))
