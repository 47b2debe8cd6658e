"""The demo's refunds (issue 17), end to end against the demo shop API on both engines: under the bot's
limit (guardrails.refund_limit, €200) a refund is done after the customer's yes; over it, the write waits
for an agent's Approve or Deny (bot/handoff/approvals.py), the customer told what happens next; an order
that can't be refunded gets the shop's reason before anything is asked; the shop down when the agent
approves leaves nothing half done."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.analytics import figures
from bot.db import models as m
from bot.handoff import approvals
from bot.handoff.agents import add_agent
from bot.handoff.escalations import HandoffError
from bot.web import dashboard
from tests.harness.shop import app, calls, settings, shop  # noqa: F401 - the demo app and its shop API
from tests.helpers import say


async def _escalation(app, escalation_id: int) -> m.Escalation:  # noqa: ANN001
    async with app.sessions() as s:
        esc = await s.get(m.Escalation, escalation_id)
        assert esc is not None
        return esc


async def _conversation(app, conversation_id: int) -> m.Conversation:  # noqa: ANN001
    async with app.sessions() as s:
        conv = await s.get(m.Conversation, conversation_id)
        assert conv is not None
        return conv


def _sent(app) -> list[str]:  # noqa: ANN001
    return [r.text for r in app.out.sent]


async def _over_the_limit(app):  # noqa: ANN001, ANN202
    """A refund of NW-50118 (€212.50): asked, confirmed, waiting for an agent."""
    r = await say(app, "I'd like a refund for order NW-50118 please")
    assert "postcode" in r.reply.text
    r = await say(app, "SW1A 1AA")
    assert "€212.50" in r.reply.text and "Fjord wool rug" in r.reply.text and r.reply.buttons[0] == "Yes, refund it"
    r = await say(app, "Yes, refund it")
    return r


async def test_a_refund_under_the_limit_is_done_after_the_customers_yes(app):  # noqa: F811
    r = await say(app, "can I get a refund for NW-52364? it's not what I expected")
    assert r.decision.route.value == "clarify" and "postcode" in r.reply.text
    r = await say(app, "3512 jk")
    assert "Refund €59.90 for order NW-52364" in r.reply.text
    assert await calls(app) == []  # looked up, nothing refunded before the yes
    r = await say(app, "yes")
    assert r.decision.route.value == "action" and r.escalation_id is None
    assert "€59.90 for order NW-52364 goes back" in r.reply.text and "RF-52364" in r.reply.text
    (row,) = await calls(app)
    assert (row.action, row.status, row.http_status, row.approved_by) == ("request_refund", "ok", 201, None)


async def test_an_order_that_cant_be_refunded_gets_the_shops_reason_before_any_yes(app):  # noqa: F811
    await say(app, "refund NW-48213 please")
    r = await say(app, "1012 AB")
    assert "can't refund this order" in r.reply.text and "hasn't been delivered yet" in r.reply.text
    assert not r.reply.buttons or r.reply.buttons[0] != "Yes, refund it"
    (row,) = await calls(app)
    assert (row.status, row.http_status) == ("rejected", 409)


async def test_over_the_limit_an_agent_approves_and_the_customer_gets_the_refund(app):  # noqa: F811
    r = await _over_the_limit(app)
    assert r.decision.route.value == "human" and r.escalation_id is not None
    assert "more than I can approve on my own" in r.reply.text and "Nothing has been refunded" in r.reply.text
    assert "You'll get the answer here" in r.reply.text
    assert await calls(app) == []
    esc = await _escalation(app, r.escalation_id)
    assert esc.reason_kind == "approval" and "€212.50" in esc.reason and "NW-50118" in esc.reason
    assert (await _conversation(app, r.conversation_id)).status == "waiting"

    answered = await say(app, "Do you ship to Switzerland?")  # the bot still answers while it waits
    assert "Switzerland" in answered.reply.text and (await _conversation(app, r.conversation_id)).pending["kind"] == "approval"

    agent = await add_agent(app.sessions, "ann", "correct horse battery")
    told = await approvals.decide(app.handoff, r.escalation_id, agent, approve=True)
    await app.outbox.flush()
    assert "€212.50 for order NW-50118 goes back" in told and told in _sent(app)
    (row,) = await calls(app)
    assert (row.action, row.status, row.approved_by) == ("request_refund", "ok", agent)
    esc = await _escalation(app, r.escalation_id)
    assert (esc.status, esc.review_outcome, esc.agent_id) == ("resolved", "approved", agent)
    conv = await _conversation(app, r.conversation_id)
    assert conv.status == "bot" and conv.pending is None
    with pytest.raises(HandoffError, match="resolved already"):  # pressed again: refunded once
        await approvals.decide(app.handoff, r.escalation_id, agent, approve=True)
    assert len(await calls(app)) == 1
    r = await say(app, "thanks! how long does delivery to France take?")  # the bot is back
    assert r.decision.route.value != "human"
    report = await figures.report(app.engine)  # what `supportbot report` and /dashboard show
    (refunds,) = report["actions"]["by_action"]
    assert (refunds["action"], refunds["ok"], refunds["approved"]) == ("request_refund", 1, 1)
    page = dashboard.render_page(report, await figures.daily(app.engine, figures.Filters()), figures.Filters(), [], None, "")
    assert "Actions (calls to the shop&#39;s API)" in page and "approved by an agent" in page


async def test_over_the_limit_an_agent_denies_with_a_note_and_nothing_is_refunded(app):  # noqa: F811
    r = await _over_the_limit(app)
    agent = await add_agent(app.sessions, "bob", "correct horse battery")
    told = await approvals.decide(app.handoff, r.escalation_id, agent, approve=False,
                                  note="the rug was used, so we can offer a partial refund instead")
    await app.outbox.flush()
    assert "couldn't approve it: the rug was used" in told and told in _sent(app)
    assert await calls(app) == []
    esc = await _escalation(app, r.escalation_id)
    assert (esc.status, esc.review_outcome) == ("resolved", "denied")
    assert (await _conversation(app, r.conversation_id)).status == "bot"


async def test_another_agent_cannot_decide_an_approval_someone_holds(app):  # noqa: F811
    r = await _over_the_limit(app)
    ann = await add_agent(app.sessions, "ann", "correct horse battery")
    bob = await add_agent(app.sessions, "bob", "correct horse battery")
    assert (await app.handoff.claim(r.escalation_id, ann)).won
    with pytest.raises(HandoffError, match="held by ann"):
        await approvals.decide(app.handoff, r.escalation_id, bob, approve=True)
    assert await calls(app) == []


async def test_the_shop_down_when_approving_does_nothing_and_the_agent_can_press_again(app, shop):  # noqa: F811
    r = await _over_the_limit(app)
    agent = await add_agent(app.sessions, "ann", "correct horse battery")
    app.actions.self_url = "http://127.0.0.1:9"  # nothing listens there: refused
    sent_before = len(_sent(app))
    with pytest.raises(HandoffError, match="nothing was done"):
        await approvals.decide(app.handoff, r.escalation_id, agent, approve=True)
    (failed,) = await calls(app)
    assert (failed.status, failed.approved_by) == ("failed", agent)
    esc = await _escalation(app, r.escalation_id)
    assert (esc.status, esc.review_outcome) == ("claimed", None)  # still the agent's, nothing told
    await app.outbox.flush()
    assert len(_sent(app)) == sent_before
    app.actions.self_url = shop
    told = await approvals.decide(app.handoff, r.escalation_id, agent, approve=True)
    assert "goes back" in told
    assert [c.status for c in await calls(app)] == ["failed", "ok"]


async def test_a_refund_naming_a_large_sum_goes_to_a_person_at_once(app):  # noqa: F811
    r = await say(app, "I want a refund of €530 for my order, you charged far too much")
    assert r.decision.route.value == "human" and await calls(app) == []


async def test_the_approval_is_kept_across_a_restart(app, settings, shop):  # noqa: F811
    from tests.harness.shop import _opened

    r = await _over_the_limit(app)
    cm, again = await _opened(settings, shop)
    try:
        agent = await add_agent(again.sessions, "ann", "correct horse battery")
        told = await approvals.decide(again.handoff, r.escalation_id, agent, approve=True)
        assert "goes back" in told
        async with again.sessions() as s:
            (row,) = (await s.scalars(select(m.ActionCall))).all()
        assert row.approved_by == agent
    finally:
        await cm.__aexit__(None, None, None)


async def test_a_request_waiting_for_approval_is_not_dropped_by_resolve_or_return(app):  # noqa: F811
    r = await _over_the_limit(app)
    agent = await add_agent(app.sessions, "ann", "correct horse battery")
    assert (await app.handoff.claim(r.escalation_id, agent)).won
    for drop in (app.handoff.resolve, app.handoff.return_to_bot):
        with pytest.raises(HandoffError, match="waits for Approve or Deny"):
            await drop(r.escalation_id, agent)
    assert (await _escalation(app, r.escalation_id)).status == "claimed"
    await approvals.decide(app.handoff, r.escalation_id, agent, approve=False, note="you asked us to leave it")
    assert (await _escalation(app, r.escalation_id)).review_outcome == "denied"
