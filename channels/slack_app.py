"""The Slack bolt app: who we are (authorize) and the listeners that route Slack's events.

build_app() wires each kind of payload to a method of the channel (channels/slack.py's
SlackChannel, seen here through the BoltChannel Protocol so this module does not import it back):
customers' messages, @mentions and reply-button presses go to the inbox (stored before the ack);
agents' card buttons, their thread replies and `/supportbot` go to the desk (channels/slack_desk.py).
Every other event is acknowledged and ignored, so Slack does not deliver it again.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol, cast

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack_text import BUTTONS

if TYPE_CHECKING:
    from channels.slack_desk import SlackDesk

TIMEOUT = 10  # seconds per Web API call

log = logging.getLogger("supportbot.slack")

Payload = dict[str, Any]  # a Slack event, action or command (JSON), as bolt passes it


class BoltChannel(Protocol):
    """What the listeners need of the channel (channels.slack.SlackChannel)."""

    client: AsyncWebClient
    desk: SlackDesk | None

    async def whoami(self) -> dict[str, Any]: ...

    def from_customer(self, event: Payload) -> bool: ...

    async def accept(self, body: Payload, event: Payload, *, mention: bool) -> None: ...

    def in_agents_channel(self, event: Payload) -> bool: ...

    async def agent_wrote(self, body: Payload, event: Payload) -> None: ...

    def spawn(self, work: Awaitable[Any]) -> asyncio.Task[None]: ...

    async def accept_button(self, body: Payload, action: Payload) -> None: ...

    async def command(self, command: Payload) -> str: ...


def build_app(channel: BoltChannel, signing_secret: str) -> AsyncApp:
    """The bolt app: who we are (authorize) and short listeners: customers' messages and button
    presses go to the inbox; agents' buttons, thread replies and /supportbot go to the desk."""

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:  # bolt injects by name
        me = await channel.whoami()
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id or me["team_id"], bot_id=me["bot_id"],
                               bot_user_id=me["user_id"], bot_token=channel.client.token)

    # The per-request clients bolt derives from this one get the token from authorize().
    app = AsyncApp(name="supportbot.slack", signing_secret=signing_secret, authorize=authorize,
                   client=AsyncWebClient(base_url=channel.client.base_url, timeout=TIMEOUT),
                   process_before_response=True)

    @app.event("message")
    async def direct_message(body: Payload, event: Payload) -> None:
        if not channel.from_customer(event):
            return
        if event.get("channel_type") == "im":
            await channel.accept(body, event, mention=False)
        elif channel.in_agents_channel(event) and event.get("thread_ts") not in (None, event.get("ts")):
            await channel.agent_wrote(body, event)

    @app.event("app_mention")
    async def app_mention(body: Payload, event: Payload) -> None:
        if channel.from_customer(event) and not channel.in_agents_channel(event):  # agents are no customers
            await channel.accept(body, event, mention=True)

    @app.action(re.compile(r"^sb_(take|resolve|return|approve|deny)$"))
    async def card_button(ack: AsyncAck, body: Payload, action: Payload) -> None:
        await ack()  # at once: claiming and updating the card happen right after
        desk = channel.desk  # in_agents_channel() is False without one
        if desk is not None and channel.in_agents_channel({"channel": (body.get("channel") or {}).get("id")}):
            user = body.get("user") or {}
            # a card button always has a value (the escalation id); press() answers a missing one itself
            value = cast(str, action.get("value"))
            channel.spawn(desk.press(action["action_id"], value, user["id"], user.get("name") or user.get("username")))

    @app.action(re.compile(rf"^{BUTTONS}_\d+$"))
    async def reply_button(ack: AsyncAck, body: Payload, action: Payload) -> None:
        await channel.accept_button(body, action)  # stored, then acknowledged
        await ack()

    @app.command("/supportbot")
    async def supportbot_command(ack: AsyncAck, command: Payload) -> None:
        await ack(response_type="ephemeral", text=await channel.command(command))

    @app.event(re.compile(".*"))
    async def anything_else(event: Payload) -> None:
        """Acknowledged and ignored, so Slack does not retry events we do not handle."""
        log.debug("slack: ignored a %s event", event.get("type"))

    return app
