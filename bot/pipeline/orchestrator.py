"""The orchestrator: the one place that knows the order of steps for a customer message.

    conversation  -> a person on it? waiting for one? a rating, a "did you mean" pick, a value an
                     action asked for, or a verdict on the last answer ("That helped" / "I need
                     more help") pending?
    decide        -> guardrails, classify, signals, policy, plan (bot/pipeline/decide.py: the same
                     function eval and replay run)
    respond       -> canned / knowledge / action / clarify / LLM / human, degrading when a route fails
    resolution    -> an answer offers "That helped" / "I need more help"
    finish        -> every row, the queued reply and the inbox "done" mark in one transaction
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from bot.monitor import metrics

from bot.actions import form as action_form
from bot.pipeline import pending
from bot.db.store import ConversationRef, HistoryQuery, Store
from bot.pipeline.decide import ANSWER_ROUTES, Choice, Decider, Ladder
from bot.llm.answer import build_system
from bot.llm.pricing import estimate_counterfactual_usd
from bot.llm.types import Spend
from bot.messages import Classification, ConversationStatus, Decision, HandleResult, InboundMessage, Outcome, Reply, Route, Signals, utcnow
from bot.pipeline.respond import Context, Responder, Response, display_name, render, wait_text
from bot.settings import Settings
from bot.history import History

log = logging.getLogger("supportbot.orchestrator")
EMPTY_PROMPT = "It looks like your message was empty. What can I help you with?"
Past = tuple[History, list[tuple[str, str]]] | None


class Orchestrator:
    def __init__(self, settings: Settings, store: Store, decider: Decider, responder: Responder):
        self.settings = settings
        self.store = store
        self.decider = decider
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

        if msg.kind != "text":
            out = self._non_text(msg)
        elif conv.status == ConversationStatus.HUMAN:  # an agent is on it; the message reaches them, the bot says nothing
            out = Outcome(Decision(Route.HUMAN, "with_human", "an agent holds the conversation"), Signals(),
                          relayed=True)
        elif not msg.text.strip():
            out = Outcome(Decision(Route.TEMPLATE, "empty_message", "the message is empty"), Signals(),
                          reply=self._reply(msg, EMPTY_PROMPT))
        elif conv.status == ConversationStatus.WAITING:
            out = await self._while_waiting(conv, msg, message_id, begun.history)
        elif conv.status == ConversationStatus.RATING:
            out = await self._after_rating_question(conv, msg, message_id, begun.history)
        else:
            out = await self._reply_to(conv, msg, message_id, begun.history)

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
        if (a := out.action_call) is not None:
            metrics.observe_action_call(a.action, a.status, a.latency_ms)
        return HandleResult(conversation_id=conv.id, message_id=message_id, text=msg.text, outcome=out,
                            escalation_id=escalation_id)

    # --- what the bot was waiting for -----------------------------------------------------
    async def _reply_to(self, conv: ConversationRef, msg: InboundMessage, message_id: int, past: Past) -> Outcome:
        """A pick from a "did you mean", a verdict on the last answer, else a new question."""
        waiting_for = conv.pending or {}
        kind = waiting_for.get("kind")
        if kind == "clarify" and (chosen := pending.pick(msg.text, waiting_for, self.settings)) is not None:
            original = str(waiting_for.get("text") or msg.text)
            if chosen.intent is None:  # "something else": up the ladder with the original question
                return await self._answer(conv, msg, message_id, past, text=original, ladder=Ladder(clarified=True),
                                          answers=waiting_for.get("message_id"))
            picked = Classification(intent=chosen.intent, confidence=1.0, top=((chosen.intent, 1.0),),
                                    stage="clarified", model_version="customer pick")
            out = await self._answer(conv, msg, message_id, past, text=original, forced=picked,
                                     answers=waiting_for.get("message_id"))
            out.labelled = (original, chosen.intent, waiting_for.get("message_id"))
            return out
        if kind == "resolution":
            verdict = pending.verdict(msg.text, self.settings)
            answered = waiting_for.get("message_id")
            if verdict == "confirmed":
                return Outcome(Decision(Route.TEMPLATE, "helped", "the customer said the answer helped"), Signals(),
                               reply=self._reply(msg, self.settings.text("resolution.helped_reply", conv.language or "")),
                               resolution=("confirmed", answered), set_pending=True)
            if verdict == "more_help":  # the next rung for the question the answer did not settle
                history, transcript = past or await self.store.history(conv, message_id, self._history_query)
                history = History(answered_intents=history.answered_intents,
                                  unhelpful_intents=history.unhelpful_intents,
                                  unresolved_bot_turns=history.unresolved_bot_turns, more_help=True,
                                  more_help_after=str(waiting_for.get("route") or ""))
                out = await self._answer(conv, msg, message_id, (history, transcript),
                                         text=str(waiting_for.get("text") or msg.text), answers=answered)
                out.resolution = ("more_help", answered)
                if out.reply is not None:
                    sorry = self.settings.text("resolution.more_help_reply", conv.language or "")
                    out.reply = self._reply(msg, f"{sorry} {out.reply.text}",
                                            out.reply.buttons)
                return out
        if kind == "action" and (f := action_form.Form.of(waiting_for)) and f.action in self.settings.actions:
            return await self._continue_form(conv, msg, message_id, past, f)
        ladder = Ladder(clarified=kind == "clarify", rephrased=kind == "rephrase")
        return await self._answer(conv, msg, message_id, past, ladder=ladder)

    async def _continue_form(self, conv: ConversationRef, msg: InboundMessage, message_id: int, past: Past,
                             f: action_form.Form) -> Outcome:
        """An action asked for a value: this message gives it (the action goes on), says "never mind",
        or is something else: a new question, a person wanted, or a value not understood (asked again)."""
        action = self.settings.actions[f.action]
        if action_form.is_cancel(msg.text):
            return Outcome(Decision(Route.ACTION, "action_cancelled", f"the customer left {f.action}"), Signals(),
                           reply=self._reply(msg, action.cancel_reply), set_pending=True)
        if f.asking == action_form.CONFIRM and (yes := action_form.confirmation(msg.text, action.confirm_buttons)) is not None:
            if not yes:
                return Outcome(Decision(Route.ACTION, "action_cancelled", f"the customer said no to {f.action}"),
                               Signals(), reply=self._reply(msg, action.cancel_reply), set_pending=True)
            f = replace(f, confirmed=True)
        gives = f.confirmed or len(action_form.extract(action, msg.text, f.values, asking=f.asking)) > len(f.values)
        spend = Spend(customer=conv.customer_id)
        if not gives:
            choice = await self._choose(conv, msg, message_id, past, msg.text, Ladder(), None, spend)
            c = choice.classification
            new_question = (c.confidence >= self.settings.policy.confidence_threshold and not c.out_of_scope
                            and c.intent != f.intent)
            sig = choice.signals  # what means a person even in the middle of a form (not a mere possible concern)
            person = choice.decision.route is Route.HUMAN and (sig.critical or bool(sig.safety) or sig.wants_human
                                                               or sig.emotion_label in ("anger", "distress"))
            if person or new_question:
                return await self._answer(conv, msg, message_id, past, decided=(choice, spend))
        picked = Classification(intent=f.intent, confidence=1.0, top=((f.intent, 1.0),), stage="form",
                                model_version=f"action {f.action}")
        choice = await self._choose(conv, msg, message_id, past, msg.text, Ladder(), picked, spend)
        # a value (an address, a name, a postcode) says nothing of the customer's language: "Keizersgracht 1,
        # Amsterdam" read as German and turned an English conversation German; the conversation's language stands
        choice.detected, choice.language = None, conv.language or self.settings.language.default
        if choice.decision.route is Route.HUMAN and (choice.signals.critical or choice.signals.safety):
            return await self._answer(conv, msg, message_id, past, decided=(choice, spend))
        choice.decision = Decision(Route.ACTION, "action_form", "the customer said yes" if f.confirmed else
                                   f"a value for {f.action}'s {f.asking}" if gives else f"no {f.asking} in the answer")
        return await self._answer(conv, msg, message_id, past, text=f.text, decided=(choice, spend), form=f,
                                  answers=f.message_id)

    async def _while_waiting(self, conv: ConversationRef, msg: InboundMessage, message_id: int,
                             past: Past) -> Outcome:
        """Escalated, no agent yet: questions the bot is sure of are still answered (the agent sees
        them in the thread); anything else is added to the request. The wait follows support hours."""
        spend = Spend(customer=conv.customer_id)
        choice = await self._choose(conv, msg, message_id, past, msg.text, Ladder(), None, spend)
        sure = choice.classification.confidence >= self.settings.policy.confidence_threshold
        if sure and choice.decision.route in (Route.TEMPLATE, Route.KNOWLEDGE) and choice.decision.degraded_from is None:
            ctx = self._context(choice, msg, conv, message_id, [], spend)
            out = self._outcome(choice, msg, await self.responder.respond(choice.decision, ctx), ctx)
            out.relayed = True
            return out
        text = wait_text(self.settings, utcnow(), "handoff.added_to_request", self._said(conv))
        return Outcome(Decision(Route.HUMAN, "with_human", "waiting for an agent to take the conversation"),
                       choice.signals, classification=choice.classification, reply=self._reply(msg, text),
                       relayed=True, cost_usd=spend.cost_usd, guardrail_events=choice.events)

    async def _after_rating_question(self, conv: ConversationRef, msg: InboundMessage, message_id: int,
                                     past: Past) -> Outcome:
        """After an agent resolved: a 1-5 rating, words about it (a comment, kept with the rating),
        or a new question the bot is sure of (the bot carries on)."""
        rating, comment = pending.rating(msg.text)
        earlier = (conv.pending or {}).get("comment") if (conv.pending or {}).get("kind") == "rating" else None
        if rating is not None:
            comment = "\n".join(c for c in (earlier, comment) if c) or None
            return Outcome(Decision(Route.TEMPLATE, "feedback", f"rating {rating}/5"), Signals(),
                           reply=self._reply(msg, self.settings.text("handoff.rating_thanks", self._said(conv))),
                           feedback=rating,
                           feedback_comment=comment, conversation_status=ConversationStatus.CLOSED, record_decision=False,
                           set_pending=True)
        spend = Spend(customer=conv.customer_id)
        choice = await self._choose(conv, msg, message_id, past, msg.text, Ladder(), None, spend)
        c = choice.classification
        question = (c.confidence >= self.settings.policy.confidence_threshold and not c.out_of_scope
                    and not (self.settings.intents.get(c.intent) and self.settings.intents[c.intent].small_talk)
                    and c.intent != "complaint")
        if question or choice.decision.route is Route.HUMAN and (choice.signals.critical or choice.signals.safety):
            out = await self._answer(conv, msg, message_id, past, ladder=Ladder(), decided=(choice, spend))
            out.conversation_status = out.conversation_status or ConversationStatus.BOT
            return out
        noted = "\n".join(c for c in (earlier, msg.text.strip()) if c)
        return Outcome(Decision(Route.TEMPLATE, "rating_comment", "words after the rating question: a comment"),
                       Signals(), reply=self._reply(msg, self.settings.text("handoff.rating_comment_thanks",
                                                                            self._said(conv)), ("1", "2", "3", "4", "5")),
                       feedback_comment=noted[:2000], record_decision=False, set_pending=True,
                       pending={"kind": "rating", "comment": noted[:2000]})

    # --- a question for the bot -------------------------------------------------------------
    async def _choose(self, conv: ConversationRef, msg: InboundMessage, message_id: int, past: Past, text: str,
                      ladder: Ladder, forced: Classification | None, spend: Spend) -> Choice:
        history, transcript = past or await self.store.history(conv, message_id, self._history_query)
        choice = await self.decider.choose(text, channel=msg.channel, history=history, transcript=transcript,
                                           ladder=ladder, forced=forced, conversation_id=conv.id,
                                           message_id=message_id, spend=spend, language=conv.language)
        c = choice.classification
        log.info("classified", extra={"conversation_id": conv.id, "message_id": message_id, "intent": c.intent,
                                      "confidence": round(c.confidence, 4), "stage": c.stage, "language": choice.language,
                                      "signals": choice.signals.names(), "guardrails": [k for k, _ in choice.events],
                                      "classify_ms": round(c.latency_ms, 2)})
        log.info("decided", extra={"conversation_id": conv.id, "message_id": message_id,
                                   "route": choice.decision.route.value, "rule": choice.decision.rule,
                                   "reason": choice.decision.reason})
        return choice

    async def _answer(self, conv: ConversationRef, msg: InboundMessage, message_id: int, past: Past, *,
                      text: str | None = None, ladder: Ladder = Ladder(), forced: Classification | None = None,
                      answers: int | None = None, decided: tuple[Choice, Spend] | None = None,
                      form: action_form.Form | None = None) -> Outcome:
        """Decide and respond. `text` is the question being answered (the original one after a pick or a
        verdict) and `answers` the id of the message that asked it (default: this one); `decided`: a
        choice already made for this message (and what it spent), so it is not classified twice;
        `form`: the action this message gives a value for."""
        past = past or await self.store.history(conv, message_id, self._history_query)
        if decided is not None:
            choice, spend = decided
        else:
            spend = Spend(customer=conv.customer_id)
            choice = await self._choose(conv, msg, message_id, past, text or msg.text, ladder, forced, spend)
        ctx = self._context(choice, msg, conv, message_id, past[1], spend, ladder)
        if form is not None:
            ctx.form, ctx.form_asks, ctx.form_text, ctx.form_confirmed = form.values, form.asks, form.text, form.confirmed
            ctx.form_lookup = form.looked_up
        response = await self.responder.respond(choice.decision, ctx)
        log.info("responded", extra={"conversation_id": conv.id, "message_id": message_id,
                                     "route": response.decision.route.value,
                                     "degraded_from": response.decision.degraded_from.value
                                     if response.decision.degraded_from else None,
                                     "escalate": response.escalate.kind if response.escalate else None,
                                     "cost_usd": spend.cost_usd})
        out = self._outcome(choice, msg, response, ctx)
        out.set_pending, out.pending = True, response.pending
        out.language = choice.detected
        intent = self.settings.intents.get(choice.classification.intent)
        if (self.settings.resolution.ask and response.decision.route in ANSWER_ROUTES and not response.escalate
                and not (intent and intent.small_talk) and out.reply is not None and response.pending is None
                and (response.decision.route is not Route.ACTION or response.action_call is not None)):
            said = choice.language
            out.reply = self._reply(msg, out.reply.text, (self.settings.text("resolution.helped", said),
                                                          self.settings.text("resolution.more_help", said)))
            out.pending = {"kind": "resolution", "message_id": answers or message_id,
                           "intent": choice.classification.intent, "text": (text or msg.text)[:2000],
                           "route": response.decision.route.value}
        return out

    def _context(self, choice: Choice, msg: InboundMessage, conv: ConversationRef, message_id: int,
                 transcript: list[tuple[str, str]], spend: Spend, ladder: Ladder = Ladder()) -> Context:
        from bot.pipeline import guardrails

        safe = [(a, guardrails.redact(t, choice.redaction, self.decider.own_contacts).text) for a, t in transcript]
        return Context(text=choice.text, redaction=choice.redaction, classification=choice.classification,
                       signals=choice.signals, hits=choice.hits, transcript=safe, spend=spend,
                       customer_name=msg.customer_name, conversation_id=conv.id, message_id=message_id,
                       facts=choice.facts, ladder=ladder, options=choice.options, rung=choice.rung,
                       channel=msg.channel, customer_id=msg.customer_id, key=str(message_id), language=choice.language)

    def _outcome(self, choice: Choice, msg: InboundMessage, response: Response, ctx: Context) -> Outcome:
        spend = ctx.spend
        return Outcome(decision=response.decision, signals=choice.signals, classification=choice.classification,
                       reply=self._reply(msg, response.text, response.buttons),
                       guardrail_events=choice.events + response.events, escalate=response.escalate,
                       escalation_summary=response.summary, draft=response.draft, cost_usd=spend.cost_usd,
                       action_call=response.action_call,
                       counterfactual_usd=self._counterfactual(ctx, response))

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
        text = render(text, {**self.settings.company_vars(), "customer_name": display_name(msg.customer_name) or "there"})
        return Outcome(Decision(Route.TEMPLATE, rule, f"{msg.kind} message"), Signals(), reply=self._reply(msg, text))

    def _said(self, conv: ConversationRef) -> str:
        """The conversation's language when the config gives the bot's texts in it, else "" (the default's)."""
        lang = conv.language or ""
        return lang if lang != self.settings.language.default and lang in self.settings.language.texts else ""

    @staticmethod
    def _reply(msg: InboundMessage, text: str, buttons: tuple[str, ...] = ()) -> Reply:
        return Reply(text=text, channel=msg.channel, customer_id=msg.customer_id,
                     conversation_key=msg.thread, reply_to=msg.reply_to, buttons=buttons)
