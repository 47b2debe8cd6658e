"""The respond step: turn a routing decision into a reply, degrading when a route can't be served.

template   -> the intent's canned answer with placeholders filled
knowledge  -> the best article's gist and link
action     -> the intent's action (bot/actions/): a value asked for, or the shop's API called
clarify    -> "did you mean ...?" with the candidate intents as buttons, or (the rung above it)
              a request to say it in other words / what the bot can help with
cheap_llm / strong_llm -> a grounded answer from that tier; a low-confidence or
              rule-breaking draft goes to human review, not to the customer
human      -> an escalation; the customer is told a person is coming and how long it takes

What can be known before answering was settled by bot/pipeline/decide.py's plan; an LLM call that
fails here (every model down, budget reached, an empty answer) walks the policy's degrade_to
list through the same decide.fallback and records why.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.pipeline import decide

from bot import hours
from bot.language import name_of
from bot.pipeline.guardrails import Redaction, check_outbound
from bot.pipeline.tools import ToolRunner, tool_specs
from bot.pipeline.knowledge import Hit, KnowledgeBase, answer_from
from bot.llm.answer import generate_answer
from bot.llm.summary import summarise
from bot.llm.types import ChatTurn, Spend, TierUnavailable
from bot.actions.runner import Actions, Step
from bot.messages import OUT_OF_SCOPE, ActionRecord, Classification, Decision, Escalate, EscalationKind, Route, Signals, utcnow
from bot.pipeline.policy import Facts
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.llm.router import LLMRouter


@dataclass
class Context:
    """What the respond step knows about the message being handled."""

    text: str
    redaction: Redaction  # the message (and transcript) as external models may see it
    classification: Classification
    signals: Signals
    hits: list[Hit]
    transcript: list[tuple[str, str]]  # (author, text), already redacted, oldest first
    spend: Spend = field(default_factory=Spend)  # what this message's model calls cost so far
    customer_name: str | None = None
    conversation_id: int | None = None
    message_id: int | None = None
    facts: Facts | None = None  # what the policy saw (for fallbacks)
    ladder: decide.Ladder = decide.Ladder()
    options: tuple[tuple[str, str], ...] = ()  # (intent, label) for a "did you mean"
    rung: str | None = None  # clarify | rephrase, for the clarify route
    tried: set[Route] = field(default_factory=set)  # routes that failed while answering
    channel: str = ""
    customer_id: str = ""
    key: str = ""  # the inbound event (or message) this answers: an action's idempotency key
    form: dict[str, str] | None = None  # an action's values given in earlier turns (None: no form yet)
    form_asks: int = 0  # how often the value now missing was asked for
    form_text: str | None = None  # the request that started the form
    form_confirmed: bool = False  # the customer said yes to the action's write
    form_lookup: dict[str, Any] | None = None  # what the action's lookup read in an earlier turn
    language: str = ""  # the customer's language ("" or language.default: the default's texts)


@dataclass
class Response:
    decision: Decision
    text: str
    buttons: tuple[str, ...] = ()
    pending: dict[str, Any] | None = None  # what the bot now waits for from the customer (conversations.pending)
    escalate: Escalate | None = None
    summary: str | None = None
    draft: str | None = None
    counterfactual_usd: float | None = None  # the answer call priced on the strong tier, when one was made
    action_call: ActionRecord | None = None  # the shop API call an action made
    language: str | None = None  # the language `text` is written in, when not the default one
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


_ID_WORDS = {"demo", "customer", "visitor", "guest", "user", "anonymous", "anon", "test", "web", "console", "unknown"}
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)


def display_name(value: str | None) -> str | None:
    """`value` if it reads as a person's name, else None: a customer id passed as the name (the
    console's `demo-customer`, a UUID, a web visitor id, a phone number) is never used to greet."""
    name = (value or "").strip()
    if not name or len(name) > 64 or not any(c.isalpha() for c in name) or _UUID.search(name):
        return None
    if " " not in name:
        parts = re.split(r"[-_.:@/]", name.lower())
        if any(c in name for c in "_:@/") or (len(parts) > 1 and (set(parts) & _ID_WORDS or any(
                any(c.isdigit() for c in p) for p in parts))) or name.lower() in _ID_WORDS:
            return None
        if re.fullmatch(r"[0-9a-f]{12,}", name.lower()):
            return None
    return name


