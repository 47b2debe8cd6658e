"""Slack: direct messages and @mentions, over the Events API (HTTP) or Socket Mode, with slack-bolt.

The bolt listeners have one job: turn a Slack event into an InboundMessage and store it in
the inbox. The app runs with process_before_response=True, so bolt acknowledges an event
(HTTP 200, or the Socket Mode ack) only after its listener returned, i.e. after the event
is stored; a listener that fails (database down) answers 500 / sends no ack, and Slack
delivers again. Redeliveries are deduplicated by the inbox on (team_id, event_id).

Settings (environment only): SLACK_BOT_TOKEN (xoxb-), and SLACK_SIGNING_SECRET for the HTTP
Events API at POST /slack/events, or SLACK_APP_TOKEN (xapp-) for Socket Mode;
SLACK_API_URL points the Web API elsewhere (tests).

Agents in Slack (when supportbot.yaml sets handoff.slack_channel): escalation cards in that
channel (channels/slack_desk.py), their buttons, replies in their threads and `/supportbot queue`.
Over HTTP, Interactivity's Request URL and the slash command's URL are the same
POST /slack/events (bolt tells a JSON event, a `payload=` form and a `command=` form apart);
in Socket Mode they arrive on the socket. The Slack app needs the scopes chat:write,
commands, users:read and channels:history (groups:history for a private channel), the event
message.channels (message.groups), and the bot invited to the agents' channel. Button clicks
are acknowledged at once and carried out right after (Slack wants an answer within 3 s); a
customer's click on a reply button (the 1-5 rating) is stored in the inbox before the ack,
like any customer message. The bolt app and its listeners: channels/slack_app.py; text conversion,
splitting and reply buttons: channels/slack_text.py.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.channel import ChannelContext, DeliveryError
from bot.messages import InboundMessage, Reply
from bot.settings import ConfigError
from channels.slack_app import TIMEOUT, Payload, build_app
from channels.slack_people import People
from channels.slack_text import (BUTTONS, LIMIT, SECTION_LIMIT, button_blocks, escape,  # noqa: F401 - also
                                 plain_text, split_text)  # imported from here by the tests

NAME = "slack"
REQUIRED_ENV = ("SLACK_BOT_TOKEN",)  # the start-up summary says the channel waits for these
PATH = "/slack/events"
CONNECT_WAIT = 5.0  # how long start() waits for the first Socket Mode connection
SENT_MEMORY = 2048  # idempotency keys whose delivered chunks we remember
CUSTOMER_SUBTYPES = (None, "file_share", "thread_broadcast")  # a person wrote (or shared) something
UNREACHABLE = {"channel_not_found", "is_archived", "not_in_channel", "cannot_dm_bot", "user_not_found",
               "user_disabled", "channel_is_archived"}
AUTH = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "missing_scope",
        "team_access_revoked", "not_allowed_token_type", "no_permission", "ekm_access_denied"}
PERMANENT = AUTH | {"msg_too_long", "no_text", "invalid_arguments", "invalid_blocks", "restricted_action",
                    "too_many_attachments", "invalid_thread_ts", "message_limit_exceeded"}
HELP = "Usage: `/supportbot queue` lists the open escalations (in the agents' channel)."

if TYPE_CHECKING:
    from channels.slack_desk import SlackDesk

log = logging.getLogger("supportbot.slack")


class SlackUnavailable(RuntimeError):
    """auth.test failed. Deliberately not a SlackApiError: bolt answers those with a 200 (the
    event would be acknowledged unstored); any other exception makes it answer 500, so Slack retries."""


class SlackChannel:
    name = NAME

    def __init__(self, ctx: ChannelContext, *, bot_token: str, signing_secret: str = "", app_token: str = "",
                 api_url: str | None = None):
        self.ctx = ctx
        self.mode = "socket" if app_token else "http"
        self.app_token = app_token
        self.client = (AsyncWebClient(token=bot_token, timeout=TIMEOUT, base_url=api_url) if api_url
                       else AsyncWebClient(token=bot_token, timeout=TIMEOUT))
        self.verifier = SignatureVerifier(signing_secret) if self.mode == "http" else None
        self.app = build_app(self, signing_secret)
        self.socket: AsyncSocketModeHandler | None = None
        self.identity: dict[str, Any] | None = None  # auth.test: team, our bot user
        self.error: str | None = None
        self.accepting = False
        self._connecting: asyncio.Task[None] | None = None
        self._auth_lock = asyncio.Lock()
        self._sent: OrderedDict[str, dict[int, str]] = OrderedDict()  # idempotency key -> chunk -> ts
        self.desk: SlackDesk | None = None  # agents' channel: set by create() when handoff.slack_channel is
        self._tasks: set[asyncio.Task[None]] = set()  # button clicks being carried out after their ack
        self.people = People(self.client)  # customers' profile names (users.info, cached)

    # --- ChannelRuntime -------------------------------------------------------------
    def mount(self, app: web.Application) -> None:
        if self.mode == "http":
            app.router.add_post(PATH, self.events)

    async def start(self) -> None:
        try:
            await self.whoami()
        except SlackUnavailable as e:  # keep serving the other channels; authorize() asks again per event
            log.error("slack: %s (events are refused with 500 until it succeeds)", e)
        if self.mode == "socket":
            self.socket = AsyncSocketModeHandler(self.app, self.app_token, web_client=self.client)
            # slack_bolt's connect_async/close_async are not annotated (they return None)
            connect = self.socket.connect_async()  # type: ignore[no-untyped-call]
            self._connecting = asyncio.create_task(connect, name="slack-socket-connect")
            await asyncio.wait({self._connecting}, timeout=CONNECT_WAIT)
            if not self._connecting.done():
                log.warning("slack: Socket Mode not connected after %ss; still trying", CONNECT_WAIT)
        self.accepting = True
        log.warning("slack: %s mode, team %s, bot user %s", self.mode, *self._who())

    async def stop(self) -> None:
        self.accepting = False
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        if self._tasks:  # clicks already acknowledged: finish them
            await asyncio.wait(set(self._tasks), timeout=TIMEOUT * 2)

    async def drained(self) -> None:
        """Wait until the clicks acknowledged so far are carried out."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    def spawn(self, work: Awaitable[Any]) -> asyncio.Task[None]:
        """Carry out an acknowledged click; stop() waits for it."""
        task = asyncio.create_task(self._logged(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    async def _logged(work: Awaitable[Any]) -> None:
        try:
            await work
        except Exception:  # noqa: BLE001 - nobody awaits it: say so in the log
            log.exception("slack: a button click failed")

    async def close(self) -> None:
        return None  # the Web API client opens a session per call: nothing held

    def state(self) -> dict[str, Any]:
        team, bot_user = self._who()
        body: dict[str, Any] = {"state": self.mode, "team": team, "bot_user": bot_user}
        if not self.accepting:
            body["state"] = "stopped"
        elif self.error:
            body.update(state="error", error=self.error)
        if self.socket is not None and self.accepting:
            session = self.socket.client.current_session
            body["connected"] = session is not None and not session.closed
        return body

    def _who(self) -> tuple[str | None, str | None]:
        return (self.identity or {}).get("team"), (self.identity or {}).get("user_id")

    async def whoami(self) -> dict[str, Any]:
        """Our team and bot user (auth.test, once); raises SlackUnavailable."""
        async with self._auth_lock:
            if self.identity is None:
                try:
                    r = await self.client.auth_test()
                except SlackApiError as e:
                    self.error = f"auth.test: {e.response.get('error')}"
                    raise SlackUnavailable(self.error) from None
                except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                    self.error = f"auth.test: {type(e).__name__}"
                    raise SlackUnavailable(self.error) from None
                self.identity = {"team_id": r["team_id"], "team": r.get("team"), "user_id": r["user_id"],
                                 "bot_id": r.get("bot_id")}
                self.error = None
            return self.identity

    # --- inbound ----------------------------------------------------------------------
    async def events(self, request: web.Request) -> web.Response:
        """POST /slack/events: check the signature, let bolt dispatch, ack what it stored."""
        if not self.accepting:
            return web.json_response({"error": "not accepting events right now"}, status=503)
        raw = await request.read()  # over the server's client_max_size: 413
        if not self._signed(raw, request.headers):
            return web.json_response({"error": "invalid signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except Exception as e:  # noqa: BLE001 - bolt parses while constructing: bad JSON, too deep, a list...
            log.warning("slack: unreadable event body (%s): 400", type(e).__name__)
            return web.json_response({"error": "expected a JSON object"}, status=400)
        response = await self.app.async_dispatch(bolt_request)
        if response.status == 404:  # no listener for this payload type: ack it, or Slack retries
            response = BoltResponse(status=200, body="")
        return await to_aiohttp_response(response)

    def _signed(self, body: bytes, headers: Any) -> bool:
        """Slack's v0 signature, at most 5 minutes old (bolt checks again; this one never raises)."""
        assert self.verifier is not None, "events() is mounted in HTTP mode only, which has a verifier"
        try:
            return self.verifier.is_valid(body, headers.get("X-Slack-Request-Timestamp"),
                                          headers.get("X-Slack-Signature"))
        except (ValueError, TypeError):  # a timestamp that is not a number, a body that is not UTF-8
            return False

    def from_customer(self, event: Payload) -> bool:
        """A person wrote it: not a bot (us or another), not an edit, join or deletion."""
        own = (self.identity or {}).get("user_id")
        return (bool(event.get("user")) and event.get("user") != own and not event.get("bot_id")
                and event.get("subtype") in CUSTOMER_SUBTYPES)

    async def accept(self, body: Payload, event: Payload, *, mention: bool) -> None:
        team = body.get("team_id") or event.get("team", "")
        user, chan, ts, thread_ts = event["user"], event["channel"], event["ts"], event.get("thread_ts")
        if mention:  # in a channel every mention starts (or continues) its own thread
            key, reply_thread = f"{team}:{chan}:{thread_ts or ts}", thread_ts or ts
        else:  # a DM is one conversation; a thread inside it is its own
            key, reply_thread = f"{team}:{chan}" + (f":{thread_ts}" if thread_ts else ""), thread_ts
        text = plain_text(event.get("text") or "", (self.identity or {}).get("user_id"))
        kind = "unsupported" if not text.strip() and event.get("files") else "text"
        msg = InboundMessage(channel=NAME, customer_id=f"{team}:{user}", text=text, conversation_key=key,
                             external_id=f"{chan}:{ts}", reply_to={"channel": chan, "thread_ts": reply_thread},
                             kind=kind, customer_name=await self.people.name(user))
        event_id = body.get("event_id") or f"{chan}:{ts}"
        if await self.ctx.inbox.accept(msg, f"{team}:{event_id}") is None:
            log.info("slack: event %s:%s seen before: a redelivery, acknowledged again", team, event_id)

    # --- agents and buttons --------------------------------------------------------------
    def in_agents_channel(self, event: Payload) -> bool:
        return self.desk is not None and event.get("channel") == self.desk.channel_id

    async def agent_wrote(self, body: Payload, event: Payload) -> None:
        """A message in a thread of the agents' channel: a reply to the customer if it is a card's thread.
        Relayed before the ack (a failure answers 500 and Slack delivers again; a redelivery is recognised)."""
        team = body.get("team_id") or event.get("team", "")
        text = plain_text(event.get("text") or "", (self.identity or {}).get("user_id"))
        key = f"{team}:{body.get('event_id') or event['ts']}"
        assert self.desk is not None, "the listener calls this for the agents' channel only"
        await self.desk.thread_reply(event["user"], event["thread_ts"], text, key)

    async def accept_button(self, body: Payload, action: Payload) -> None:
        """A customer pressed a reply button (e.g. the rating): it reaches the bot as that text, in the
        conversation named in the button's block. One answer per message: another click is a duplicate."""
        user = body.get("user") or {}
        team = (body.get("team") or {}).get("id") or user.get("team_id", "")
        container, message = body.get("container") or {}, body.get("message") or {}
        chan = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
        message_ts = container.get("message_ts") or message.get("ts", "")
        thread_ts = message.get("thread_ts") or container.get("thread_ts")
        _, customer, key = (action.get("block_id", "").split("|", 2) + ["", ""])[:3]
        customer_id = f"{team}:{user.get('id')}"
        if customer and customer != customer_id:
            # a block_actions payload names its user (and slack_sdk drops a None argument anyway)
            self.spawn(self.client.chat_postEphemeral(channel=chan, user=cast(str, user.get("id")), thread_ts=thread_ts,
                                                      text="These buttons are for the customer who asked."))
            return
        key = key or f"{team}:{chan}" + (f":{thread_ts}" if thread_ts else "")
        value = action.get("value") or (action.get("text") or {}).get("text", "")
        msg = InboundMessage(channel=NAME, customer_id=customer_id, text=value, conversation_key=key,
                             external_id=f"{chan}:{action.get('action_ts') or message_ts}",
                             reply_to={"channel": chan, "thread_ts": thread_ts},
                             customer_name=await self.people.name(str(user.get("id") or "")))
        if await self.ctx.inbox.accept(msg, f"{team}:button:{chan}:{message_ts}") is None:
            log.info("slack: a second answer to message %s:%s: ignored", chan, message_ts)
            return
        chosen = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
        chosen.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"You chose: *{escape(value)}*"}]})
        self.spawn(self.client.chat_update(channel=chan, ts=message_ts, text=message.get("text") or value,
                                           blocks=chosen))

    async def command(self, command: Payload) -> str:
        """`/supportbot ...`: the answer, shown only to whoever typed it."""
        words = (command.get("text") or "").split()
        if self.desk is None:
            return "Agent handoff in Slack is off: set handoff.slack_channel in supportbot.yaml."
        if command.get("channel_id") != self.desk.channel_id:
            return f"Use `/supportbot` in <#{self.desk.channel_id}>, the agents' channel."
        if words[:1] == ["queue"]:
            return await self.desk.queue_text()
        return HELP

    # --- outbound ---------------------------------------------------------------------
    async def deliver(self, reply: Reply, idempotency_key: str) -> str | None:
        """Post the reply (in chunks if long) in its thread; chunks already sent are not sent again."""
        to, parts = reply.reply_to or {}, reply.conversation_key.split(":")
        channel = to.get("channel") or (parts[1] if len(parts) > 1 else None)
        thread_ts = to.get("thread_ts") or (parts[2] if len(parts) > 2 else None)
        if not channel:
            raise DeliveryError(f"no Slack channel to reply to ({reply.conversation_key!r})", permanent=True)
        sent = self._sent.setdefault(idempotency_key, {})
        self._sent.move_to_end(idempotency_key)
        while len(self._sent) > SENT_MEMORY:
            self._sent.popitem(last=False)
        last = None
        chunks = split_text(escape(reply.text), SECTION_LIMIT if reply.buttons else LIMIT)
        for i, chunk in enumerate(chunks):
            if i in sent:
                last = sent[i]
                continue
            # None (no buttons, or not the last chunk) is left out of the request by slack_sdk
            blocks = button_blocks(chunk, reply) if reply.buttons and i == len(chunks) - 1 else None
            try:
                r = await self.client.chat_postMessage(channel=channel, text=chunk, thread_ts=thread_ts, blocks=blocks)
            except SlackApiError as e:
                raise self._delivery_error(e) from None
            except (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                raise DeliveryError(f"Slack unreachable: {type(e).__name__}: {e}") from None
            sent[i] = last = r["ts"]
        return last

    def _delivery_error(self, e: SlackApiError) -> DeliveryError:
        resp = e.response
        status = getattr(resp, "status_code", None) or getattr(resp, "status", None)
        error = resp.get("error") if isinstance(getattr(resp, "data", None), dict) else None
        if status == 429 or error == "ratelimited":
            headers = getattr(resp, "headers", None) or {}
            retry_after = headers.get("Retry-After") or headers.get("retry-after") or "1"
            return DeliveryError("Slack rate limit", retry_after=float(retry_after) if retry_after.isdigit() else 1.0)
        if error in UNREACHABLE:
            return DeliveryError(f"chat.postMessage: {error}", unreachable=True)
        if error in AUTH:
            self.error = f"chat.postMessage: {error}"
            log.error("slack: %s: check SLACK_BOT_TOKEN and the app's scopes", self.error)
        if error in PERMANENT:
            return DeliveryError(f"chat.postMessage: {error}", permanent=True)
        return DeliveryError(f"chat.postMessage: {error or f'HTTP {status}'}")  # 5xx, internal_error: retry


def create(ctx: ChannelContext) -> SlackChannel | None:
    """None without SLACK_BOT_TOKEN; Socket Mode with SLACK_APP_TOKEN, else the HTTP Events API."""
    env = ctx.env
    bot_token, secret, app_token = (env.get(k, "").strip() for k in
                                    ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"))
    if not bot_token:
        return None
    if not bot_token.startswith("xoxb-"):
        raise ConfigError("environment", "SLACK_BOT_TOKEN", "expected a bot token (xoxb-...)")
    if app_token and not app_token.startswith("xapp-"):
        raise ConfigError("environment", "SLACK_APP_TOKEN", "expected an app-level token (xapp-...)")
    if not secret and not app_token:
        raise ConfigError("environment", "SLACK_SIGNING_SECRET",
                          "set it (HTTP Events API) or SLACK_APP_TOKEN (Socket Mode)")
    channel = SlackChannel(ctx, bot_token=bot_token, signing_secret=secret, app_token=app_token,
                           api_url=env.get("SLACK_API_URL") or None)
    agents_channel = ctx.settings.handoff.slack_channel if ctx.settings is not None else None
    if agents_channel and ctx.handoff is not None:
        from channels.slack_desk import SlackDesk  # here: only a service with an agents' channel needs it

        channel.desk = SlackDesk(channel.client, ctx.handoff, agents_channel)
        ctx.handoff.add_desk(channel.desk)
    return channel
