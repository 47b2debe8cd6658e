"""The decision path for one customer message, the only copy of it.

    guardrails.inbound -> classify (cascade) -> signals -> knowledge search -> policy -> plan

Live handling (bot/pipeline/orchestrator.py), `supportbot eval` and `supportbot replay` all call
Decider.choose, so what eval measures is what customers get. `plan` settles what can be
known before answering: a route that cannot be served here (no canned answer, no article
good enough, no LLM key, a "did you mean" already asked) walks policy.degrade_to, and the
decision says why. What only answering can show (an LLM call that fails) degrades later,
in the respond step, through the same `fallback`.

The ladder (DESIGN.md): confident -> answer; unsure -> clarify with the top intents, or the
cheap LLM; then the knowledge base; then ask to rephrase once; a person when the rungs are
used up. Signals that mean a person (critical, safety, wants a person, strong emotion) skip it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from bot.actions import form as action_form
from bot.pipeline import guardrails

from bot.pipeline import policy

from bot.pipeline import signals
from bot.classify import thread as model_thread
from bot.classify.cascade import Cascade
from bot.pipeline.knowledge import Hit, KnowledgeBase
from bot.llm.types import ChatTurn, Spend
from bot.messages import OUT_OF_SCOPE, Classification, Decision, Route, Signals
from bot.settings import Settings
from bot.history import History

ANSWER_ROUTES = frozenset({Route.TEMPLATE, Route.KNOWLEDGE, Route.ACTION, Route.CHEAP_LLM, Route.STRONG_LLM})


@dataclass(frozen=True)
class Ladder:
    """What this conversation already tried for the question at hand."""

    clarified: bool = False  # the bot asked "did you mean ...?" last turn
    rephrased: bool = False  # the bot asked the customer to say it in other words last turn


@dataclass
class Choice:
    """Everything decided about one message, before anything is said or stored."""

    text: str
    redaction: guardrails.Redaction
    injection: list[str]
    classification: Classification
    signals: Signals
    hits: list[Hit]
    facts: policy.Facts
    decision: Decision
    rung: str | None = None  # for the clarify route: "clarify" (did you mean) or "rephrase"
    options: tuple[tuple[str, str], ...] = ()  # (intent, button label) a "did you mean" offers
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # guardrail events so far
    language: str = ""  # the customer's language: this message's when it could be told, else the conversation's
    detected: str | None = None  # this message's language, when bot/language.py could tell it


def label_of(settings: Settings, intent: str, language: str = "") -> str:
    """What a "did you mean" button says for the intent, in `language` when language.labels gives it."""
    translated = settings.language.labels.get(language, {}).get(intent)
    if translated:
        return translated
    cfg = settings.intents.get(intent)
    return (cfg.label if cfg and cfg.label else intent.replace("_", " ").capitalize())


def clarify_options(c: Classification, settings: Settings, language: str = "") -> tuple[tuple[str, str], ...]:
    """The intents a "did you mean" may offer: the best few, each plausible, together likely; labelled in
    the customer's `language`."""
    cfg = settings.clarify
    picked = [(i, p) for i, p in c.top[: cfg.max_options] if i != OUT_OF_SCOPE and i in settings.intents
              and p >= cfg.min_option and not settings.intents[i].small_talk]
    if not picked or sum(p for _, p in picked) < cfg.min_total:
        return ()
    return tuple((i, label_of(settings, i, language)) for i, _ in picked)


def startable(settings: Settings, intent: str, text: str) -> str | None:
    """The intent's action, when this message may start it (Action.start)."""
    name = settings.action_for(intent)
    if name is None or settings.actions[name].start == "always":
        return name
    return name if action_form.extract(settings.actions[name], text) else None


