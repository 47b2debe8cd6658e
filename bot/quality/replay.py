"""`supportbot replay`: re-decide logged traffic with a candidate policy, threshold, model or catalog.

Every logged inbound message that the bot classified (not ones relayed to an agent, edits,
ratings or empty messages) goes through classify -> signals -> policy again with the
candidate settings. Nothing is sent and nothing is written to the database; only SELECTs.

What each message is replayed with:
  classification  the local model again (the candidate --model, or the one the config
                  serves). Where the cascade would ask the LLM (local confidence under the
                  threshold) the LLM's logged verdict is reused when there is one: the LLM is
                  never called. Its needs_human flag comes back from the logged signals.
  history         repeat contact from the log: this customer's logged intents within
                  signals.repeat_window_hours before the message, and the bot turns without a
                  person or small talk earlier in its conversation.
  cost            per message: the classify call (when the cascade would make one), the
                  answer call (LLM routes) and the agent summary (human route, when a cheap
                  tier exists), each from the message's logged token counts when that call was
                  logged, else estimated at ~4 characters a token, priced with the candidate
                  catalog's first model of the tier. "Logged" cost is what was really spent (model_calls).

The comparison is with the policy's logged decision (degraded_from when a route was
degraded: replay judges routing, not provider outages); the logged final route is shown too.
The candidate file is either a complete supportbot.yaml or an overlay holding some of:
policy, models, tiers, classifier, signals, knowledge, llm, budgets (each replaces that
section of the current config whole).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.classify.cascade import Cascade
from bot.db import models as m
from bot.quality.evaluate import decide
from bot.llm.answer import build_system
from bot.llm.pricing import CHARS_PER_TOKEN, MIN_ANSWER_TOKENS, cost_usd
from bot.llm.types import Usage
from bot.messages import Classification, Route
from bot.settings import ConfigError, Settings, load_settings

if TYPE_CHECKING:
    from bot.classify.protocol import Classifier
    from bot.history import History
    from bot.llm.types import ChatTurn
    from bot.pipeline.knowledge import Hit, KnowledgeBase

OVERLAY_KEYS = ("policy", "models", "tiers", "classifier", "signals", "knowledge", "llm", "budgets")
SHOWN_CHANGES = 20
CLASSIFY_OUTPUT_TOKENS = 40
SUMMARY_OUTPUT_TOKENS = 120
CLASSIFY_PROMPT_CHARS = 2500  # the intent list with descriptions, when no classify call was logged


def load_candidate(current: Settings, path: str | Path) -> Settings:
    """The candidate settings: a complete config file, or an overlay of sections on the current one."""
    from bot.settings import _check_rule_intents, _first_error, _read_yaml

    p = Path(path)
    raw = _read_yaml(p)
    if "company" in raw:
        return load_settings(p)
    for key in raw:
        if key not in OVERLAY_KEYS:
            raise ConfigError(p, str(key), f"a replay overlay may hold only {', '.join(OVERLAY_KEYS)} "
                                           f"(or be a complete config with company:)")
    base = _read_yaml(current.source)
    try:
        new = Settings.model_validate({**base, **raw, "source": current.source})
    except ValidationError as e:
        raise _first_error(p, e) from None
    new.intents, new.answers = current.intents, current.answers
    new.database.url = current.database.url
    new.guardrails.allowed_emails = list(current.guardrails.allowed_emails)
    _check_rule_intents(p, new)
    return new


@dataclass
class Logged:
    """One logged inbound message with what happened to it."""

    message_id: int
    conversation_id: int
    customer_id: int
    channel: str
    text: str
    created_at: datetime
    intent: str
    confidence: float
    top: tuple[tuple[str, float], ...]
    stage: str
    route: str | None
    decided: str | None  # the policy's route (degraded_from when it was degraded)
    rule: str | None
    signals: list[str]
    cost_usd: float
    calls: dict[str, Usage] = field(default_factory=dict)  # purpose -> tokens of the ok calls


@dataclass
class Replayed:
    logged: Logged
    intent: str
    confidence: float
    route: str
    rule: str
    reason: str
    cost_usd: float
    served: str = ""  # the route that would serve it here (after degradation: no key, no article...)

    @property
    def changed(self) -> bool:
        return self.route != self.logged.decided


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


async def load_logged(sessions: async_sessionmaker[AsyncSession], since: datetime,
                      history_hours: float) -> tuple[list[Logged], list[Logged], int]:
    """(messages since `since`, earlier ones within the history window, inbound messages skipped)."""
    start = since - timedelta(hours=history_hours)
    async with sessions() as s:
        rows = (await s.execute(
            select(m.Message.id, m.Message.conversation_id, m.Conversation.customer_id, m.Conversation.channel,
                   m.Message.text, m.Message.created_at, m.Classification.intent, m.Classification.confidence,
                   m.Classification.top, m.Classification.stage, m.RouteDecision.route,
                   m.RouteDecision.degraded_from, m.RouteDecision.rule, m.RouteDecision.signals,
                   m.RouteDecision.cost_usd)
            .join(m.Conversation, m.Conversation.id == m.Message.conversation_id)
            .join(m.Classification, m.Classification.message_id == m.Message.id)
            .outerjoin(m.RouteDecision, m.RouteDecision.message_id == m.Message.id)
            .where(m.Message.direction == "in", m.Message.created_at >= start)
            .order_by(m.Message.created_at, m.Message.id))).all()
        skipped = int(await s.scalar(
            select(func.count()).select_from(m.Message)
            .where(m.Message.direction == "in", m.Message.created_at >= since,
                   ~m.Message.id.in_(select(m.Classification.message_id)))) or 0)
        ids = [r[0] for r in rows if _aware(r[5]) >= since]
        calls: dict[int, dict[str, Usage]] = defaultdict(dict)
        spent: dict[int, float] = defaultdict(float)
        for chunk in range(0, len(ids), 500):
            for mid, purpose, i, o, c, cost, outcome in (await s.execute(
                    select(m.ModelCall.message_id, m.ModelCall.purpose, m.ModelCall.input_tokens,
                           m.ModelCall.output_tokens, m.ModelCall.cached_tokens, m.ModelCall.cost_usd,
                           m.ModelCall.outcome)
                    .where(m.ModelCall.message_id.in_(ids[chunk:chunk + 500])))).all():
                if mid is None:  # never: the query keeps only calls whose message_id is in ids
                    continue
                spent[mid] += float(cost or 0.0)
                if outcome == "ok":
                    u = calls[mid].get(purpose, Usage())
                    calls[mid][purpose] = Usage(u.input_tokens + i, u.output_tokens + o, u.cached_tokens + c)
    seen: set[int] = set()
    window: list[Logged] = []
    replay: list[Logged] = []
    for r in rows:
        if r[0] in seen:  # one row per message (a second classification row would repeat it)
            continue
        seen.add(r[0])
        item = Logged(message_id=r[0], conversation_id=r[1], customer_id=r[2], channel=r[3], text=r[4],
                      created_at=_aware(r[5]), intent=r[6], confidence=float(r[7]),
                      # the column holds [intent, probability] pairs (m.Classification.top)
                      top=tuple(cast("tuple[str, float]", tuple(x)) for x in (r[8] or [])), stage=r[9], route=r[10],
                      decided=r[11] or r[10], rule=r[12], signals=list(r[13] or []),
                      cost_usd=spent[r[0]] if r[0] in spent else float(r[14] or 0.0),
                      calls=calls.get(r[0], {}))
        (replay if item.created_at >= since else window).append(item)
    return replay, window, skipped


class LoggedVerdicts:
    """The cascade's LLM stage during replay: answers with what the LLM said then; never calls."""

    def __init__(self) -> None:
        self.current: Classification | None = None
        self.asked = False

    async def classify(self, text: str, history: list[ChatTurn], **_: Any) -> Classification | None:
        self.asked = True
        return self.current


