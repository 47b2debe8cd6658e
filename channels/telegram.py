"""Telegram: aiogram 3 over long polling or a webhook mounted on our own web server.

Persist, then acknowledge. The handlers below only turn an update into an InboundMessage and
store it in the inbox (unique on bot id + update_id); answering happens later, from the inbox.
Polling confirms an offset only with the *next* getUpdates, after the batch is stored; the
webhook answers 200 only once the update is stored (a storage error is a 500: Telegram
retries, the inbox deduplicates). Replies come back through deliver(), called by the outbox.

Reply buttons are an inline keyboard under the reply (callback_data "sb:<index>", well inside
Telegram's 64 bytes). A press is a callback_query: its label, read back from the keyboard of the
message pressed, is stored in the inbox as a text message from the customer, in the conversation
that message belongs to; only then is the query answered and the keyboard removed. One answer
per message: a second press (or a redelivery) of the same message's buttons is recognised by the
inbox. A press on a message without that button (an old keyboard) gets a notice, nothing stored.
The keyboard, the mentions and the cutting of long replies are in channels/telegram_text.py.

Environment: TELEGRAM_BOT_TOKEN (the channel is off without it), TELEGRAM_API_URL (a local Bot
API server), TELEGRAM_MODE = polling | webhook, TELEGRAM_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET
(derived from the token when absent, so the webhook never runs without one).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections import OrderedDict
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (TelegramBadRequest, TelegramForbiddenError, TelegramMigrateToChat,
                                TelegramRetryAfter, TelegramUnauthorizedError)
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message, ReplyParameters, Update
from aiogram.utils.token import TokenValidationError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.runtime.channel import ChannelContext, DeliveryError
from bot.messages import InboundMessage, Reply
from bot.settings import ConfigError
from bot.web.guard import parse_json, same_secret
from channels.telegram_text import (LIMIT, PRESS, SHORT, inline_keyboard, mention,  # noqa: F401 - also
                                    pressed_label, split_text)  # imported from here by the tests and plugins

NAME = "telegram"
POLL_TIMEOUT = 25  # seconds a getUpdates long poll waits
BACKOFF = (0.5, 30.0)  # first and longest pause after a failed poll
REMEMBER = 10_000  # idempotency keys whose sent chunks we remember
GROUPS = ("group", "supergroup")
MEDIA = frozenset({"photo", "sticker", "voice", "video", "video_note", "audio", "document", "animation",
                   "location", "venue", "contact", "poll", "dice", "story", "paid_media", "live_photo"})
SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
DEFAULT_PATH = "/telegram/webhook"
GONE = "This choice is no longer available. Please type your answer instead."
NOT_YOURS = "These buttons are for the customer who asked."
log = logging.getLogger("supportbot.telegram")


# --- handlers: translate and store, nothing else ------------------------------------------

async def addressed(message: Message, bot: Bot) -> bool:
    """A human wrote it; in a group, to us: @mention, /command@us, or a reply to our message."""
    if message.from_user is None or message.from_user.is_bot:
        return False
    if message.chat.type == "private":
        return True
    if message.chat.type not in GROUPS:
        return False
    me = await bot.me()
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        return True
    return bool(me.username and mention(me.username, command=True).search(message.text or message.caption or ""))


def build_router() -> Router:
    """A fresh router per channel (an aiogram router can belong to one dispatcher only)."""
    router = Router(name=NAME)
    router.message.filter(addressed)
    router.edited_message.filter(addressed)

    @router.message(CommandStart())
    async def on_start(message: Message, event_update: Update, channel: TelegramChannel) -> None:
        await channel.accept(message, event_update, "start")

    @router.message(Command("help"))
    async def on_help(message: Message, event_update: Update, channel: TelegramChannel) -> None:
        await channel.accept(message, event_update, "help")

    @router.message(F.text)
    async def on_text(message: Message, event_update: Update, channel: TelegramChannel) -> None:
        await channel.accept(message, event_update, "text")

    @router.message(F.content_type.in_(MEDIA))  # service messages (joins, pins...) match nothing
    async def on_media(message: Message, event_update: Update, channel: TelegramChannel) -> None:
        await channel.accept(message, event_update, "unsupported")

    @router.edited_message()
    async def on_edit(message: Message, event_update: Update, channel: TelegramChannel) -> None:
        await channel.accept(message, event_update, "edited")

    @router.callback_query()
    async def on_press(query: CallbackQuery, event_update: Update, channel: TelegramChannel) -> None:
        await channel.accept_press(query, event_update)

    return router


class StoreFirstWebhook(SimpleRequestHandler):
    """aiogram's webhook handler (its secret check answers 401), answering 200 only once the update is
    stored. aiogram's own _handle_request answers 500 to a body that is no Update and, past 55 s, 200
    while the handler still runs; this one answers 400, and waits."""

    def __init__(self, channel: TelegramChannel) -> None:
        super().__init__(channel.dp, channel.bot, handle_in_background=False, secret_token=channel.secret)
        self.channel = channel

    def verify_secret(self, telegram_secret_token: str, bot: Bot) -> bool:
        """aiogram's check compares str (a TypeError, so a 500, for a non-ASCII header): compare bytes."""
        if same_secret(telegram_secret_token, self.secret_token):
            return True
        log.warning("telegram: webhook request with a wrong or missing secret token: 401")
        return False

    async def _handle_request(self, bot: Bot, request: web.Request) -> web.Response:
        if self.channel.stopping:
            return web.json_response({"error": "shutting down"}, status=503)  # Telegram retries
        try:
            data = parse_json(await request.read(), bot.session.json_loads)
            update = Update.model_validate(data, context={"bot": bot})
        except (ValueError, RecursionError) as e:  # not JSON, not UTF-8, too deep, or no Update
            log.warning("telegram: webhook body is no Telegram Update (%s): 400", type(e).__name__)
            return web.json_response({"error": "expected a Telegram Update"}, status=400)
        await self.dispatcher.feed_update(bot, update)  # raises when the inbox could not store it
        return web.json_response({})