def servable(route: Route, f: policy.Facts, settings: Settings, llm_available: Callable[[str], bool],
             ladder: Ladder, options: tuple[tuple[str, str], ...], primary: bool) -> str | None:
    """None when `route` can answer this message here, else why not."""
    if route is Route.TEMPLATE and not f.has_answer:
        return "no canned answer for this intent"
    if route is Route.ACTION and f.action is None:
        return "no action for this intent"
    if route is Route.KNOWLEDGE and f.article_score < settings.knowledge.min_score:
        return "no knowledge-base article matches well enough"
    if route.is_llm:
        tier = "strong" if route is Route.STRONG_LLM else "cheap"
        if not llm_available(tier):
            return f"no LLM provider configured for tier {tier} (no API key set)"
    if route is Route.CLARIFY:
        if primary and options and not ladder.clarified:
            return None
        if f.classification.out_of_scope and not f.signals.gibberish:
            return None  # off topic: "I can only help with ..." each time; a person can't help with the weather
        if ladder.rephrased:
            return "already asked to rephrase: the rungs are used up"
        if primary and options:
            return "already asked \"did you mean\""
    return None


def fallback(decision: Decision, f: policy.Facts, settings: Settings, llm_available: Callable[[str], bool],
             ladder: Ladder, why: str, tried: frozenset[Route] = frozenset()) -> Decision:
    """The first route of the rule's degrade_to (else policy.degrade_to) that can serve the message,
    else a person."""
    rule = next((r for r in settings.policy.rules if r.name == decision.rule), None)
    for option in (rule.degrade_to if rule and rule.degrade_to is not None else settings.policy.degrade_to):
        target = Route(option)
        if target is decision.route or target in tried:
            continue
        if servable(target, f, settings, llm_available, ladder, (), primary=False) is None:
            return decision.degrade(target, why)
    return decision.degrade(Route.HUMAN, why)


def plan(decision: Decision, f: policy.Facts, settings: Settings, llm_available: Callable[[str], bool],
         ladder: Ladder, options: tuple[tuple[str, str], ...], events: list[tuple[str, dict[str, Any]]]) -> tuple[Decision, str | None]:
    """The route that will serve the message (a degradation is added to `events`), and for the
    clarify route which rung: "clarify" (did you mean, with the options) or "rephrase" (say it in
    other words, or: I only help with ...)."""
    why = servable(decision.route, f, settings, llm_available, ladder, options, primary=True)
    out = decision if why is None else fallback(decision, f, settings, llm_available, ladder, why)
    if why is not None:
        events.append(("degraded", {"from": decision.route.value, "to": out.route.value, "why": why}))
    if out.route is not Route.CLARIFY:
        return out, None
    if out.degraded_from is None and options and not ladder.clarified:
        return out, "clarify"
    return replace(out, reason=f"{out.reason}; asked to rephrase"), "rephrase"


def vocabulary_of(settings: Settings, kb: KnowledgeBase) -> frozenset[str]:
    """The words the shop's own data uses (intents' examples, answers, articles): a message with
    none of them, nor an everyday English word, is gibberish."""
    words: set[str] = set()
    for intent in settings.intents.values():
        for example in intent.examples:
            words.update(signals.TOKEN.findall(example.lower()))
    for answer in settings.answers.values():
        words.update(signals.TOKEN.findall(answer.lower()))
    for article in kb.articles:
        words.update(signals.TOKEN.findall(f"{article.title} {article.body}".lower()))
    return frozenset(w for w in words if len(w) > 1)


@dataclass(frozen=True)
class Readers:
    """The models by meaning the signals use (None: not built, e.g. no encoder package)."""

    safety: "signals.SafetyCheck | None" = None  # bot/classify/safety.py
    anger: Callable[[str], float] | None = None  # P(angry), bot/classify/readers.py
    complexity: Callable[[str], float] | None = None  # P(a complex case), bot/classify/readers.py
    person: Callable[[str], float] | None = None  # P(asks for a person), bot/classify/readers.py
    language: Callable[[str], str | None] | None = None  # the message's language, bot/language.py