def render(template: str, values: dict[str, str]) -> str:
    """Fill {placeholders}; unknown ones stay visible rather than crashing."""
    return string.Formatter().vformat(template, (), _Placeholders(values))


def wait_text(settings: Settings, now: datetime, lead: str = "handoff.passing_on", language: str = "") -> str:
    """What the customer is told while a person is on the way, in `language` when language.texts gives
    the handoff texts in it: `lead` (a text key) and, within support hours, the usual wait; outside them,
    when the team is back and the e-mail address."""
    company = settings.company

    def say(key: str, **values: object) -> str:
        text = settings.text(f"handoff.{key}", language)
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    first = settings.text(lead, language)
    schedule = company.hours.schedule() if company.hours else None
    if schedule is None or schedule.is_open(now):
        usual = say("usual_wait", minutes=settings.handoff.expected_wait_minutes)
        return f"{first}, {usual} ({settings.text('company.support_hours', language) or say('during_hours')})."
    back = schedule.next_open(now)
    words = (say("today"), say("tomorrow"), say("on_day"), tuple(say("weekdays").split()))
    text = f"{first}. {say('offline')}" + (f" {say('back', when=hours.when(back, now, words))}" if back else "")
    text += f" ({settings.text('company.support_hours', language)})." if company.support_hours else "."
    if company.support_email:
        text += " " + say("email_us", email=company.support_email)
    return text


def escalation_kind(decision: Decision, c: Classification, s: Signals, threshold: float) -> EscalationKind:
    if decision.degraded_from is not None and not (s.critical or s.safety):
        return EscalationKind.DEGRADED
    if s.critical:
        return EscalationKind.CRITICAL
    if s.safety:
        return EscalationKind.SAFETY
    if s.wants_human:
        return EscalationKind.ASKED
    if s.emotion_label != "neutral" or s.repeat_contact or s.needs_human or s.chasing:
        return EscalationKind.SIGNAL
    if s.safety_concern:  # only a possible case: it names the kind when nothing stronger explains the escalation
        return EscalationKind.SAFETY
    if c.out_of_scope:
        return EscalationKind.OUT_OF_SCOPE
    if c.confidence < threshold:
        return EscalationKind.CONFIDENCE
    return EscalationKind.POLICY


def agent_summary(ctx: Context, default_language: str = "en") -> str:
    """What the agent sees first: the classifier's view, the customer's language when it is not the default
    one, and the last messages."""
    c = ctx.classification
    top = ", ".join(f"{i} {p:.2f}" for i, p in c.top[:3]) or "-"
    lines = [f"Intent: {c.intent} ({c.confidence:.2f}; candidates: {top})",
             f"Signals: {', '.join(ctx.signals.names()) or 'none'}"]
    if ctx.language and ctx.language != default_language:
        lines.append(f"Language: {name_of(ctx.language)} ({ctx.language})")
    lines.append("Last messages:")
    for author, text in ctx.transcript[-4:]:
        lines.append(f"  {author}: {text[:300]}")
    lines.append(f"  customer: {ctx.redaction.text[:300]}")
    return "\n".join(lines)


