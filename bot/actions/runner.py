"""One turn of an action: ask for what is missing, or make the call and word the result.

Actions holds what every call needs (the HTTP client, the address the mounted apps are served at);
`step` is pure but for the call itself, so the respond step stays a dispatcher.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Callable

import httpx

from bot.actions import call as http_call
from bot.actions import form
from bot.actions.reply import ENGLISH, render_reply
from bot.actions.words import Words
from bot.messages import ActionRecord
from bot.settings import Settings
from bot.settings_actions import Action

DEFAULT_SELF_URL = "http://127.0.0.1:8080"
MAX_LOOKUP = 8192  # characters of a lookup's JSON kept in the conversation until the write


def mask(value: str) -> str:
    """What the audit row shows of a personal value: its first characters."""
    return value[:3] + "***" if len(value) > 4 else "***"


@dataclass(frozen=True)
class Step:
    text: str  # what the customer is told
    note: str  # for the decision's reason: "asked for postcode", "called: ok (HTTP 200)"
    pending: dict[str, Any] | None = None  # a form still waiting for a value (or a write for an agent's approval)
    record: ActionRecord | None = None  # the call, when one was made
    gave_up: bool = False  # a value asked for max_asks times and not given: a person takes over
    buttons: tuple[str, ...] = ()  # a confirmation's yes / no
    approval: str | None = None  # over the limit: what the agent approving it reads (the escalation's reason)
    language: str | None = None  # the language `text` is written in, when not the default one


class Actions:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None):
        self.settings, self.http = settings, http
        self.self_url = DEFAULT_SELF_URL  # serve and chat set where they serve the mounted apps

    async def step(self, name: str, text: str, *, known: dict[str, str] | None = None, asks: int = 0,
                   intent: str, original: str | None = None, message_id: int | None, channel: str,
                   customer_id: str, key: str, confirmed: bool = False,
                   looked_up: dict[str, Any] | None = None, language: str = "") -> Step:
        """`text` is this message; `known` the values earlier turns gave and `asks` how often the
        value now missing was asked for; `original` the request that started the form; `confirmed`:
        the customer said yes to the write; `looked_up`: the lookup's answer an earlier turn read;
        `language`: the customer's, when not the default one (the action's words in it, bot/actions/words.py)."""
        action, words = self.settings.actions[name], Words(self.settings, name, language)
        if known is not None and words.foreign:  # a no or a "never mind" in their language (English: the orchestrator)
            verdict = words.confirmation(text) if form.missing(action, known) is None and action.confirm else None
            if words.is_cancel(text) or verdict is False:
                return _said(Step(words.cancel_reply(), f"the customer left {name}"), words)
            confirmed = confirmed or bool(verdict)
        values = form.extract(action, text, known, asking=form.missing(action, known) if known is not None else None)
        asking = form.missing(action, values)
        if asking is not None:
            again = known is not None and asking in action.params and asks > 0 and len(values) == len(known)
            if again and asks >= action.max_asks:
                return Step("", f"{asking} asked {asks} times and not given", gave_up=True)
            prompt = words.ask(asking)
            f = form.Form(action=name, values=values, asking=asking, asks=asks + 1 if again else 1,
                          text=original or text, intent=intent, message_id=message_id)
            return _said(Step(f"{words.didnt_catch()} {prompt}" if again else prompt, f"asked for {asking}",
                              pending=f.pending()), words)
        if action.lookup is not None and looked_up is None:
            found = await self._call(name, words, values, channel, customer_id, key, lookup=True)
            if found.record is not None and found.record.status != http_call.OK:
                return found  # no such order for these details, or the shop is down: said so, nothing done
            looked_up = found.looked_up
        if action.confirm and not confirmed:
            f = form.Form(action=name, values=values, asking=form.CONFIRM, asks=asks + 1 if known is not None and
                          asks > 0 and len(values) == len(known) else 1, text=original or text, intent=intent,
                          message_id=message_id, looked_up=looked_up)
            if f.asks > 2:  # two answers that were neither yes nor no: nothing is done
                return _said(Step(words.cancel_reply(), "no yes or no to the confirmation: left undone"), words)
            buttons = words.buttons()
            prompt = words.render(words.confirm() or "", None, values, lookup=looked_up or {}) or f"{action.description}?"
            asked = f"{words.didnt_catch()} {prompt} {words.answer_buttons(buttons)}" if f.asks > 1 else prompt
            return _said(Step(asked, "asked to confirm", pending=f.pending(), buttons=buttons), words)
        if action.approval is not None:
            waits = self._over_limit(name, words, values, looked_up, original or text, intent, message_id)
            if waits is not None:
                return waits
        return await self.execute(name, values, looked_up, channel=channel, customer_id=customer_id, key=key,
                                  language=language)

    def limit(self, action: Action) -> float:
        over = action.approval.over if action.approval is not None else None
        return over if over is not None else self.settings.guardrails.refund_limit

    def _over_limit(self, name: str, words: Words, values: dict[str, str], looked_up: dict[str, Any] | None,
                    text: str, intent: str, message_id: int | None) -> Step | None:
        """A write over its approval limit: the customer is told it waits for a colleague, and the escalation's
        reason (in the default language: agents read it) says what to approve. An amount that can't be read
        counts as over the limit."""
        action = words.action
        assert action.approval is not None
        limit, seen = self.limit(action), dict[str, Any](lookup=looked_up or {})
        try:
            amount = float(render_reply(action.approval.amount, None, values, **seen))
        except ValueError:
            amount = float("inf")
        if amount <= limit:
            return None
        shown = amount if amount != float("inf") else 0.0

        def amounts(money: Callable[[float], str], unread: str) -> dict[str, Any]:
            return {**seen, "amount": money(shown) if shown else unread, "limit": money(limit)}

        reason = render_reply(action.approval.reason, None, values, **amounts(ENGLISH.money, "an amount I couldn't read")) \
            or f"{name} over the limit"
        more = amounts(words.formats().money, "?")
        waiting = form.Waiting(action=name, values=values, looked_up=looked_up, amount=shown, limit=limit,
                               text=text, intent=intent, message_id=message_id)
        return _said(Step(words.render(words.approval("waiting"), None, values, **more), f"{name}: {reason}: waits "
                          "for an agent's approval", pending=waiting.pending(), approval=f"{name}: {reason}"), words)

    def denied(self, waiting: form.Waiting, note: str, language: str = "") -> str:
        """What the customer reads when an agent denies the write: approval.denied in their language."""
        words = Words(self.settings, waiting.action, language)
        if words.action.approval is None:
            return words.cancel_reply()
        money = words.formats().money
        seen = {"lookup": waiting.looked_up or {}, "amount": money(waiting.amount), "limit": money(waiting.limit)}
        return words.render(words.approval("denied"), None, waiting.values, **seen, note=note.strip()[:500]) \
            or words.cancel_reply()

    async def execute(self, name: str, values: dict[str, str], looked_up: dict[str, Any] | None, *, channel: str,
                      customer_id: str, key: str, language: str = "") -> Step:
        """The write itself, and its reply (also after an agent's approval: bot/handoff/approvals.py)."""
        return await self._call(name, Words(self.settings, name, language), values, channel, customer_id, key,
                                looked_up=looked_up)

    async def _call(self, name: str, words: Words, values: dict[str, str], channel: str, customer_id: str,
                    key: str, *, lookup: bool = False, looked_up: dict[str, Any] | None = None) -> "Called":
        action = words.action
        if self.http is None:
            raise RuntimeError("actions need an HTTP client")
        result = await http_call.call(action, values, self.http, variables=self.settings.company_vars(),
                                      self_url=self.self_url, channel=channel, customer_id=customer_id,
                                      idempotency_key=f"supportbot:{key}:{name}",
                                      cfg=action.lookup if lookup else None)
        if lookup and result.status == http_call.OK and isinstance(result.data, dict) \
                and len(json.dumps(result.data, default=str)) <= MAX_LOOKUP:
            return Called("", "looked up", looked_up=result.data)  # goes on: confirm, approve or call
        if lookup and result.status == http_call.OK:  # not an object, or too large to keep in the conversation
            result = http_call.CallResult(http_call.FAILED, result.http_status, result.latency_ms,
                                          error="the lookup's answer is not a small JSON object",
                                          attempts=result.attempts)
        status = result.status if result.status in (http_call.OK, http_call.NOT_FOUND, http_call.REJECTED) \
            else http_call.FAILED
        seen = {"lookup": looked_up or {}}
        reply = words.render(words.reply(status), result.data if status != http_call.FAILED else None, values, **seen) \
            or words.render(words.reply(http_call.FAILED), None, values, **seen) or words.went_wrong()
        shown = {k: mask(v) if action.params[k].masked else v for k, v in values.items()}
        error = result.error
        for k, v in values.items():  # an error may quote the URL: its personal values masked as in `params`
            if error and action.params[k].masked and v:
                error = error.replace(v, shown[k])
        record = ActionRecord(action=name, params=shown, status=result.status, http_status=result.http_status,
                              latency_ms=result.latency_ms, attempts=result.attempts, error=error)
        code = f" (HTTP {result.http_status})" if result.http_status else f" ({error})"
        return Called(reply, f"{name}{' lookup' if lookup else ''}: {result.status}{code}", record=record,
                      language=words.said)


@dataclass(frozen=True)
class Called(Step):
    looked_up: dict[str, Any] | None = None  # a lookup that went well: its answer


def _said(step: Step, words: Words) -> Step:
    """The step, marked with the language its text is in (None: partly or wholly the default one)."""
    return replace(step, language=words.said)