@dataclass(frozen=True)
class Reading:
    safety: "signals.SafetyHit | None" = None
    anger: float = 0.0
    complexity: float = 0.0
    person: float = 0.0
    language: str | None = None


class Decider:
    def __init__(self, settings: Settings, cascade: Cascade, kb: KnowledgeBase,
                 llm_available: Callable[[str], bool] = lambda tier: False,
                 readers: Readers = Readers(), vocabulary: frozenset[str] = frozenset()):
        self.settings, self.cascade, self.kb = settings, cascade, kb
        self.own_contacts = guardrails.own_contacts(settings)  # the company's own: never redacted
        self.llm_available, self.readers, self.vocabulary = llm_available, readers, vocabulary

    def _read(self, text: str) -> Reading:
        """The models by meaning, in one trip to the model thread (they share the encoder's pass)."""
        r = self.readers
        return Reading(safety=r.safety(text) if r.safety is not None else None,
                       anger=r.anger(text) if r.anger is not None else 0.0,
                       complexity=r.complexity(text) if r.complexity is not None else 0.0,
                       person=r.person(text) if r.person is not None else 0.0,
                       language=r.language(text) if r.language is not None else None)

    async def choose(self, text: str, *, channel: str, history: History = History(),
                     transcript: list[tuple[str, str]] | None = None, ladder: Ladder = Ladder(),
                     forced: Classification | None = None, conversation_id: int | None = None,
                     message_id: int | None = None, spend: Spend | None = None, language: str | None = None) -> Choice:
        """classify -> signals -> policy -> plan for one message. `forced` is an intent the customer
        picked from a "did you mean": it replaces the classifier's view; `language`: the conversation's
        until now (None: the default). Nothing is sent or stored."""
        settings = self.settings
        events: list[tuple[str, dict[str, Any]]] = []
        # guardrails.inbound: external models only ever see the redacted text
        redaction = guardrails.redact(text, keep=self.own_contacts)
        safe_transcript = [(a, guardrails.redact(t, redaction, self.own_contacts).text) for a, t in transcript or []]
        if redaction.mapping:
            events.append(("pii_redacted", {"kinds": redaction.kinds}))
        injection = guardrails.injection_phrases(text)
        if injection:
            events.append(("injection_flagged", {"phrases": injection[:5]}))

        if forced is not None:
            c = forced
        else:
            turns = [ChatTurn(role="user" if a == "customer" else "assistant", content=t) for a, t in safe_transcript]
            c = await self.cascade.classify(text, redaction.text, turns, conversation_id=conversation_id,
                                            message_id=message_id, spend=spend or Spend())
        if c.truncated:
            events.append(("truncated", {"chars": len(text), "classified": settings.classifier.max_chars}))
        read = await model_thread.run(self._read, text)
        found = signals.detect(text, c, settings, history, injection=bool(injection), safety=read.safety,
                               vocabulary=self.vocabulary, anger=read.anger, complex_p=read.complexity,
                               person_p=read.person)
        hits = self.kb.search(text[: settings.classifier.max_chars], c.intent, settings.knowledge.top_k)
        speaks = read.language or language or settings.language.default
        options = clarify_options(c, settings, speaks) if forced is None else ()
        # an answer in their language, or the default one's (sent after language.unavailable)
        has_answer = c.intent in settings.answers_in(speaks) or c.intent in settings.answers
        facts = policy.Facts(c, found, channel, has_answer=has_answer,
                             article_score=hits[0].score if hits else 0.0, can_clarify=bool(options),
                             action=startable(settings, c.intent, text), language=speaks)
        decision, rung = plan(policy.decide(facts, settings), facts, settings, self.llm_available, ladder, options,
                              events)
        return Choice(text=text, redaction=redaction, injection=injection, classification=c, signals=found,
                      hits=hits, facts=facts, decision=decision, rung=rung,
                      options=options if rung == "clarify" else (), events=events, language=speaks,
                      detected=read.language)