# --- the channel ---------------------------------------------------------------------------

class TelegramChannel:
    name = NAME

    def __init__(self, ctx: ChannelContext, bot: Bot, *, mode: str = "polling", webhook_url: str | None = None,
                 secret: str | None = None, poll_timeout: int = POLL_TIMEOUT) -> None:
        self.ctx, self.bot, self.mode = ctx, bot, mode
        self.webhook_url, self.secret, self.poll_timeout = webhook_url, secret, poll_timeout
        self.dp = Dispatcher(channel=self)  # `channel` reaches every handler as an argument
        self.dp.include_router(build_router())
        self.allowed = self.dp.resolve_used_update_types()
        self.offset: int | None = None  # next update_id to ask for; confirms everything before it
        self.stopping = False
        self.username: str | None = None
        self.last_error: str | None = None
        self._state = "stopped"
        self._task: asyncio.Task[None] | None = None
        self._storing = False  # the poll loop is storing a batch: let it finish on stop
        self._sent: OrderedDict[str, list[int]] = OrderedDict()  # idempotency key -> sent message ids

    # --- ChannelRuntime ---------------------------------------------------------------------
    def mount(self, app: web.Application) -> None:
        if self.mode == "webhook":  # not handler.register(): its on_shutdown closes the bot session
            app.router.add_post(urlsplit(self.webhook_url or "").path or DEFAULT_PATH, StoreFirstWebhook(self).handle)

    async def start(self) -> None:
        self.stopping, self._state = False, self.mode
        self._task = asyncio.create_task(self._run(), name="telegram")

    async def _run(self) -> None:
        if await self._connect() and self.mode == "polling":
            await self._poll()

    async def stop(self) -> None:
        self.stopping = True
        if self._task is not None and not self._task.done():
            if not self._storing:  # waiting on Telegram or backing off: end it now
                self._task.cancel()
            await asyncio.wait([self._task])
        if self.mode == "polling" and self.offset is not None:  # confirm what is stored, nothing else
            with suppress(Exception):
                await self.bot.get_updates(offset=self.offset, limit=1, timeout=0, allowed_updates=self.allowed,
                                           request_timeout=5)
        self._state = "stopped"

    async def close(self) -> None:
        await self.bot.session.close()

    def state(self) -> dict[str, Any]:
        return {"state": self._state, "bot": f"@{self.username}" if self.username else None,
                "last_error": self.last_error}

    # --- inbound ------------------------------------------------------------------------------
    async def accept(self, message: Message, update: Update, kind: str) -> None:
        """Store one customer message in the inbox; a redelivered update is recognised there."""
        user, chat = message.from_user, message.chat
        assert user is not None, "addressed() lets no message without a sender through"
        text = message.text or message.caption or ""
        reply_to: dict[str, Any] = {"chat_id": chat.id}
        if chat.type in GROUPS:
            reply_to["message_id"] = message.message_id
            if message.is_topic_message and message.message_thread_id:
                reply_to["message_thread_id"] = message.message_thread_id
            if kind == "text" and (username := (await self.bot.me()).username):
                text = mention(username).sub("", text).strip()
        # in a group every member has a conversation of their own with the bot
        key = f"{chat.id}:{user.id}" if chat.type in GROUPS else str(chat.id)
        msg = InboundMessage(channel=NAME, customer_id=str(user.id), text=text, conversation_key=key,
                             customer_name=user.first_name, customer_last_name=user.last_name or "",
                             customer_username=user.username or "", external_id=f"{chat.id}:{message.message_id}",
                             reply_to=reply_to, kind=kind)
        event_id = await self.ctx.inbox.accept(msg, f"{self.bot.id}:{update.update_id}")
        if event_id is None or kind in ("edited", "unsupported"):
            log.info("telegram: update %s (%s %s, chat %s) %s", update.update_id, kind, message.content_type, chat.id,
                     "seen before: not handled again" if event_id is None else f"stored as event {event_id}")

    async def accept_press(self, query: CallbackQuery, update: Update) -> None:
        """A pressed reply button: stored as the customer typing its label, then answered (never before:
        a storage error propagates, so the update comes again), then its keyboard is removed."""
        message, user = query.message, query.from_user
        label = pressed_label(query)
        # an InaccessibleMessage (too old) has no keyboard, so pressed_label found no label on it
        if (label is None or not isinstance(message, Message) or user.is_bot
                or message.chat.type not in ("private", *GROUPS)):
            log.info("telegram: update %s: a press on a message without that button: not stored", update.update_id)
            await self._answer(query, GONE)
            return
        chat = message.chat
        reply_to: dict[str, Any] = {"chat_id": chat.id}
        if chat.type in GROUPS:  # as for text: each member has their own conversation
            asker = message.reply_to_message
            if asker is not None and asker.from_user is not None and asker.from_user.id != user.id:
                await self._answer(query, NOT_YOURS)
                return
            reply_to["message_id"] = message.message_id  # the answer quotes the question
            if message.is_topic_message and message.message_thread_id:
                reply_to["message_thread_id"] = message.message_thread_id
        key = f"{chat.id}:{user.id}" if chat.type in GROUPS else str(chat.id)
        msg = InboundMessage(channel=NAME, customer_id=str(user.id), text=label, conversation_key=key,
                             customer_name=user.first_name, customer_last_name=user.last_name or "",
                             customer_username=user.username or "", external_id=f"cb:{query.id}", reply_to=reply_to,
                             kind="text")
        # one answer per message: a redelivered update, or a second press before the keyboard went
        event_id = await self.ctx.inbox.accept(msg, f"{self.bot.id}:button:{chat.id}:{message.message_id}")
        if event_id is None:
            log.info("telegram: update %s: message %s:%s was answered already: not handled again",
                     update.update_id, chat.id, message.message_id)
        await self._answer(query)
        with suppress(Exception):  # "message is not modified" when it went already: nothing to do
            await self.bot.edit_message_reply_markup(chat_id=chat.id, message_id=message.message_id,
                                                     reply_markup=None, request_timeout=10)

    async def _answer(self, query: CallbackQuery, text: str | None = None) -> None:
        """Stop the button's spinner; a query too old to answer is no reason to see the update again."""
        try:
            await self.bot.answer_callback_query(query.id, text=text, request_timeout=10)
        except Exception as e:  # noqa: BLE001
            log.warning("telegram: answerCallbackQuery %s: %s", query.id, self._safe(e))

    async def _connect(self) -> bool:
        """getMe, then deleteWebhook (polling) or setWebhook (webhook), retried until it works."""
        delay = BACKOFF[0]
        while not self.stopping:
            try:
                self.username = (await self.bot.me()).username
                if self.mode == "polling":
                    await self.bot.delete_webhook(drop_pending_updates=False)
                elif self.webhook_url is None:  # as aiogram would refuse setWebhook without a url
                    raise ValueError("webhook mode without a webhook URL")
                else:
                    await self.bot.set_webhook(self.webhook_url, secret_token=self.secret,
                                               allowed_updates=self.allowed)
                log.info("telegram: @%s connected (%s)", self.username, self.mode)
                self._state = self.mode
                return True
            except TelegramUnauthorizedError:
                self._failed("Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized)")
                return False
            except Exception as e:  # noqa: BLE001 - network, 5xx, flood control: try again
                delay = await self._backoff(e, delay)
        return False

    async def _poll(self) -> None:
        delay = BACKOFF[0]
        while not self.stopping:
            try:
                updates = await self.bot.get_updates(offset=self.offset, timeout=self.poll_timeout,
                                                     allowed_updates=self.allowed,
                                                     request_timeout=self.poll_timeout + 10)
                await self._store(updates)
            except Exception as e:  # noqa: BLE001 - the loop never dies; the offset stays put
                delay = await self._backoff(e, delay)
            else:
                self._state, delay = "polling", BACKOFF[0]

    async def _store(self, updates: list[Update]) -> None:
        self._storing = True
        try:
            for update in updates:
                await self.dp.feed_update(self.bot, update)  # returns once the inbox has it
                self.offset = update.update_id + 1  # confirmed by the next getUpdates
        finally:
            self._storing = False

    async def _backoff(self, error: Exception, delay: float) -> float:
        wait = error.retry_after if isinstance(error, TelegramRetryAfter) else delay
        self._failed(f"{self._safe(error)}; retrying in {wait:.1f}s")
        await asyncio.sleep(wait)
        return min(delay * 2, BACKOFF[1])

    def _failed(self, why: str) -> None:
        self._state, self.last_error = "error", why
        log.error("telegram: %s", why)

    def _safe(self, error: BaseException) -> str:
        """An error as text, never with the token in it (aiohttp errors can carry the URL)."""
        return f"{type(error).__name__}: {error}".replace(self.bot.token, "<token>")

    # --- outbound -----------------------------------------------------------------------------
    async def deliver(self, reply: Reply, idempotency_key: str) -> str | None:
        """Send the reply in chunks of at most 4096 characters; a retry sends only the chunks still due."""
        address = reply.reply_to or {}
        chat_id = address.get("chat_id") or reply.conversation_key or reply.customer_id
        chunks = split_text(reply.text)
        if not chunks:
            raise DeliveryError("the reply is empty", permanent=True)
        sent = self._sent.setdefault(idempotency_key, [])
        self._sent.move_to_end(idempotency_key)
        while len(self._sent) > REMEMBER:
            self._sent.popitem(last=False)
        keyboard = inline_keyboard(reply.buttons)
        for i in range(len(sent), len(chunks)):
            try:
                message = await self._send(chat_id, chunks[i], address, keyboard if i == len(chunks) - 1 else None)
            except Exception as e:  # noqa: BLE001 - mapped for the outbox
                raise self._delivery_error(e) from None
            sent.append(message.message_id)
        return str(sent[-1])

    async def _send(self, chat_id: int | str, text: str, address: dict[str, Any],
                    keyboard: InlineKeyboardMarkup | None) -> Message:
        quote = address.get("message_id")
        thread = address.get("message_thread_id")
        quoted = ReplyParameters(message_id=quote, allow_sending_without_reply=True) if quote else None
        # plain text: no parse_mode, so no text can break the formatting
        try:
            return await self.bot.send_message(chat_id=chat_id, text=text, message_thread_id=thread,
                                               reply_markup=keyboard, reply_parameters=quoted)
        except TelegramMigrateToChat as e:  # the group became a supergroup with a new id
            return await self.bot.send_message(chat_id=e.migrate_to_chat_id, text=text, message_thread_id=thread,
                                               reply_markup=keyboard, reply_parameters=quoted)

    def _delivery_error(self, e: Exception) -> DeliveryError:
        why = self._safe(e)
        if isinstance(e, TelegramRetryAfter):
            return DeliveryError(why, retry_after=e.retry_after)
        if isinstance(e, TelegramForbiddenError):  # blocked by the user, kicked from the group
            return DeliveryError(why, unreachable=True)
        if isinstance(e, TelegramBadRequest):  # sending the same request again cannot help
            return DeliveryError(why, permanent=True)
        return DeliveryError(why)  # 5xx, network, timeouts, undecodable answers: retried with backoff


