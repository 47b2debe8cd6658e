"""Reading the customer's answer to what the bot asked: a "did you mean" pick, a verdict on an
answer ("That helped" / "I need more help", or the same in words), a rating after an agent.

Pure functions over the message text and the conversation's `pending` state; the
orchestrator decides what each answer leads to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.settings import Settings

WORDS = re.compile(r"[a-z0-9']+")
HELPED = ("that helped", "it helped", "helped", "yes", "yes thanks", "yes thank you", "yep", "yeah", "thanks",
          "thank you", "thx", "ty", "perfect", "great", "great thanks", "brilliant", "cheers", "solved", "sorted",
          "that works", "it worked", "works", "got it", "ok thanks", "okay thanks", "ok thank you", "all good",
          "that answers it", "that's it", "thats it", "that's what i needed", "👍", "🙏", "fine thanks")
MORE_HELP = ("i need more help", "more help", "no", "nope", "not really", "no it didn't", "didn't help",
             "did not help", "doesn't help", "does not help", "that didn't help", "that doesn't help",
             "not helpful", "still not working", "still doesn't work", "still not", "doesn't work",
             "that's not it", "thats not it", "not what i asked", "not what i meant", "wrong answer",
             "that's wrong", "no that's not it", "that does not answer my question", "doesn't answer my question",
             "you didn't answer my question", "no thanks that doesn't help", "not quite")


def _norm(text: str) -> str:
    t = text.strip().lower().replace("’", "'")
    t = re.sub(r"[.!?,;:]+$", "", t).strip()
    return re.sub(r"\s+", " ", t)


def verdict(text: str, settings: Settings) -> str | None:
    """"confirmed", "more_help", or None when the message is something else (a new question)."""
    t = _norm(text)
    if not t:
        return None
    if t in {_norm(x) for x in settings.texts_of("resolution.helped")} or t in HELPED:
        return "confirmed"
    if t in {_norm(x) for x in settings.texts_of("resolution.more_help")} or t in MORE_HELP:
        return "more_help"
    words = WORDS.findall(t)
    # "no, still not working", "nope that's not it": a short message that starts with a more-help phrase
    if len(words) <= 8 and any(t.startswith(p + " ") or t.startswith(p + ",") for p in MORE_HELP):
        return "more_help"
    if len(words) <= 5 and any(t.startswith(p + " ") or t.startswith(p + ",") for p in HELPED if len(p) > 3):
        return "confirmed"
    return None


@dataclass(frozen=True)
class Pick:
    intent: str | None  # None: "something else"
    label: str


def pick(text: str, pending: dict[str, Any], settings: Settings) -> Pick | None:
    """The option the customer chose from a "did you mean" (its label, its number, or
    "something else"), or None when the message is not an answer to it."""
    t = _norm(text)
    options, labels = list(pending.get("options") or []), list(pending.get("labels") or [])
    others = {_norm(x) for x in settings.texts_of("clarify.something_else")}
    for intent, label in zip(options, labels):
        if t == _norm(label) or t == intent:
            return Pick(intent, label)
    if t.isdigit() and 1 <= int(t) <= len(options) + 1:
        n = int(t)
        return Pick(options[n - 1], labels[n - 1]) if n <= len(options) else Pick(None, settings.clarify.something_else)
    if t in others or t in ("none", "none of these", "none of them", "neither", "other", "something different", "no"):
        return Pick(None, settings.clarify.something_else)
    return None


RATING_WORD = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
RATING = re.compile(r"^\s*([1-5])\s*(?:/\s*5|out of 5|stars?)?\s*(?:[.,;:!\-–—]+\s*|\s+)?(.*)$", re.I | re.S)


def rating(text: str) -> tuple[int | None, str | None]:
    """(1-5, comment) from an answer to the rating question: "4", "4/5", "****", "⭐⭐⭐",
    "2 - took too long"; (None, text) for words without a number: a comment on the rating."""
    t = text.strip()
    stars = t.replace(" ", "")
    if stars and set(stars) <= {"*", "⭐"} and len(stars) <= 5:
        return len(stars), None
    if t.lower() in RATING_WORD:
        return RATING_WORD[t.lower()], None
    m = RATING.match(t)
    if m and (len(t) == 1 or not t[1:2].isdigit()):
        rest = m.group(2).strip()
        return int(m.group(1)), rest or None
    return None, t or None
