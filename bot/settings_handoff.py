"""The `handoff:` section of supportbot.yaml: how escalations reach agents (the Slack channel, the SLA,
canned replies, the agent prefix) and what the customer is told around a person: the wait message in
its pieces, the rating question and its thanks, the hand-back. The customer-facing texts are also
language.texts keys (`handoff.passing_on`, ...: bot/settings_language.py TEXT_KEYS). Kept apart from
bot/settings.py to keep both small.
"""

from __future__ import annotations

from pydantic import Field

from bot.settings_policy import Strict


class Handoff(Strict):
    expected_wait_minutes: int = Field(10, ge=0)
    slack_channel: str | None = None  # the agents' Slack channel id (cards with Take / Resolve / Return)
    sla_seconds: int = Field(300, gt=0)  # an escalation not taken within this is announced again
    canned_replies: dict[str, str] = {}  # title -> text, offered to agents in the console
    # what the customer sees before an agent's words, so a person's reply is not taken for the bot's
    agent_prefix: str = "{agent_name} ({company}): "
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
