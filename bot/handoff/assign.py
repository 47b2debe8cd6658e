"""Who holds an escalation besides the agent who pressed Take: round robin, an agent's away, a hand-over.

Holding is the claim model of bot/handoff/escalations.py (status `claimed`, `agent_id`, the conversation
`human`), so everything built on it (the bot staying quiet, replies, Resolve, the filters) works the same;
`escalations.assigned_by` tells how the holder got it (take | auto | transfer), `escalations.team` the
handoff.teams team it is routed or handed to.

- **Routing to a team**: a new escalation whose kind or policy rule is in a team's `reasons`, or whose
  intent is in its `intents`, is that team's (the first such team in the config's order).
- **Round robin** (handoff.assignment.mode): a new escalation is given, in the transaction that creates
  it (Store.on_escalation), to the available agent (of its team, when it has one) holding the fewest
  claimed escalations, under max_per_agent; on a tie the one assigned least recently. Two processes
  cannot both give one agent their last free place: on PostgreSQL the candidates' agent rows are locked
  (FOR UPDATE, in id order) before the escalations are counted, so the second waits and counts again
  after the first commits; SQLite has one writer, and the escalation's INSERT comes first. Nobody
  available, or everyone at the cap: it stays open for Take, and is given out when a place frees (an
  agent comes back, resolves or returns one, hands one over: `fill`).
- **Away**: an agent who sets themselves away gets nothing new; with assignment.release_on_away the
  escalations they hold and have not answered since they got them go back to the queue (and to round
  robin). Those they answered stay theirs.
- **Hand-over**: the holder gives the conversation to another (available) agent, who holds it at once
  whatever the cap, or to a team: open again, in the team's filter, and given round robin within the
  team (never back to the one who handed it over) when the mode is round_robin.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import models as m
from bot.db.engine import rows_affected
from bot.handoff import triage
from bot.handoff.escalations import Handoff, HandoffError
from bot.messages import Outcome, utcnow
from bot.settings_handoff import Assignment

log = logging.getLogger("supportbot.handoff")
E = m.Escalation
FILL_AT_ONCE = 200  # waiting escalations looked at per fill


@dataclass(frozen=True)
class AgentState:
    id: int
    name: str
    available: bool
    holds: int  # claimed escalations in hand


class Assigner:
    """Assignment over a Handoff (stateless beyond it: the web console, the store's hook and the Slack desk
    may each make one)."""

    def __init__(self, handoff: Handoff) -> None:
        self.handoff = handoff

    @property
    def config(self) -> Assignment:
        return self.handoff.settings.handoff.assignment

    @property
    def round_robin(self) -> bool:
        return self.config.mode == "round_robin"

    def team_for(self, kind: str, rule: str | None, intent: str | None) -> str | None:
        """The first team whose reasons name the kind or the rule, or whose intents name the intent."""
        for name, team in self.handoff.settings.handoff.teams.items():
            if kind in team.reasons or (rule and rule in team.reasons) or (intent and intent in team.intents):
                return name
        return None

    # --- inside a transaction -------------------------------------------------------------
    async def _pick(self, s: AsyncSession, team: str | None, exclude: int | None = None) -> int | None:
        """The agent round robin gives the next escalation to (of `team`), or None. Locks the candidates'
        rows on PostgreSQL first, so the count below sees every assignment committed before."""
        candidates = select(m.Agent.id).where(m.Agent.active.is_(True), m.Agent.available.is_(True))
        if team is not None:
            members = self.handoff.settings.handoff.teams[team].agents if team in self.handoff.settings.handoff.teams else []
            candidates = candidates.where(m.Agent.name.in_(members))
        if exclude is not None:
            candidates = candidates.where(m.Agent.id != exclude)
        if s.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update()
        ids = list((await s.scalars(candidates.order_by(m.Agent.id))).all())
        if not ids:
            return None
        rows = (await s.execute(select(m.Agent.id, m.Agent.last_assigned_at, func.count(E.id))
                                .outerjoin(E, (E.agent_id == m.Agent.id) & (E.status == "claimed"))
                                .where(m.Agent.id.in_(ids)).group_by(m.Agent.id, m.Agent.last_assigned_at))).all()
        free = [(held, last is not None, last, agent) for agent, last, held in rows if held < self.config.max_per_agent]
        return min(free)[3] if free else None  # fewest held; never assigned first, then the longest ago

    async def _give(self, s: AsyncSession, escalation_id: int, agent_id: int, how: str) -> bool:
        """The claim's UPDATE (only an open escalation), the conversation to `human`, the agent's turn noted."""
        now = utcnow()
        won = await s.execute(update(E).where(E.id == escalation_id, E.status == "open")
                              .values(status="claimed", agent_id=agent_id, claimed_at=now, assigned_by=how)
                              .returning(E.conversation_id))
        conversation_id = won.scalar()
        if conversation_id is None:
            return False
        await s.execute(update(m.Conversation).where(m.Conversation.id == conversation_id).values(status="human"))
        await s.execute(update(m.Agent).where(m.Agent.id == agent_id).values(last_assigned_at=now))
        return True

    async def on_escalation(self, s: AsyncSession, escalation_id: int, out: Outcome) -> None:
        """Store.on_escalation: a new escalation, in the transaction that creates it: its team, and round robin."""
        kind = out.escalate.kind.value if out.escalate else "policy"
        intent = out.classification.intent if out.classification is not None else None
        team = self.team_for(kind, out.decision.rule, intent)
        if team is not None:
            await s.execute(update(E).where(E.id == escalation_id).values(team=team))
        if self.round_robin and (agent := await self._pick(s, team)) is not None:
            await self._give(s, escalation_id, agent, "auto")

    # --- fill: places freed, agents back ------------------------------------------------------
    async def fill(self) -> list[int]:
        """Give waiting escalations (most urgent first, then the oldest) to agents with a free place; the
        ids given. Each in its own short transaction, under the same lock as a new one."""
        if not self.round_robin:
            return []
        async with self.handoff.sessions() as s:
            waiting = (await s.execute(select(E.id, E.reason_kind, E.team).where(E.status == "open")
                                       .order_by(E.id).limit(FILL_AT_ONCE))).all()
        given = []
        for escalation_id, _kind, team in sorted(waiting, key=lambda w: (triage.priority(w.reason_kind), w.id)):
            async with self.handoff.sessions.begin() as s:
                agent = await self._pick(s, team)
                if agent is None or not await self._give(s, escalation_id, agent, "auto"):
                    continue
            given.append(escalation_id)
        await self._told(given, "assigned")
        return given

    async def _told(self, ids: Iterable[int], event: str, by: str | None = None) -> None:
        for escalation_id in ids:
            esc = await self.handoff.view(escalation_id)
            await self.handoff._tell("changed", lambda desk: desk.changed(esc, event, by or esc.agent_name))

    # --- available / away ---------------------------------------------------------------------
    async def set_available(self, agent_id: int, available: bool) -> list[int]:
        """The agent's own switch. Going away (with release_on_away) hands back what they hold unanswered:
        the ids released. Then waiting escalations are given out (to them, when they came back)."""
        released: list[int] = []
        async with self.handoff.sessions.begin() as s:
            done = await s.execute(update(m.Agent).where(m.Agent.id == agent_id, m.Agent.active.is_(True))
                                   .values(available=available))
            if not rows_affected(done):
                raise HandoffError(f"no active agent #{agent_id}")
            if not available and self.config.release_on_away:
                released = await self._release(s, agent_id)
            name = await s.scalar(select(m.Agent.name).where(m.Agent.id == agent_id))
        await self._told(released, "released", name)
        await self.fill()
        return released

    async def _release(self, s: AsyncSession, agent_id: int) -> list[int]:
        """Back to the queue: escalations `agent_id` holds without an agent message of theirs since they got them."""
        answered = exists().where(m.Message.conversation_id == E.conversation_id, m.Message.author == "agent",
                                  m.Message.agent_id == agent_id, m.Message.created_at >= E.claimed_at)
        ids = list((await s.scalars(select(E.id).where(E.agent_id == agent_id, E.status == "claimed", ~answered)
                                    .order_by(E.id))).all())
        for escalation_id in ids:
            await self._reopen(s, escalation_id)
        return ids

    @staticmethod
    async def _reopen(s: AsyncSession, escalation_id: int, team: str | None = None) -> None:
        values: dict[str, object] = {"status": "open", "agent_id": None, "claimed_at": None, "assigned_by": None}
        if team is not None:
            values["team"] = team
        conversation_id = (await s.execute(update(E).where(E.id == escalation_id).values(**values)
                                           .returning(E.conversation_id))).scalar_one()
        await s.execute(update(m.Conversation).where(m.Conversation.id == conversation_id,
                                                     m.Conversation.status == "human").values(status="waiting"))

    async def agents(self) -> list[AgentState]:
        """Every active agent: available or away, and how many escalations each holds."""
        async with self.handoff.sessions() as s:
            rows = (await s.execute(select(m.Agent.id, m.Agent.name, m.Agent.available, func.count(E.id))
                                    .outerjoin(E, (E.agent_id == m.Agent.id) & (E.status == "claimed"))
                                    .where(m.Agent.active.is_(True))
                                    .group_by(m.Agent.id, m.Agent.name, m.Agent.available).order_by(m.Agent.name))).all()
        return [AgentState(i, n, bool(a), int(h)) for i, n, a, h in rows]

    async def is_available(self, agent_id: int) -> bool:
        async with self.handoff.sessions() as s:
            return bool(await s.scalar(select(m.Agent.available).where(m.Agent.id == agent_id)))

    # --- hand-over ----------------------------------------------------------------------------
    async def transfer(self, escalation_id: int, agent_id: int, to_agent: str | None = None,
                       to_team: str | None = None) -> str:
        """The holder hands the conversation to another agent (by name) or to a team; what it became
        ("bob", "team billing")."""
        if (to_agent is None) == (to_team is None):
            raise HandoffError("hand it to an agent or to a team")
        teams = self.handoff.settings.handoff.teams
        if to_team is not None and to_team not in teams:
            raise HandoffError(f"no team {to_team!r}; teams: {', '.join(teams) or 'none configured'}")
        async with self.handoff.sessions.begin() as s:
            await self.handoff._held_by(s, escalation_id, agent_id)
            if to_agent is not None:
                target = (await s.execute(select(m.Agent.id, m.Agent.available).where(
                    m.Agent.name == to_agent, m.Agent.active.is_(True)))).first()
                if target is None:
                    raise HandoffError(f"no agent {to_agent!r}")
                if target.id == agent_id:
                    raise HandoffError("you hold it already")
                if not target.available:
                    raise HandoffError(f"{to_agent} is away; hand it to an available agent or to a team")
                await s.execute(update(E).where(E.id == escalation_id).values(
                    agent_id=target.id, claimed_at=utcnow(), assigned_by="transfer"))
                await s.execute(update(m.Agent).where(m.Agent.id == target.id).values(last_assigned_at=utcnow()))
                became = to_agent
            else:
                await self._reopen(s, escalation_id, to_team)
                if self.round_robin and (agent := await self._pick(s, to_team, exclude=agent_id)) is not None:
                    await self._give(s, escalation_id, agent, "transfer")
                became = f"team {to_team}"
            by = await s.scalar(select(m.Agent.name).where(m.Agent.id == agent_id))
        await self._told([escalation_id], "transferred", by)
        await self.fill()  # the place it freed
        return became
