"""The `handoff:` section of supportbot.yaml: how escalations reach agents (the Slack channel, the SLA,
canned replies, the agent prefix) and what the customer is told around a person: the wait message in
its pieces, the rating question and its thanks, the hand-back. The customer-facing texts are also
language.texts keys (`handoff.passing_on`, ...: bot/settings_language.py TEXT_KEYS). Kept apart from
bot/settings.py to keep both small.
"""

from __future__ import annotations

import re
from typing import Iterable, Literal

from pydantic import Field, field_validator

from bot.messages import EscalationKind
from bot.settings_policy import Strict

TEAM_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class Assignment(Strict):
    """handoff.assignment: who gets a new escalation (bot/handoff/assign.py). manual: nobody, agents press
    Take; round_robin: the available agent (of the escalation's team, when one matches) with the fewest
    escalations in hand under max_per_agent, the one assigned least recently on a tie."""

    mode: Literal["manual", "round_robin"] = "manual"
    max_per_agent: int = Field(3, ge=1)  # escalations an agent holds at most before round robin skips them
    # an agent going away hands back the escalations they hold and have not answered yet (to be assigned
    # again, or taken); false: they keep them
    release_on_away: bool = True


class Team(Strict):
    """handoff.teams.NAME: its agents (account names) and the escalations routed to it: by the escalation's
    reason (its kind, `critical`, `approval`, ..., or the name of the policy rule that escalated, `large_sum`)
    or the intent the classifier read."""

    agents: list[str] = []
    reasons: list[str] = []
    intents: list[str] = []


def team_errors(handoff: "Handoff", intents: Iterable[str], rules: Iterable[str]) -> list[tuple[str, str]]:
    """(key, reason) for each team naming an intent, a reason or an agent that cannot be: checked at load,
    once the intents and the rules are known."""
    known_intents, kinds, rule_names = set(intents), {k.value for k in EscalationKind}, set(rules)
    found = []
    for name, team in handoff.teams.items():
        for intent in team.intents:
            if intent not in known_intents:
                found.append((f"handoff.teams.{name}.intents", f"unknown intent {intent!r}"))
        for reason in team.reasons:
            if reason not in kinds and reason not in rule_names:
                found.append((f"handoff.teams.{name}.reasons", f"{reason!r} is neither an escalation kind "
                              f"({', '.join(sorted(kinds))}) nor a policy rule's name"))
        for agent in team.agents:
            if not agent.strip() or len(agent) > 100:
                found.append((f"handoff.teams.{name}.agents", f"{agent!r} is not an agent account name"))
    return found


class Handoff(Strict):
    expected_wait_minutes: int = Field(10, ge=0)
    slack_channel: str | None = None  # the agents' Slack channel id (cards with Take / Resolve / Return)
    sla_seconds: int = Field(300, gt=0)  # an escalation not taken within this is announced again
    canned_replies: dict[str, str] = {}  # title -> text, offered to agents in the console
    # what the customer sees before an agent's words, so a person's reply is not taken for the bot's
    agent_prefix: str = "{agent_name} ({company}): "
    assignment: Assignment = Assignment()
    teams: dict[str, Team] = {}  # name -> its agents and what is routed to it (bot/handoff/assign.py)
    show_payment_details_to_agents: bool = False  # True: web console and dashboard show IBANs, passwords unmasked
    rating_prompt: str = "Thanks for your patience! How did we do? Reply with a number from 1 (poor) to 5 (great)."
    rating_thanks: str = "Thank you for your feedback!"
    rating_comment_thanks: str = "Thanks for telling us. And from 1 (poor) to 5 (great), how did we do?"
    returned_text: str = "You're back with our assistant. Ask me anything, or ask for a person at any time."
    # what the customer is told while a person is on the way (bot/pipeline/respond.py wait_text), each also
    # in language.texts: "{lead}, {usual_wait} ({support hours})." or, outside the hours,
    # "{lead}. {offline} {back} ({support hours}). {email_us}"
    passing_on: str = "I'm passing you to a person from our support team; they'll reply here"
    reviewing: str = "Thanks - a colleague will check the answer and reply here"
    added_to_request: str = "Thanks, I've added this to your request. A person will reply here"
    waiting_approval: str = "You'll get the answer here"
    usual_wait: str = "usually within {minutes} minutes"
    offline: str = "Our team is offline now"
    back: str = "and back {when}"  # {when}: today / tomorrow / on_day
    today: str = "today at {time}"
    tomorrow: str = "tomorrow at {time}"
    on_day: str = "on {day} at {time}"
    weekdays: str = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"  # seven names, for {day}
    email_us: str = "You can also e-mail us at {email}."
    during_hours: str = "during support hours"  # when company.support_hours is not given

    @field_validator("teams")
    @classmethod
    def _team_names(cls, teams: dict[str, Team]) -> dict[str, Team]:
        for name in teams:
            if not TEAM_NAME.fullmatch(name):
                raise ValueError(f"team name {name!r}: lower case letters, digits, - and _ (at most 32), "
                                 "starting with a letter")
        return teams
