"""Learning from people: `supportbot label` and the examples `supportbot train --include-feedback` uses.

`label` walks the logged customer messages the classifier was least sure of (top
probability under the threshold, or out of scope) that nobody has labelled yet, newest
first; for each, the person picks an intent and it is stored in labelled_examples
(source `label`). The loop reads lines from any input function, so it is scripted and
tested through stdin.

Feedback examples for training, all from the database:
  labelled_examples   source review (the intent an agent chose when reviewing a draft),
                      label (this command) and agent
  approved drafts     an agent approved or edited a generated answer without choosing an
                      intent: the message's logged intent is taken as confirmed
Examples whose intent is no longer in the intents file are left out (and counted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import models as m
from bot.messages import OUT_OF_SCOPE

HELP = "a number, an intent name (or its unique start), o = out_of_scope, s = skip, ? = list intents, q = quit"


@dataclass(frozen=True)
class Candidate:
    message_id: int
    text: str
    intent: str
    confidence: float
    top: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    source: str  # review | label | agent | approved
    message_id: int | None = None


async def candidates(sessions: async_sessionmaker[AsyncSession], threshold: float, limit: int) -> list[Candidate]:
    """Low-confidence classified customer messages without a label yet, newest first, one per text."""
    labelled = exists().where(m.LabelledExample.message_id == m.Message.id)
    async with sessions() as s:
        rows = (await s.execute(
            select(m.Message.id, m.Message.text, m.Classification.intent, m.Classification.confidence,
                   m.Classification.top)
            .join(m.Classification, m.Classification.message_id == m.Message.id)
            .where(m.Message.direction == "in", ~labelled,
                   (m.Classification.confidence < threshold) | (m.Classification.intent == OUT_OF_SCOPE))
            .order_by(m.Message.id.desc()).limit(limit * 5))).all()
    out, seen = [], set()
    for mid, text, intent, conf, top in rows:
        key = text.strip().lower()
        if not key or key in seen:
            continue
        seen.add(key)
        out.append(Candidate(mid, text, intent, float(conf), tuple((str(a), float(b)) for a, b in (top or []))))
        if len(out) >= limit:
            break
    return out


async def save_label(sessions: async_sessionmaker[AsyncSession], c: Candidate, intent: str,
                     source: str = "label") -> None:
    async with sessions.begin() as s:
        s.add(m.LabelledExample(text=c.text, intent=intent, source=source, message_id=c.message_id))


def parse_choice(answer: str, c: Candidate, intents: list[str]) -> tuple[str, str | None]:
    """('label', intent) | ('skip', None) | ('quit', None) | ('list', None) | ('error', why)."""
    a = answer.strip()
    low = a.lower()
    if low in ("q", "quit", "exit"):
        return "quit", None
    if low in ("s", "skip", ""):
        return "skip", None
    if low in ("?", "help", "list"):
        return "list", None
    if low in ("o", "oos", OUT_OF_SCOPE):
        return "label", OUT_OF_SCOPE
    if a.isdigit():
        i = int(a)
        return ("label", c.top[i - 1][0]) if 1 <= i <= len(c.top) else ("error", f"no candidate number {i}")
    if a in intents:
        return "label", a
    starts = [n for n in intents if n.startswith(low)]
    if len(starts) == 1:
        return "label", starts[0]
    if starts:
        return "error", f"{a!r} could be {', '.join(starts[:6])}"
    return "error", f"unknown intent {a!r} (? lists them)"


async def label_loop(sessions: async_sessionmaker[AsyncSession], intents: list[str], threshold: float, limit: int,
                     read: Callable[[], str | None], write: Callable[[str], None]) -> dict[str, int]:
    """The interactive loop; `read` returns the next answer line, None at the end of input."""
    todo = await candidates(sessions, threshold, limit)
    stats = {"shown": 0, "labelled": 0, "skipped": 0}
    if not todo:
        write(f"nothing to label: no unlabelled message under confidence {threshold:.2f}")
        return stats
    write(f"{len(todo)} messages the classifier was unsure of (under {threshold:.2f}). Answer with {HELP}.")
    for n, c in enumerate(todo, 1):
        stats["shown"] += 1
        write("")
        write(f"[{n}/{len(todo)}] message #{c.message_id}: {c.text[:500]}")
        write("  model: " + "  ".join(f"{i}) {name} {p:.2f}" for i, (name, p) in enumerate(c.top, 1))
              + (f"  (classified: {c.intent})" if c.intent == OUT_OF_SCOPE else ""))
        while True:
            write("  intent? ")
            line = read()
            if line is None:
                write("")
                return stats
            action, value = parse_choice(line, c, intents)
            if action == "list":
                write("  " + ", ".join(intents))
                continue
            if action == "error":
                write(f"  {value}")
                continue
            break
        if action == "quit":
            break
        if action == "skip":
            stats["skipped"] += 1
            continue
        await save_label(sessions, c, value or OUT_OF_SCOPE)
        stats["labelled"] += 1
        write(f"  saved: {value}")
    return stats


async def feedback_examples(sessions: async_sessionmaker[AsyncSession], known_intents: set[str]) -> tuple[list[Example], int]:
    """Every example people gave (see the module docstring), and how many were left out as unknown."""
    async with sessions() as s:
        labelled = (await s.execute(
            select(m.LabelledExample.text, m.LabelledExample.intent, m.LabelledExample.source,
                   m.LabelledExample.message_id).order_by(m.LabelledExample.id))).all()
        approved = (await s.execute(
            select(m.Message.text, m.Classification.intent, m.Message.id)
            .join(m.Escalation, m.Escalation.message_id == m.Message.id)
            .join(m.Classification, m.Classification.message_id == m.Message.id)
            .where(m.Escalation.review_outcome.in_(("approved", "edited")), m.Escalation.agent_intent.is_(None),
                   ~exists().where(m.LabelledExample.message_id == m.Message.id))
            .order_by(m.Escalation.id))).all()
    known = set(known_intents) | {OUT_OF_SCOPE}
    out: list[Example] = []
    dropped = 0
    latest: dict[int, int] = {}  # message id -> index: a later label of the same message wins
    for text, intent, source, mid in labelled:
        if intent not in known:
            dropped += 1
            continue
        ex = Example(text, intent, source, mid)
        if mid is not None and mid in latest:
            out[latest[mid]] = ex
            continue
        if mid is not None:
            latest[mid] = len(out)
        out.append(ex)
    for text, intent, mid in approved:
        if intent == OUT_OF_SCOPE or mid in latest:
            continue
        if intent not in known:
            dropped += 1
            continue
        latest[mid] = len(out)
        out.append(Example(text, intent, "approved", mid))
    return out, dropped