def _history(item: Logged, earlier: list[Logged], settings: Settings) -> History:
    """What live handling would have read of the past (history_from, the same reading).
    Replay has no resolution verdicts, so "I need more help" earlier is not seen."""
    from bot.history import history_from

    small_talk = frozenset(n for n, i in settings.intents.items() if i.small_talk)
    mine = [e for e in earlier if e.conversation_id == item.conversation_id][-20:]
    return history_from([(e.route or "", e.rule or "", e.intent) for e in reversed(mine)], (), small_talk)


def _price(settings: Settings, tier: str, usage: Usage) -> float:
    names = settings.tiers.get(tier) or []
    entry = settings.models.get(names[0]) if names else None
    return cost_usd(entry, usage) if entry else 0.0


def estimate_cost(item: Logged, route: str, asked_llm: bool, settings: Settings, hits: list[Hit]) -> float:
    total = 0.0
    classify_tier = settings.llm.classify_tier
    if asked_llm and settings.tiers.get(classify_tier):
        usage = item.calls.get("classify") or Usage(
            -(-(CLASSIFY_PROMPT_CHARS + len(item.text)) // CHARS_PER_TOKEN), CLASSIFY_OUTPUT_TOKENS)
        total += _price(settings, classify_tier, usage)
    if route in (Route.CHEAP_LLM.value, Route.STRONG_LLM.value):
        tier = "strong" if route == Route.STRONG_LLM.value else "cheap"
        answer = item.calls.get("answer")
        if answer is None:
            articles = [(h.article.title, h.article.url, h.article.body) for h in hits]
            prompt = len(build_system(settings.company.system_prompt, articles)) + len(item.text)
            usage = Usage(-(-prompt // CHARS_PER_TOKEN), MIN_ANSWER_TOKENS)
        else:
            usage = answer
        total += _price(settings, tier, usage)
    if route == Route.HUMAN.value and settings.tiers.get(classify_tier):
        usage = item.calls.get("summary") or Usage(-(-(600 + len(item.text)) // CHARS_PER_TOKEN),
                                                    SUMMARY_OUTPUT_TOKENS)
        total += _price(settings, classify_tier, usage)
    return total


async def replay(items: list[Logged], earlier: list[Logged], settings: Settings, classifier: Classifier,
                 kb: KnowledgeBase) -> list[Replayed]:
    import os

    from bot.pipeline.builders import make_decider
    from bot.llm.router import tier_has_key

    remote = LoggedVerdicts()
    cascade = Cascade(classifier, remote, settings.policy.confidence_threshold)
    decider = make_decider(settings, cascade, kb, lambda tier: tier_has_key(settings, tier, os.environ))
    history: list[Logged] = list(earlier)
    out: list[Replayed] = []
    for item in items:
        remote.asked = False
        remote.current = Classification(
            intent=item.intent, confidence=item.confidence, top=item.top or ((item.intent, item.confidence),),
            stage="llm", needs_human="needs_human" in item.signals) if item.stage == "llm" else None
        d = await decide(item.text, decider, item.channel, _history(item, history, settings))
        hits = kb.search(item.text[: settings.classifier.max_chars], d.classification.intent,
                         settings.knowledge.top_k)
        # compared with the logged policy route (before degradation): decisions, not outages
        route = (d.decision.degraded_from or d.decision.route).value
        out.append(Replayed(item, d.classification.intent, d.classification.confidence, route, d.decision.rule,
                            d.decision.reason, estimate_cost(item, route, remote.asked, settings, hits),
                            served=d.decision.route.value))
        history.append(item)
    return out


# --- report ------------------------------------------------------------------------------------

def summary(results: list[Replayed], skipped: int) -> dict[str, Any]:
    n = len(results)
    old = Counter(r.logged.decided or "-" for r in results)
    final = Counter(r.logged.route or "-" for r in results)
    new = Counter(r.route for r in results)
    routes = [x.value for x in Route]
    return {
        "n": n, "skipped": skipped,
        "routes": {rt: {"logged_decided": old.get(rt, 0), "logged_final": final.get(rt, 0), "replayed": new.get(rt, 0)}
                   for rt in routes},
        "escalations": {"logged": final.get(Route.HUMAN.value, 0), "logged_decided": old.get(Route.HUMAN.value, 0),
                        "replayed": new.get(Route.HUMAN.value, 0)},
        "cost_usd": {"logged": round(sum(r.logged.cost_usd for r in results), 6),
                     "replayed_estimate": round(sum(r.cost_usd for r in results), 6)},
        "changed": sum(1 for r in results if r.changed),
        "transitions": {f"{a} -> {b}": k for (a, b), k in
                        Counter((r.logged.decided, r.route) for r in results if r.changed).most_common()},
    }


CSV_FIELDS = ("message_id", "created_at", "channel", "text", "logged_intent", "logged_confidence", "logged_route",
              "logged_final_route", "logged_rule", "new_intent", "new_confidence", "new_route", "new_rule",
              "new_reason", "logged_cost_usd", "new_cost_usd")


def changed_rows(results: list[Replayed]) -> list[dict[str, Any]]:
    return [{"message_id": r.logged.message_id, "created_at": r.logged.created_at.isoformat(timespec="seconds"),
             "channel": r.logged.channel, "text": r.logged.text, "logged_intent": r.logged.intent,
             "logged_confidence": round(r.logged.confidence, 4), "logged_route": r.logged.decided,
             "logged_final_route": r.logged.route, "logged_rule": r.logged.rule, "new_intent": r.intent,
             "new_confidence": round(r.confidence, 4), "new_route": r.route, "new_rule": r.rule,
             "new_reason": r.reason, "logged_cost_usd": round(r.logged.cost_usd, 6),
             "new_cost_usd": round(r.cost_usd, 6)} for r in results if r.changed]


def to_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def render(s: dict[str, Any], changes: list[dict[str, Any]], since: date | datetime, candidate: str, shown: int = SHOWN_CHANGES) -> str:
    out = [f"replay of {s['n']} logged messages since {since.isoformat()} with {candidate}"
           f" ({s['skipped']} inbound messages not classified by the bot were left out: relayed to agents, "
           f"ratings, edits, empty)" if s["skipped"] else
           f"replay of {s['n']} logged messages since {since.isoformat()} with {candidate}", ""]
    w = out.append
    n = s["n"] or 1
    w(f"  {'route':<12}{'logged':>16}{'replayed':>16}   (logged final, after degradation)")
    for rt, v in s["routes"].items():
        w(f"  {rt:<12}{v['logged_decided']:>8} {v['logged_decided'] / n:>6.1%}{v['replayed']:>8} "
          f"{v['replayed'] / n:>6.1%}   ({v['logged_final']})")
    e, c = s["escalations"], s["cost_usd"]
    w(f"  {'escalations':<12}{e['logged_decided']:>16}{e['replayed']:>16}   ({e['logged']} really escalated)")
    w(f"  {'cost USD':<12}{c['logged']:>16.4f}{c['replayed_estimate']:>16.4f}   (replayed: estimated)")
    w("")
    w(f"{s['changed']} messages would change route" + (":" if s["changed"] else "."))
    for t, k in s["transitions"].items():
        w(f"  {k:>5}  {t}")
    if changes:
        w("")
        w(f"  {'message':>8}  {'logged':<11}{'replayed':<11}{'rule':<18}text")
        for r in changes[:shown]:
            text = r["text"].replace("\n", " ")
            w(f"  {r['message_id']:>8}  {r['logged_route'] or '-':<11}{r['new_route']:<11}{r['new_rule'][:17]:<18}"
              f"{text[:70] + ('...' if len(text) > 70 else '')}")
        if len(changes) > shown:
            w(f"  ... and {len(changes) - shown} more (--csv FILE writes them all)")
    return "\n".join(out)
