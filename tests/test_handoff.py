"""Escalation lifecycle on a real database (SQLite and PostgreSQL): claim races, relay, review, resolve, rating."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from bot.handoff.agents import add_agent
from bot.db import models as m
from bot.handoff.escalations import HandoffError
from bot.messages import utcnow
from tests.fakes.doubles import Desk
from tests.harness.pipeline import app, rows, say  # noqa: F401 - the app fixture (mini config, scripted classifier)


@pytest.fixture
async def desk(app):  # noqa: F811
    d = Desk()
    app.handoff.add_desk(d)
    return d


async def escalate(app) -> int:  # noqa: ANN001
    r = await say(app, "someone used my card", "e-esc")
    assert r.escalation_id
    return r.escalation_id


async def test_new_escalation_is_announced_and_ref_stored(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    assert desk.events == [("announce", esc_id, False)]
    [esc] = await rows(app, m.Escalation)
    assert esc.desk_refs == {"test-desk": {"card": f"c{esc_id}"}} and esc.announce_count == 1
    assert await app.handoff.due() == []


async def test_two_agents_take_at_once_one_wins(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    bob = await add_agent(app.sessions, "bob", "password2")
    a, b = await asyncio.gather(app.handoff.claim(esc_id, ann), app.handoff.claim(esc_id, bob))
    assert sorted([a.won, b.won]) == [False, True] and a.owner == b.owner
    [esc] = await rows(app, m.Escalation)
    assert esc.status == "claimed" and esc.agent_id in (ann, bob) and esc.claimed_at
    winner = ann if a.won else bob
    assert (await app.handoff.claim(esc_id, winner)).won  # pressing Take again is harmless
    assert [e for e in desk.events if e[0] == "claimed"] == [("claimed", esc_id, "ann" if a.won else "bob")]
    [conv] = await rows(app, m.Conversation)
    assert conv.status == "human"


async def test_agent_and_customer_talk_through_the_handoff(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    with pytest.raises(HandoffError, match="take it first"):
        await app.handoff.agent_reply(esc_id, ann, "hello")
    await app.handoff.claim(esc_id, ann)
    await app.handoff.agent_reply(esc_id, ann, "Hi, I'm Ann. I've blocked the card.")
    await app.outbox.flush()
    # the customer sees who writes (handoff.agent_prefix); the stored message is the agent's words
    assert app.out.sent[-1].text == "Ann (Test Shop): Hi, I'm Ann. I've blocked the card."
    sent_before = len(app.out.sent)
    r = await say(app, "thanks, what happens now?", "e2")
    await app.outbox.flush()
    assert r.relayed and r.reply is None and len(app.out.sent) == sent_before  # the bot stays quiet
    assert ("customer_said", esc_id, "thanks, what happens now?") in desk.events
    [esc] = await rows(app, m.Escalation)
    assert esc.first_response_at is not None
    agent_msgs = await rows(app, m.Message, m.Message.author == "agent")
    assert [x.agent_id for x in agent_msgs] == [ann]
    assert [x.text for x in agent_msgs] == ["Hi, I'm Ann. I've blocked the card."]  # the words, without the prefix


async def test_other_agent_cannot_reply_or_resolve(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    bob = await add_agent(app.sessions, "bob", "password2")
    await app.handoff.claim(esc_id, ann)
    with pytest.raises(HandoffError, match="another agent"):
        await app.handoff.agent_reply(esc_id, bob, "hi")
    with pytest.raises(HandoffError, match="another agent"):
        await app.handoff.resolve(esc_id, bob)


async def test_resolve_asks_for_a_rating_and_stores_it(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(esc_id, ann)
    await app.handoff.resolve(esc_id, ann)
    await app.outbox.flush()
    assert "How did we do?" in app.out.sent[-1].text and app.out.sent[-1].buttons == ("1", "2", "3", "4", "5")
    r = await say(app, "4", "e-rate")
    assert r.decision.rule == "feedback" and "Thank you" in app.out.sent[-1].text
    [fb] = await rows(app, m.Feedback)
    assert (fb.rating, fb.escalation_id) == (4, esc_id)
    [conv] = await rows(app, m.Conversation)
    assert (conv.status, conv.resolved_by) == ("closed", "agent") and conv.ended_at
    [esc] = await rows(app, m.Escalation)
    assert esc.status == "resolved" and esc.resolved_at


async def test_no_rating_but_a_new_question_goes_to_the_bot(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(esc_id, ann)
    await app.handoff.resolve(esc_id, ann)
    r = await say(app, "where is my order?", "e-q")
    assert r.decision.route.value == "template" and await rows(app, m.Feedback) == []
    [conv] = await rows(app, m.Conversation)
    assert conv.status == "bot"


async def test_return_to_bot(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(esc_id, ann)
    await app.handoff.return_to_bot(esc_id, ann)
    r = await say(app, "where is my order?", "e-q")
    assert r.decision.route.value == "template"
    [esc] = await rows(app, m.Escalation)
    assert esc.status == "returned"


async def test_review_outcomes_and_labelled_examples(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    async with app.sessions.begin() as s:
        await s.execute(update(m.Escalation).values(draft="We blocked your card.", reason_kind="review"))
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(esc_id, ann)
    with pytest.raises(HandoffError, match="unknown intent"):
        await app.handoff.review(esc_id, ann, "edited", "x", intent="nope")
    await app.handoff.review(esc_id, ann, "edited", "We have blocked your card and will call you.",
                             intent="fraud_report")
    await app.outbox.flush()
    assert app.out.sent[-1].text == "We have blocked your card and will call you."
    [esc] = await rows(app, m.Escalation)
    assert (esc.review_outcome, esc.agent_intent) == ("edited", "fraud_report")
    [ex] = await rows(app, m.LabelledExample)
    assert (ex.text, ex.intent, ex.source, ex.agent_id) == ("someone used my card", "fraud_report", "review", ann)


async def test_sla_reannounces_untaken_escalations(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    assert await app.handoff.due() == []
    async with app.sessions.begin() as s:  # as if the SLA passed since the announcement
        await s.execute(update(m.Escalation).values(announced_at=utcnow().replace(year=2020)))
    assert await app.handoff.due() == [(esc_id, True)]
    await app.handoff.announce(esc_id, again=True)
    assert desk.events[-1] == ("announce", esc_id, True)
    async with app.sessions() as s:
        assert await s.scalar(select(m.Escalation.announce_count)) == 2


async def test_unannounced_escalation_is_due(app):  # noqa: F811
    esc_id = await escalate(app)  # no desk: the worker's announce reached nobody, but it is recorded
    async with app.sessions.begin() as s:
        await s.execute(update(m.Escalation).values(announced_at=None))
    assert await app.handoff.due() == [(esc_id, False)]


async def test_redelivered_agent_message_is_sent_once(app, desk):  # noqa: F811
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(esc_id, ann)
    first = await app.handoff.agent_reply(esc_id, ann, "On it.", key="slack:T1:C1:1700.1")
    again = await app.handoff.agent_reply(esc_id, ann, "On it.", key="slack:T1:C1:1700.1")
    assert first == again
    assert len(await rows(app, m.Message, m.Message.author == "agent")) == 1


async def test_announce_is_reserved_once(app, desk):  # noqa: F811
    esc_id = await escalate(app)  # the worker announced it
    await asyncio.gather(app.handoff.announce(esc_id), app.handoff.announce(esc_id))
    assert [e for e in desk.events if e[0] == "announce"] == [("announce", esc_id, False)]


async def test_a_customer_message_is_read_for_the_desks_only_when_one_listens(app, desk):  # noqa: F811
    """Issue 16: the relay reads the escalation per customer message; with no desk listening it does not."""
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(esc_id, ann)
    desk.open = False
    r = await say(app, "are you still there?", "e-quiet")
    assert r.relayed and not [e for e in desk.events if e[0] == "customer_said"]
    desk.open = True
    await say(app, "hello?", "e-heard")
    assert ("customer_said", esc_id, "hello?") in desk.events
    # messages are stored either way: the agent reads them in the conversation when they look
    texts = [x.text for x in await rows(app, m.Message, m.Message.direction == "in")]
    assert "are you still there?" in texts and "hello?" in texts


def test_the_console_listens_while_a_page_of_the_conversation_or_the_queue_is_open():
    from bot.web.console import WebDesk

    web = WebDesk()
    assert not web.listening(7)
    page = web.listen(7)
    assert web.listening(7) and not web.listening(8)
    web.forget(7, page)
    queue_page = web.listen(None)
    assert web.listening(7) and web.listening(8)
    web.forget(None, queue_page)
    assert not web.listening(7)


async def test_the_agent_prefix_can_be_turned_off(app, desk):  # noqa: F811
    app.settings.handoff.agent_prefix = ""
    esc_id = await escalate(app)
    ann = await add_agent(app.sessions, "ann", "password1")
    await app.handoff.claim(esc_id, ann)
    await app.handoff.agent_reply(esc_id, ann, "Hello from a person.")
    await app.outbox.flush()
    assert app.out.sent[-1].text == "Hello from a person."
