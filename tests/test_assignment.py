"""Assignment (bot/handoff/assign.py) on SQLite and PostgreSQL: round robin under the cap in the escalation's
own transaction, the race of two processes for an agent's last place, away and back, teams, hand-over,
and the config's errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from bot.app import App
from bot.db import models as m
from bot.handoff.agents import add_agent
from bot.handoff.assign import Assigner
from bot.handoff.escalations import HandoffError
from bot.messages import InboundMessage
from bot.settings import load_settings
from bot.settings_files import ConfigError
from bot.settings_handoff import Assignment, Team
from tests.fakes.doubles import Collect, Scripted
from tests.helpers import MINI, mini_settings


def settings_for(db_url: str, mode: str = "round_robin", cap: int = 1, teams: dict[str, Team] | None = None):  # noqa: ANN201
    s = mini_settings()
    s.database.url = db_url
    s.handoff.assignment = Assignment(mode=mode, max_per_agent=cap)
    s.handoff.teams = teams or {}
    return s


class Opened:
    """An App on the test database with a `test` channel, and its Assigner."""

    def __init__(self, settings) -> None:  # noqa: ANN001
        self.settings, self.n = settings, 0

    async def __aenter__(self) -> "Opened":
        self.cm = App.open(self.settings, classifier=Scripted())
        self.app = await self.cm.__aenter__()
        self.app.channels.register(Collect())
        self.assign = Assigner(self.app.handoff)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cm.__aexit__(*exc)

    async def say(self, text: str, customer: str) -> int | None:
        """One message of `customer` (a conversation of their own); the escalation it opened, if any."""
        self.n += 1
        msg = InboundMessage(channel="test", customer_id=customer, text=text, conversation_key=customer,
                             customer_name=customer.title())
        event_id = await self.app.inbox.accept(msg, f"{customer}:{self.n}:{text[:20]}")
        results = await self.app.worker.drain()
        await self.app.outbox.flush()
        result = results.get(event_id) if event_id else None
        return result.escalation_id if result else None

    async def agent(self, name: str, available: bool = True) -> int:
        agent_id = await add_agent(self.app.sessions, name, "password1")
        if available:
            await self.assign.set_available(agent_id, True)
        return agent_id

    async def esc(self, escalation_id: int) -> m.Escalation:
        async with self.app.sessions() as s:
            row = await s.get(m.Escalation, escalation_id)
            assert row is not None
            return row

    async def conversation_status(self, escalation_id: int) -> str:
        async with self.app.sessions() as s:
            return str(await s.scalar(select(m.Conversation.status).join(
                m.Escalation, m.Escalation.conversation_id == m.Conversation.id).where(m.Escalation.id == escalation_id)))


async def test_round_robin_one_each_under_the_cap_the_rest_waits(db_url):
    async with Opened(settings_for(db_url, cap=1)) as o:
        ann, bob = await o.agent("ann"), await o.agent("bob")
        first = await o.say("someone used my card", "c1")
        second = await o.say("someone used my card", "c2")
        third = await o.say("someone used my card", "c3")
        a, b, c = [await o.esc(i) for i in (first, second, third)]
        assert {a.agent_id, b.agent_id} == {ann, bob} and a.status == b.status == "claimed"
        assert a.assigned_by == b.assigned_by == "auto" and a.claimed_at is not None
        assert (c.status, c.agent_id) == ("open", None)  # both at the cap: for Take
        assert await o.conversation_status(first) == "human" and await o.conversation_status(third) == "waiting"
        view = await o.app.handoff.view(first)
        assert view.agent_name in ("ann", "bob") and view.assigned_by == "auto"
        # the holder's reply, resolve: the place frees and the waiting one is given out
        holder = a.agent_id
        await o.app.handoff.agent_reply(first, holder, "I'm on it")
        await o.app.handoff.resolve(first, holder)
        c = await o.esc(third)
        assert (c.status, c.agent_id, c.assigned_by) == ("claimed", holder, "auto")


async def test_ties_go_to_the_agent_assigned_least_recently(db_url):
    async with Opened(settings_for(db_url, cap=5)) as o:
        ann, bob = await o.agent("ann"), await o.agent("bob")
        got = [(await o.esc(await o.say("someone used my card", f"c{i}"))).agent_id for i in range(4)]
        assert got in ([ann, bob, ann, bob], [bob, ann, bob, ann])


async def test_manual_mode_leaves_it_for_take_and_take_is_recorded(db_url):
    async with Opened(settings_for(db_url, mode="manual")) as o:
        ann = await o.agent("ann")
        esc = await o.say("someone used my card", "c1")
        assert (await o.esc(esc)).status == "open"
        assert (await o.app.handoff.claim(esc, ann)).won
        assert (await o.esc(esc)).assigned_by == "take"


async def test_nobody_available_stays_open_and_an_agent_coming_back_gets_it(db_url):
    async with Opened(settings_for(db_url, cap=1)) as o:
        ann = await o.agent("ann", available=False)  # away is the default of a new account
        esc = await o.say("someone used my card", "c1")
        assert (await o.esc(esc)).status == "open"
        assert not await o.assign.is_available(ann)
        await o.assign.set_available(ann, True)
        assert ((await o.esc(esc)).status, (await o.esc(esc)).agent_id) == ("claimed", ann)


async def test_going_away_hands_back_the_unanswered_ones(db_url):
    async with Opened(settings_for(db_url, cap=2)) as o:
        ann = await o.agent("ann")
        answered, unanswered = await o.say("someone used my card", "c1"), await o.say("someone used my card", "c2")
        await o.app.handoff.agent_reply(answered, ann, "Hello, I'm looking into it")
        bob = await o.agent("bob", available=False)
        assert await o.assign.set_available(ann, False) == [unanswered]
        kept, back = await o.esc(answered), await o.esc(unanswered)
        assert (kept.status, kept.agent_id) == ("claimed", ann)
        assert (back.status, back.agent_id, back.assigned_by) == ("open", None, None)
        assert await o.conversation_status(unanswered) == "waiting"
        await o.assign.set_available(bob, True)  # back to the pool: the one who comes gets it
        assert (await o.esc(unanswered)).agent_id == bob
        states = {a.name: (a.available, a.holds) for a in await o.assign.agents()}
        assert states == {"ann": (False, 1), "bob": (True, 1)}
        with pytest.raises(HandoffError, match="no active agent"):
            await o.assign.set_available(99999, True)


async def test_two_processes_race_for_the_last_place(db_url):
    """Two escalations created at once in two Apps (two processes' engines), one agent with cap 1: one gets it.
    On PostgreSQL both transactions are held until both reach the assignment, so without the row lock both
    would count 0 held and take the place; SQLite has one writer, so there they only run side by side."""
    settings = settings_for(db_url, cap=1)
    async with Opened(settings) as one, Opened(settings_for(db_url, cap=1)) as two:
        ann = await one.agent("ann")
        if db_url.startswith("postgresql"):
            arrived, both = [0], asyncio.Event()
            for o in (one, two):
                real = o.app.store.on_escalation

                async def held(s, escalation_id, out, real=real):  # noqa: ANN001
                    arrived[0] += 1
                    if arrived[0] == 2:
                        both.set()
                    await asyncio.wait_for(both.wait(), 20)
                    await real(s, escalation_id, out)
                o.app.store.on_escalation = held
        # each App's worker may handle either event (one inbox): the escalations are read from the table
        await asyncio.gather(one.say("someone used my card", "c1"), two.say("someone used my card", "c2"))
        async with one.app.sessions() as s:
            rows = (await s.scalars(select(m.Escalation).order_by(m.Escalation.id))).all()
        assert len(rows) == 2
        assert sorted(r.status for r in rows) == ["claimed", "open"]
        assert [r.agent_id for r in rows if r.status == "claimed"] == [ann]


TEAMS = {"fraud": Team(agents=["cat"], reasons=["critical"]),  # by the escalation's kind
         "doubts": Team(agents=["ann", "bob"], intents=["order_status"])}  # by the intent read


def test_the_first_matching_team_by_kind_rule_or_intent():
    teams = {"vip": Team(reasons=["large_sum"]), "money": Team(reasons=["approval"], intents=["refund"]),
             **TEAMS}
    handoff = type("H", (), {"settings": type("S", (), {"handoff": type("C", (), {"teams": teams})})})()
    pick = Assigner(handoff).team_for  # type: ignore[arg-type]
    assert pick("policy", "large_sum", "refund") == "vip"  # the rule's name; vip comes first
    assert pick("approval", "action", None) == "money" and pick("policy", "x", "refund") == "money"
    assert pick("critical", "critical", "fraud_report") == "fraud" and pick("asked", "wants_human", "greeting") is None


async def test_teams_route_by_intent_and_reason_and_assign_within(db_url):
    async with Opened(settings_for(db_url, cap=3, teams=TEAMS)) as o:
        ann, cat = await o.agent("ann"), await o.agent("cat", available=False)
        fraud = await o.say("someone used my card", "c1")
        unsure = await o.say("I am unsure what to do", "c2")
        f, u = await o.esc(fraud), await o.esc(unsure)
        assert (f.team, f.status) == ("fraud", "open")  # cat is away; ann is not in the team
        assert (u.team, u.agent_id) == ("doubts", ann)
        await o.assign.set_available(cat, True)
        assert (await o.esc(fraud)).agent_id == cat


async def test_hand_over_to_an_agent_and_to_a_team(db_url):
    async with Opened(settings_for(db_url, cap=1, teams=TEAMS)) as o:
        ann, bob = await o.agent("ann"), await o.agent("bob", available=False)
        esc = await o.say("I am unsure what to do", "c1")
        assert (await o.esc(esc)).agent_id == ann
        with pytest.raises(HandoffError, match="bob is away"):
            await o.assign.transfer(esc, ann, to_agent="bob")
        with pytest.raises(HandoffError, match="no agent 'zed'"):
            await o.assign.transfer(esc, ann, to_agent="zed")
        with pytest.raises(HandoffError, match="held by another agent"):
            await o.assign.transfer(esc, bob, to_agent="ann")
        with pytest.raises(HandoffError, match="no team 'billing'"):
            await o.assign.transfer(esc, ann, to_team="billing")
        await o.app.handoff.agent_reply(esc, ann, "Let me pass you to a colleague")
        await o.assign.set_available(bob, True)
        assert await o.assign.transfer(esc, ann, to_agent="bob") == "bob"  # whatever the cap
        row = await o.esc(esc)
        assert (row.status, row.agent_id, row.assigned_by) == ("claimed", bob, "transfer")
        assert await o.conversation_status(esc) == "human"
        await o.app.handoff.agent_reply(esc, bob, "Hi, Bob here")
        # to a team: never back to the one handing it over; cat is the only other one, and away
        assert await o.assign.transfer(esc, bob, to_team="fraud") == "team fraud"
        row = await o.esc(esc)
        assert (row.status, row.agent_id, row.team) == ("open", None, "fraud")
        assert await o.conversation_status(esc) == "waiting"
        cat = await o.agent("cat")
        row = await o.esc(esc)
        assert (row.status, row.agent_id, row.assigned_by) == ("claimed", cat, "auto")


def _write_config(tmp_path: Path, handoff: dict) -> Path:  # noqa: ANN001
    cfg = yaml.safe_load(MINI.read_text(encoding="utf-8"))
    cfg["intents_file"] = str(MINI.parent / cfg.get("intents_file", "intents.yaml"))
    cfg["answers_file"] = str(MINI.parent / cfg.get("answers_file", "answers.yaml"))
    cfg.setdefault("knowledge", {})["path"] = str(MINI.parent / cfg.get("knowledge", {}).get("path", "kb"))
    cfg["handoff"] = {**cfg.get("handoff", {}), **handoff}
    path = tmp_path / "supportbot.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.mark.parametrize("handoff, key, words", [
    ({"assignment": {"mode": "fastest"}}, "handoff.assignment.mode", "manual"),
    ({"assignment": {"max_per_agent": 0}}, "handoff.assignment.max_per_agent", "greater than or equal to 1"),
    ({"assignment": {"cap": 2}}, "handoff.assignment.cap", "unknown key"),
    ({"teams": {"billing": {"intents": ["refunds"]}}}, "handoff.teams.billing.intents", "unknown intent 'refunds'"),
    ({"teams": {"billing": {"reasons": ["money"]}}}, "handoff.teams.billing.reasons", "neither an escalation kind"),
    ({"teams": {"Billing Team": {}}}, "handoff.teams", "lower case letters"),
    ({"teams": {"billing": {"agent": ["ann"]}}}, "handoff.teams.billing.agent", "unknown key"),
])
def test_config_errors_name_the_key(tmp_path, handoff, key, words):
    with pytest.raises(ConfigError) as err:
        load_settings(_write_config(tmp_path, handoff))
    assert key in str(err.value) and words in str(err.value)


def test_a_good_assignment_config_loads(tmp_path):
    s = load_settings(_write_config(tmp_path, {
        "assignment": {"mode": "round_robin", "max_per_agent": 2},
        "teams": {"fraud": {"agents": ["ann"], "reasons": ["critical", "low_confidence"], "intents": ["fraud_report"]}}}))
    assert s.handoff.assignment.mode == "round_robin" and s.handoff.teams["fraud"].reasons == ["critical", "low_confidence"]
