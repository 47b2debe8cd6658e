"""An agent's Approve or Deny of an action waiting over its limit (a refund over guardrails.refund_limit).

The conversation's `pending` holds the write (bot/actions/form.Waiting) and an escalation of kind
`approval` shows it to the agents (console, Slack card). Approve takes the escalation (one winner),
makes the call once (its idempotency key is the escalation's, so pressing again after a crash does not
refund twice), records it with the agent who approved, and sends the customer the action's reply. Deny
sends the action's `approval.denied` words, with the agent's note when one was given. Either way the
escalation is resolved and the conversation is the bot's again. A call that fails leaves the escalation
with the agent: nothing half done, the failure in action_calls, the agent told why.
"""

from __future__ import annotations

from sqlalchemy import select, update

from bot.actions import call as http_call
from bot.actions.form import Waiting
from bot.actions.reply import render_reply
from bot.db import models as m
from bot.handoff.escalations import Handoff, HandoffError
from bot.messages import ActionRecord, EscalationKind, utcnow
from bot.monitor import metrics

APPROVED, DENIED = "approved", "denied"


async def decide(handoff: Handoff, escalation_id: int, agent_id: int, approve: bool, note: str | None = None) -> str:
    """Approve (True) or deny the write escalation `escalation_id` waits for; returns what the customer is told.
    Raises HandoffError with a readable reason when it can't be done (decided already, held by another agent,
    the shop's API failed)."""
    esc = await handoff.view(escalation_id)
    if esc.reason_kind != EscalationKind.APPROVAL:
        raise HandoffError(f"escalation #{escalation_id} has nothing to approve")
    if esc.status not in ("open", "claimed"):
        raise HandoffError(f"escalation #{escalation_id} is {esc.status} already")
    claim = await handoff.claim(escalation_id, agent_id)
    if not claim.won:
        raise HandoffError(f"escalation #{escalation_id} is held by {claim.owner}")
    async with handoff.sessions() as s:
        conv = await s.get(m.Conversation, esc.conversation_id)
        customer = await s.get(m.Customer, conv.customer_id) if conv is not None else None
        outcome = await s.scalar(select(m.Escalation.review_outcome).where(m.Escalation.id == escalation_id))
        message_id = await s.scalar(select(m.Escalation.message_id).where(m.Escalation.id == escalation_id))
    if outcome:
        raise HandoffError(f"escalation #{escalation_id} was {outcome} already")
    waiting = Waiting.of(conv.pending if conv is not None else None)
    settings, actions = handoff.settings, handoff.actions
    if conv is None or customer is None or waiting is None or waiting.action not in settings.actions:
        raise HandoffError(f"the request of escalation #{escalation_id} is no longer there; write to the customer")
    action = settings.actions[waiting.action]
    seen = {"lookup": waiting.looked_up or {}, "amount": f"{waiting.amount:,.2f}", "limit": f"{waiting.limit:,.2f}"}
    record: ActionRecord | None = None
    if approve:
        if actions is None:
            raise HandoffError("actions are not available in this process")
        step = await actions.execute(waiting.action, waiting.values, waiting.looked_up, channel=conv.channel,
                                     customer_id=customer.external_id, key=f"approval:{escalation_id}",
                                     language=conv.language or "")
        record, text = step.record, step.text
        if record is not None:
            metrics.observe_action_call(record.action, record.status, record.latency_ms)
        if record is not None and record.status == http_call.FAILED:
            async with handoff.sessions.begin() as s:
                s.add(_row(record, conv.id, message_id, agent_id))
            raise HandoffError(f"the shop's API failed ({record.error}); nothing was done. Press Approve again, "
                               "or write to the customer")
    elif actions is not None:  # the denial in the customer's language (language.actions)
        text = actions.denied(waiting, note or "", conv.language or "")
    else:
        text = render_reply(action.approval.denied if action.approval else "", None, waiting.values,
                            **seen, note=(note or "").strip()[:500]) or action.cancel_reply
    async with handoff.sessions.begin() as s:
        held = await handoff._held_by(s, escalation_id, agent_id)
        if held.review_outcome:  # decided by the same agent in another tab a moment ago
            raise HandoffError(f"escalation #{escalation_id} was {held.review_outcome} already")
        now = utcnow()
        held.status, held.resolved_at, held.review_outcome = "resolved", now, APPROVED if approve else DENIED
        held.final_text, held.first_response_at = text, held.first_response_at or now
        if record is not None:
            s.add(_row(record, conv.id, message_id, agent_id))
        await s.execute(update(m.Conversation).where(m.Conversation.id == conv.id)
                        .values(status="bot", pending=None, resolved_by="agent"))
        await handoff._send(s, conv.id, text, "bot", f"approval:{escalation_id}", None)
    handoff.outbox_wake.set()
    now_view = await handoff.view(escalation_id)
    event = APPROVED if approve else DENIED
    await handoff._tell("changed", lambda desk: desk.changed(now_view, event, now_view.agent_name))
    return text


def _row(record: ActionRecord, conversation_id: int, message_id: int | None, agent_id: int) -> m.ActionCall:
    return m.ActionCall(conversation_id=conversation_id, message_id=message_id, action=record.action,
                        params=record.params, status=record.status, http_status=record.http_status,
                        attempts=record.attempts, latency_ms=record.latency_ms,
                        error=(record.error or "")[:500] or None, approved_by=agent_id)