class Responder:
    def __init__(self, settings: Settings, kb: KnowledgeBase, router: "LLMRouter | None" = None,
                 actions: Actions | None = None):
        self.settings = settings
        self.kb = kb
        self.router = router
        self.actions = actions

    def _values(self, ctx: Context, language: str = "") -> dict[str, str]:
        """The placeholders of a text in `language` ("" the default): {support_hours} as language.texts gives it."""
        return {**self.settings.company_vars(), "customer_name": display_name(ctx.customer_name) or "there",
                "support_hours": self.settings.text("company.support_hours", language)}

    def _foreign(self, ctx: Context) -> bool:
        return bool(ctx.language) and ctx.language != self.settings.language.default

    def _said(self, ctx: Context) -> str:
        """The customer's language when the config gives the bot's own texts in it, else "" (the default's)."""
        return ctx.language if self._foreign(ctx) and ctx.language in self.settings.language.texts else ""

    async def respond(self, decision: Decision, ctx: Context) -> Response:
        """The reply for the route. To a customer writing in another language than the default, a reply the
        bot has only in the default one starts with `language.unavailable` for theirs ("I can only answer
        this in English:")."""
        response = await self._respond(decision, ctx)
        notice = self.settings.language.unavailable.get(ctx.language, "")
        if self._foreign(ctx) and response.language != ctx.language and response.text and notice:
            response.text = f"{notice}\n\n{response.text}"
        return response

    async def _respond(self, decision: Decision, ctx: Context) -> Response:
        route = decision.route
        if route is Route.TEMPLATE:
            intent = ctx.classification.intent
            translated = self.settings.answers_in(ctx.language).get(intent) if self._foreign(ctx) else None
            answer = translated or self.settings.answers.get(intent)
            if answer:
                said = ctx.language if translated else ""
                return Response(decision, render(answer, self._values(ctx, said)), language=said or None)
            return await self._degrade(decision, ctx, "no canned answer for this intent")
        if route is Route.KNOWLEDGE:
            if ctx.hits and ctx.hits[0].score >= self.settings.knowledge.min_score:
                hit = ctx.hits[0]
                said = ctx.language if self._foreign(ctx) and hit.article.in_language(ctx.language) else ""
                text = answer_from(hit, self.settings.text("knowledge.more", said), said)
                return Response(decision, render(text, self._values(ctx, said)), language=said or None)
            return await self._degrade(decision, ctx, "no knowledge-base article matches well enough")
        if route is Route.CLARIFY:
            return self._clarify(decision, ctx)
        if route is Route.ACTION:
            return await self._action(decision, ctx)
        if route.is_llm:
            return await self._llm(decision, ctx)
        return await self._escalate(decision, ctx)

    def _clarify(self, decision: Decision, ctx: Context) -> Response:
        cfg = self.settings
        if ctx.rung == "clarify" and ctx.options:
            said = self._said(ctx)
            labels = tuple(label for _, label in ctx.options) + (cfg.text("clarify.something_else", said),)
            prompt = (render(cfg.text("clarify.prompt_one", said), {"option": labels[0]}) if len(ctx.options) == 1
                      else cfg.text("clarify.prompt", said))
            return Response(decision, prompt, buttons=labels, language=said or None,
                            pending={"kind": "clarify", "options": [i for i, _ in ctx.options],
                                     "labels": list(labels[:-1]), "text": ctx.text, "message_id": ctx.message_id})
        off_topic = ctx.classification.intent == OUT_OF_SCOPE and not ctx.signals.gibberish
        said = self._said(ctx)
        text = cfg.text("rephrase.off_topic" if off_topic else "rephrase.prompt", said)
        return Response(decision, render(text, self._values(ctx, said)), pending={"kind": "rephrase"},
                        language=said or None)

    async def _action(self, decision: Decision, ctx: Context) -> Response:
        name = self.settings.action_for(ctx.classification.intent)
        if name is None or self.actions is None:
            return await self._degrade(decision, ctx, "no action for this intent" if name is None
                                       else "actions are not available here")
        step = await self.actions.step(name, ctx.text, known=ctx.form, asks=ctx.form_asks,
                                       intent=ctx.classification.intent, original=ctx.form_text,
                                       message_id=ctx.message_id, channel=ctx.channel,
                                       customer_id=ctx.customer_id, key=ctx.key, confirmed=ctx.form_confirmed,
                                       looked_up=ctx.form_lookup, language=ctx.language if self._foreign(ctx) else "")
        return await self._stepped(decision, ctx, step)

    async def _stepped(self, decision: Decision, ctx: Context, step: Step) -> Response:
        """The response to an action's step: a question, a confirmation, a wait for an agent, or the call's reply."""
        if step.approval is not None:  # over its limit: an agent approves or denies, the customer is told so
            waits = Decision(Route.HUMAN, decision.rule, f"{decision.reason}; {step.note}")
            text = f"{step.text} {wait_text(self.settings, utcnow(), 'handoff.waiting_approval', self._said(ctx))}".strip()
            return Response(waits, text, pending=step.pending, escalate=Escalate(EscalationKind.APPROVAL, step.approval),
                            summary=agent_summary(ctx, self.settings.language.default),
                            language=step.language if step.language == self._said(ctx) else None)
        if step.gave_up:
            return await self._escalate(Decision(Route.HUMAN, decision.rule, f"{decision.reason}; {step.note}",
                                                 degraded_from=Route.ACTION), ctx)
        # asking for a value is the bot asking, not answering (route clarify: not an answer in history or resolution)
        said = Decision(Route.CLARIFY if step.pending else decision.route, decision.rule,
                        f"{decision.reason}; {step.note}", decision.degraded_from)
        return Response(said, step.text, buttons=step.buttons, pending=step.pending, action_call=step.record,
                        language=step.language)

    def _tier(self, route: Route) -> str:
        return "strong" if route is Route.STRONG_LLM else "cheap"

    @staticmethod
    def history_of(transcript: list[tuple[str, str]]) -> list[ChatTurn]:
        return [ChatTurn(role="user" if a == "customer" else "assistant", content=t) for a, t in transcript]

    def history(self, ctx: Context) -> list[ChatTurn]:
        return self.history_of(ctx.transcript)

    async def _llm(self, decision: Decision, ctx: Context) -> Response:
        tier = self._tier(decision.route)
        if self.router is None or not self.router.available(tier):
            return await self._degrade(decision, ctx, f"no LLM provider configured for tier {tier} (no API key set)")
        articles = [(h.article.title, h.article.url, h.article.body) for h in ctx.hits]
        try:
            system_prompt = self.settings.company.system_prompt
            if self._foreign(ctx):
                system_prompt += f"\nThe customer writes in {name_of(ctx.language)}: write the answer in {name_of(ctx.language)}."
            runner = ToolRunner(self.settings, self.actions, ctx) if self.actions and self.settings.actions else None
            draft = await generate_answer(self.router, tier, system_prompt=system_prompt,
                                          articles=articles, history=self.history(ctx), text=ctx.redaction.text,
                                          conversation_id=ctx.conversation_id, message_id=ctx.message_id,
                                          spend=ctx.spend, fallback_confidence=ctx.classification.confidence,
                                          tools=tool_specs(self.settings) if runner else (), run_tool=runner,
                                          tool_rounds=self.settings.llm.tool_rounds)
        except TierUnavailable as e:
            failed = ("budget cap reached" if e.budget_blocked else "this customer's LLM call limit reached"
                      if e.rate_limited else "every model failed or is unavailable")
            return await self._degrade(decision, ctx, f"tier {tier}: {failed} ({'; '.join(e.reasons)[:300]})")
        if runner is not None and runner.took_over is not None:  # a tool asks the customer (a value, a yes) or an agent
            used = Decision(decision.route, decision.rule, f"{decision.reason}; tools: {', '.join(runner.calls)}",
                            decision.degraded_from)
            response = await self._stepped(used, ctx, runner.took_over)
            response.counterfactual_usd = draft.counterfactual_usd
            return response
        if runner is not None and runner.calls:
            decision = Decision(decision.route, decision.rule, f"{decision.reason}; tools: {', '.join(runner.calls)}",
                                decision.degraded_from)
        if not draft.text:
            return await self._degrade(decision, ctx, f"tier {tier} returned an empty answer")
        text = ctx.redaction.restore(draft.text)
        check = check_outbound(text, self.settings.guardrails, ctx.text, self.settings.company.system_prompt)
        review = self.settings.policy.review_threshold
        if not draft.structured:  # a model without structured output: the decision row says whose confidence
            decision = Decision(decision.route, decision.rule, f"{decision.reason}; plain-text answer, "
                                f"confidence {draft.confidence:.2f} from the classifier",
                                degraded_from=decision.degraded_from)
        response = Response(decision, text, counterfactual_usd=draft.counterfactual_usd,
                            language=ctx.language if self._foreign(ctx) else None,
                            action_call=runner.record if runner is not None else None)
        why: str | None = None
        if not check.ok:
            response.events.append(("outbound_blocked", {"rule": check.rule, "detail": check.detail}))
            why = f"outbound check {check.rule}: {check.detail}"
        elif draft.confidence < review:
            why = f"draft confidence {draft.confidence:.2f} < {review:.2f}"
        elif ctx.signals.critical:
            why = "critical intent"
        elif ctx.signals.injection:  # a model's answer to a message that tries to instruct it: a person checks
            why = "prompt injection flagged"
        elif self._reviewed_rule(decision.rule):
            why = f"rule {decision.rule} has every answer reviewed"
        if why:
            held = Decision(Route.HUMAN, decision.rule, f"{decision.reason}; held for review: {why}",
                            degraded_from=decision.degraded_from)
            response.decision = held
            response.draft, response.escalate = text, Escalate(EscalationKind.REVIEW, why)
            response.summary = agent_summary(ctx, self.settings.language.default)
            response.text, response.language = self._waiting_text(ctx, review=True), self._said(ctx) or None
        return response

    async def _degrade(self, decision: Decision, ctx: Context, why: str) -> Response:
        """The route failed while answering: the next rung that can serve (decide.fallback), LLMs
        of a failed tier not tried again."""
        facts = ctx.facts or Facts(ctx.classification, ctx.signals, "", False, 0.0)
        available = self.router.available if self.router is not None else (lambda tier: False)
        ctx.tried.add(decision.route)
        target = decide.fallback(decision, facts, self.settings, available, ctx.ladder, why,
                                 tried=frozenset(ctx.tried))
        if target.route is Route.CLARIFY:
            ctx.rung = "rephrase"
        response = await (self._llm(target, ctx) if target.route.is_llm else
                          self._escalate(target, ctx) if target.route is Route.HUMAN else self.respond(target, ctx))
        response.events.insert(0, ("degraded", {"from": decision.route.value, "to": target.route.value, "why": why}))
        return response

    def _reviewed_rule(self, name: str) -> bool:
        return any(rule.review for rule in self.settings.policy.rules if rule.name == name)

    def _waiting_text(self, ctx: Context, review: bool = False) -> str:
        return wait_text(self.settings, utcnow(), "handoff.reviewing" if review else "handoff.passing_on", self._said(ctx))

    async def _escalate(self, decision: Decision, ctx: Context) -> Response:
        kind = escalation_kind(decision, ctx.classification, ctx.signals, self.settings.policy.confidence_threshold)
        return Response(decision, self._waiting_text(ctx), escalate=Escalate(kind, decision.reason),
                        summary=await self._summary(ctx), language=self._said(ctx) or None)

    async def _summary(self, ctx: Context) -> str:
        """The cheap model's summary when one is configured, always followed by the classifier's view."""
        view = agent_summary(ctx, self.settings.language.default)
        tier = self.settings.llm.classify_tier
        if self.router is None or not self.router.available(tier):
            return view
        told = await summarise(self.router, tier, ctx.transcript, ctx.redaction.text, spend=ctx.spend,
                               conversation_id=ctx.conversation_id, message_id=ctx.message_id,
                               language=name_of(self.settings.language.default))
        return f"{ctx.redaction.restore(told)}\n\n{view}" if told else view
