"""One turn of an action: ask for what is missing, or make the call and word the result.

Actions holds what every call needs (the HTTP client, the address the mounted apps are served at);
`step` is pure but for the call itself, so the respond step stays a dispatcher.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from bot.actions import call as http_call
from bot.actions import form
from bot.actions.reply import render_reply
from bot.messages import ActionRecord
from bot.settings import Settings
from bot.settings_actions import Action

DEFAULT_SELF_URL = "http://127.0.0.1:8080"
MAX_LOOKUP = 8192  # characters of a lookup's JSON kept in the conversation until the write
SORRY = "Sorry, something went wrong on our side and nothing has been changed. A person from our team can help."


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


class Actions:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None):
        self.settings, self.http = settings, http
        self.self_url = DEFAULT_SELF_URL  # serve and chat set where they serve the mounted apps

    async def step(self, name: str, text: str, *, known: dict[str, str] | None = None, asks: int = 0,
                   intent: str, original: str | None = None, message_id: int | None, channel: str,
                   customer_id: str, key: str, confirmed: bool = False,
                   looked_up: dict[str, Any] | None = None) -> Step:
        """`text` is this message; `known` the values earlier turns gave and `asks` how often the
        value now missing was asked for; `original` the request that started the form; `confirmed`:
        the customer said yes to the write; `looked_up`: the lookup's answer an earlier turn read."""
        action = self.settings.actions[name]
        values = form.extract(action, text, known, asking=form.missing(action, known) if known is not None else None)
        asking = form.missing(action, values)
        if asking is not None:
            again = known is not None and asking in action.params and asks > 0 and len(values) == len(known)
            if again and asks >= action.max_asks:
                return Step("", f"{asking} asked {asks} times and not given", gave_up=True)
            prompt = action.params[asking].ask
            f = form.Form(action=name, values=values, asking=asking, asks=asks + 1 if again else 1,
                          text=original or text, intent=intent, message_id=message_id)
            return Step(("Sorry, I didn't catch that. " if again else "") + prompt, f"asked for {asking}",
                        pending=f.pending())
        if action.lookup is not None and looked_up is None:
            found = await self._call(name, action, values, channel, customer_id, key, lookup=True)
            if found.record is not None and found.record.status != http_call.OK:
                return found  # no such order for these details, or the shop is down: said so, nothing done
            looked_up = found.looked_up
        if action.confirm and not confirmed:
            f = form.Form(action=name, values=values, asking=form.CONFIRM, asks=asks + 1 if known is not None and
                          asks > 0 and len(values) == len(known) else 1, text=original or text, intent=intent,
                          message_id=message_id, looked_up=looked_up)
            if f.asks > 2:  # two answers that were neither yes nor no: nothing is done
                return Step(action.cancel_reply, "no yes or no to the confirmation: left undone")
            prompt = render_reply(action.confirm, None, values, lookup=looked_up or {}) or f"{action.description}?"
            asked = f"Sorry, I didn't catch that. {prompt} Please answer {action.confirm_buttons[0]!r} or " \
                f"{action.confirm_buttons[1]!r}." if f.asks > 1 else prompt
            return Step(asked, "asked to confirm", pending=f.pending(), buttons=action.confirm_buttons)
        if action.approval is not None:
            waits = self._over_limit(name, action, values, looked_up, original or text, intent, message_id)
            if waits is not None:
                return waits
        return await self.execute(name, values, looked_up, channel=channel, customer_id=customer_id, key=key)

    def limit(self, action: Action) -> float:
        over = action.approval.over if action.approval is not None else None
        return over if over is not None else self.settings.guardrails.refund_limit

    def _over_limit(self, name: str, action: Action, values: dict[str, str], looked_up: dict[str, Any] | None,
                    text: str, intent: str, message_id: int | None) -> Step | None:
        """A write over its approval limit: the customer is told it waits for a colleague, and the escalation's
        reason says what to approve. An amount that can't be read counts as over the limit."""
        assert action.approval is not None
        limit, seen = self.limit(action), {"lookup": looked_up or {}}
        try:
            amount = float(render_reply(action.approval.amount, None, values, **seen))
        except ValueError:
            amount = float("inf")
        if amount <= limit:
            return None
        shown = amount if amount != float("inf") else 0.0
        more = {**seen, "amount": f"{shown:,.2f}" if shown else "an amount I couldn't read", "limit": f"{limit:,.2f}"}
        reason = render_reply(action.approval.reason, None, values, **more) or f"{name} over the limit"
        waiting = form.Waiting(action=name, values=values, looked_up=looked_up, amount=shown, limit=limit,
                               text=text, intent=intent, message_id=message_id)
        return Step(render_reply(action.approval.waiting, None, values, **more), f"{name}: {reason}: waits for an "
                    "agent's approval", pending=waiting.pending(), approval=f"{name}: {reason}")

    async def execute(self, name: str, values: dict[str, str], looked_up: dict[str, Any] | None, *, channel: str,
                      customer_id: str, key: str) -> Step:
        """The write itself, and its reply (also after an agent's approval: bot/handoff/approvals.py)."""
        return await self._call(name, self.settings.actions[name], values, channel, customer_id, key,
                                looked_up=looked_up)

    async def _call(self, name: str, action: Action, values: dict[str, str], channel: str, customer_id: str,
                    key: str, *, lookup: bool = False, looked_up: dict[str, Any] | None = None) -> "Called":
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
        template = {http_call.OK: action.reply.ok, http_call.NOT_FOUND: action.reply.not_found,
                    http_call.REJECTED: action.reply.rejected}.get(result.status, action.reply.failed)
        seen = {"lookup": looked_up or {}}
        reply = render_reply(template, result.data if result.status != http_call.FAILED else None, values, **seen) \
            or render_reply(action.reply.failed, None, values, **seen) or SORRY
        shown = {k: mask(v) if action.params[k].masked else v for k, v in values.items()}
        error = result.error
        for k, v in values.items():  # an error may quote the URL: its personal values masked as in `params`
            if error and action.params[k].masked and v:
                error = error.replace(v, shown[k])
        record = ActionRecord(action=name, params=shown, status=result.status, http_status=result.http_status,
                              latency_ms=result.latency_ms, attempts=result.attempts, error=error)
        code = f" (HTTP {result.http_status})" if result.http_status else f" ({error})"
        return Called(reply, f"{name}{' lookup' if lookup else ''}: {result.status}{code}", record=record)


@dataclass(frozen=True)
class Called(Step):
    looked_up: dict[str, Any] | None = None  # a lookup that went well: its answer