def _derived_secret(token: str) -> str:
    """A stable webhook secret when none is configured: the same on every worker, not the token."""
    return hmac.new(token.encode(), b"supportbot telegram webhook", hashlib.sha256).hexdigest()


def create(ctx: ChannelContext) -> TelegramChannel | None:
    def env(key: str) -> str:
        return (ctx.env.get(key) or "").strip()

    if not (token := env("TELEGRAM_BOT_TOKEN")):
        return None
    if (mode := env("TELEGRAM_MODE").lower() or "polling") not in ("polling", "webhook"):
        raise ConfigError("environment", "TELEGRAM_MODE", "expected polling or webhook")
    if mode == "webhook" and not env("TELEGRAM_WEBHOOK_URL"):
        raise ConfigError("environment", "TELEGRAM_WEBHOOK_URL", "required when TELEGRAM_MODE is webhook")
    if not SECRET.fullmatch(secret := env("TELEGRAM_WEBHOOK_SECRET") or _derived_secret(token)):
        raise ConfigError("environment", "TELEGRAM_WEBHOOK_SECRET", "1-256 characters: A-Z, a-z, 0-9, _ and -")
    api = env("TELEGRAM_API_URL").rstrip("/")
    try:
        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api)) if api else AiohttpSession())
    except TokenValidationError:
        raise ConfigError("environment", "TELEGRAM_BOT_TOKEN", "not a bot token (digits:letters)") from None
    return TelegramChannel(ctx, bot, mode=mode, webhook_url=env("TELEGRAM_WEBHOOK_URL") or None, secret=secret)
