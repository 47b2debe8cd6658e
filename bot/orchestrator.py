"""The orchestrator: the one place that knows the order of steps for a customer message.

    conversation  -> is a person already on it? then the message waits for them
    guardrails    -> redact PII for external models, flag injection attempts
    classify      -> local model first, a cheap LLM only when unsure
    signals       -> emotion, wants a human, repeat contact, critical, complexity
    policy        -> Route + reason
    respond       -> canned / knowledge / LLM / human, degrading when a route can't be served
    finish        -> every row, the queued reply and the inbox "done" mark in one transaction
"""

from __future__ import annotations

import logging
import time

from bot import guardrails, metrics, policy, signals
from bot.classify.cascade import Cascade
from bot.db.store import ConversationRef, HistoryQuery, Outcome, Store
from bot.knowledge import KnowledgeBase
from bot.llm.answer import build_system
from bot.llm.pricing import estimate_counterfactual_usd
from bot.llm.types import Spend
from bot.messages import Decision, HandleResult, InboundMessage, Reply, Route, Signals
from bot.respond import Context, Responder, Response, render
from bot.settings import Settings
from bot.signals import History

log = logging.getLogger("supportbot.orchestrator")
EMPTY_PROMPT = "It looks like your message was empty. What can I help you with?"


class Orchestrator:
    def __init__(self, settings: Settings, store: Store, cascade: Cascade, kb: KnowledgeBase, responder: Responder):
        self.settings = settings
        self.store = store
        self.cascade = cascade
        self.kb = kb
        self.responder = responder
        self._history_query = HistoryQuery(
            settings.signals.repeat_window_hours,
            frozenset(n for n, i in settings.intents.items() if i.small_talk))

    async def handle(self, msg: InboundMessage, event_id: int | None = None) -> HandleResult:
        started = time.perf_counter()
        begun = await self.store.start(msg, event_id, self._history_query)
        conv, message_id = begun.conversation, begun.message_id
        log.info("received", extra={"conversation_id": conv.id, "message_id": message_id, "channel": msg.channel,
                                    "kind": msg.kind, "conversation_status": conv.status})

        rating = self._rating(msg.text) if conv.status == "rating" else None
        if msg.kind != "text":
            out = self._non_text(msg)
        elif conv.status in ("waiting", "human"):
            out = self._with_human(conv, msg)
        elif rating is not None:
            out = self._feedback(msg, rating)
        elif not msg.text.strip():
            out = Outcome(Decision(Route.TEMPLATE, "empty_message", "the message is empty"), Signals(),
                          reply=self._reply(msg, EMPTY_PROMPT))
        else:
            out = await self._answer(conv, msg, message_id, begun.history)
            if conv.status == "rating":  # no rating, a new question: the bot carries on
                out.conversation_status = out.conversation_status or "bot"

        out.latency_ms = (time.perf_counter() - started) * 1000
        reply_id, escalation_id = await self.store.finish(conv, message_id, event_id, out)
        log.info("handled", extra={"conversation_id": conv.id, "route": out.decision.route.value,
                                   "rule": out.decision.rule, "latency_ms": round(out.latency_ms, 2)})
        c = out.classification
        if out.record_decision:
            metrics.observe_message(msg.channel, out.decision.route.value, c.confidence if c else None, out.latency_ms,
                                    stage=c.stage if c else None, classify_latency_ms=c.latency_ms if c else None,
                                    guardrails=[k for k, _ in out.guardrail_events],
                                    escalation=out.escalate[0] if out.escalate and escalation_id else None)
        return HandleResult(conversation_id=conv.id, message_id=message_id, text=msg.text,
                            classification=out.classification, signals=out.signals, decision=out.decision,
                            reply=out.reply, escalation_id=escalation_id, relayed=out.relayed,
                            new_escalation=bool(out.escalate and escalation_id), cost_usd=out.cost_usd,
                            counterfactual_usd=out.counterfactual_usd)

    async def _answer(self, conv: ConversationRef, msg: InboundMessage, message_id: int,
                      past: tuple[History, list[tuple[str, str]]] | None) -> Outcome:
        events: list[tuple[str, dict]] = []
        history, transcript = past or await self.store.history(conv, message_id, self._history_query)

        # guardrails.inbound: external models only ever see the redacted text
        redaction = guardrails.redact(msg.text)
        safe_transcript = [(a, guardrails.redact(t, redaction).text) for a, t in transcript]
        if redaction.mapping:
            events.append(("pii_redacted", {"kinds": redaction.kinds}))
        injection = guardrails.injection_phrases(msg.text)
        if injection:
            events.append(("injection_flagged", {"phrases": injection[:5]}))

        # classify, signals
        spend = Spend()
        history_turns = Responder.history_of(safe_transcript)
        classification = await self.cascade.classify(
            msg.text, redaction.text, history_turns, conversation_id=conv.id, message_id=message_id, spend=spend)
        if classification.truncated:
            events.append(("truncated", {"chars": len(msg.text), "classified": self.settings.classifier.max_chars}))
        found = signals.detect(msg.text, classification, self.settings, history, injection=bool(injection))
        log.info("classified", extra={"conversation_id": conv.id, "message_id": message_id,
                                      "intent": classification.intent,
                                      "confidence": round(classification.confidence, 4),
                                      "stage": classification.stage, "signals": found.names(),
                                      "guardrails": [k for k, _ in events],
                                      "classify_ms": round(classification.latency_ms, 2)})

        # policy.decide
        hits = self.kb.search(msg.text[: self.settings.classifier.max_chars], classification.intent,
                              self.settings.knowledge.top_k)
        facts = policy.Facts(classification, found, msg.channel,
                             has_answer=classification.intent in self.settings.answers,
                             article_score=hits[0].score if hits else 0.0)
        decision = policy.decide(facts, self.settings)
        log.info("decided", extra={"conversation_id": conv.id, "message_id": message_id, "route": decision.route.value,
                                   "rule": decision.rule, "reason": decision.reason})

        # respond / escalate (with degradation and outbound checks inside)
        ctx = Context(text=msg.text, redaction=redaction, classification=classification, signals=found,
                      hits=hits, transcript=safe_transcript, spend=spend, customer_name=msg.customer_name,
                      conversation_id=conv.id, message_id=message_id)
        response: Response = await self.responder.respond(decision, ctx)
        log.info("responded", extra={"conversation_id": conv.id, "message_id": message_id,
                                     "route": response.decision.route.value,
                                     "degraded_from": response.decision.degraded_from.value
                                     if response.decision.degraded_from else None,
                                     "escalate": response.escalate[0] if response.escalate else None,
                                     "cost_usd": spend.cost_usd})
        return Outcome(decision=response.decision, signals=found, classification=classification,
                       reply=self._reply(msg, response.text), guardrail_events=events + response.events,
                       escalate=response.escalate, escalation_summary=response.summary, draft=response.draft,
                       cost_usd=spend.cost_usd, counterfactual_usd=self._counterfactual(ctx, response))

    def _counterfactual(self, ctx: Context, response: Response) -> float:
        """What this message would have cost if the strong tier answered every message."""
        if response.counterfactual_usd is not None:  # an LLM answered: its tokens, priced on strong
            return response.counterfactual_usd
        articles = [(h.article.title, h.article.url, h.article.body) for h in ctx.hits]
        prompt = len(build_system(self.settings.company.system_prompt, articles))
        prompt += sum(len(t) for _, t in ctx.transcript[-10:]) + len(ctx.redaction.text)
        return estimate_counterfactual_usd(self.settings, prompt, len(response.text))

    def _non_text(self, msg: InboundMessage) -> Outcome:
        """Commands, edits and attachments: logged, answered from config or not at all."""
        company = self.settings.company
        if msg.kind == "edited":
            return Outcome(Decision(Route.TEMPLATE, "edited_message", "an edit: logged, not answered again"),
                           Signals(), record_decision=False)
        text, rule = {"start": (company.welcome, "welcome"), "help": (company.help, "help")}.get(
            msg.kind, (company.text_only, "unsupported_content"))
        text = render(text, {**self.settings.company_vars(), "customer_name": msg.customer_name or "there"})
        return Outcome(Decision(Route.TEMPLATE, rule, f"{msg.kind} message"), Signals(), reply=self._reply(msg, text))

    def _with_human(self, conv: ConversationRef, msg: InboundMessage) -> Outcome:
        """A person holds (or is about to take) the conversation: the bot stays out, the agent is told."""
        if conv.status == "human":  # an agent is on it; the message reaches them, the bot says nothing
            return Outcome(Decision(Route.HUMAN, "with_human", "an agent holds the conversation"), Signals(),
                           relayed=True)
        wait = self.settings.handoff.expected_wait_minutes
        text = f"Thanks, I've added this to your request. A person will reply here, usually within {wait} minutes."
        return Outcome(Decision(Route.HUMAN, "with_human", "waiting for an agent to take the conversation"),
                       Signals(), reply=self._reply(msg, text), relayed=True)

    @staticmethod
    def _rating(text: str) -> int | None:
        """A 1-5 answer to the rating question: "4", "4/5", "****", "⭐⭐⭐"."""
        t = text.strip()
        if len(t) <= 5 and t[:1] in "12345" and (len(t) == 1 or t[1:] in ("/5", " /5", ".")):
            return int(t[0])
        stars = t.replace(" ", "")
        if stars and set(stars) <= {"*", "⭐"} and len(stars) <= 5:
            return len(stars)
        return None

    def _feedback(self, msg: InboundMessage, rating: int) -> Outcome:
        return Outcome(Decision(Route.TEMPLATE, "feedback", f"rating {rating}/5"), Signals(),
                       reply=self._reply(msg, self.settings.handoff.rating_thanks), feedback=rating,
                       conversation_status="closed", record_decision=False)

    @staticmethod
    def _reply(msg: InboundMessage, text: str) -> Reply:
        return Reply(text=text, channel=msg.channel, customer_id=msg.customer_id,
                     conversation_key=msg.thread, reply_to=msg.reply_to)
