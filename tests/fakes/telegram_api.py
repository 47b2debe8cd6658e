"""A local fake of the Telegram Bot API (aiohttp on 127.0.0.1) that real clients run against.

    async with FakeTelegram(token="123456:TEST") as tg:
        bot = Bot(tg.token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.base_url)))
        tg.push_update(tg.text_update(42, "hello"))        # picked up by getUpdates (polling)
        await tg.wait_for("sendMessage")                     # until the bot answered
        tg.sent_messages()[0]["text"]

Wire format as on api.telegram.org: ``{base}/bot{token}/{method}`` (GET or POST; query string,
urlencoded, multipart or JSON bodies; in form posts every value is a string, objects such as
``reply_markup`` are JSON strings), answers ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": ..., "parameters": {...}}``. A wrong token gets
401. Method names are case-insensitive; unknown methods get 404 "Not Found".

getUpdates has real long-poll semantics: ``offset`` confirms (forgets) every update with a
smaller update_id, ``timeout`` waits up to that many seconds for one, a newer getUpdates makes a
waiting one answer 409 ("terminated by other getUpdates request"), and getUpdates while a
webhook is set answers 409. ``fail_next`` queues one-shot failures per method.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import socket
import time
from typing import Any, AsyncIterator

import aiohttp
import pytest_asyncio
from aiohttp import web

DEFAULT_TOKEN = "123456789:TEST-fake-telegram-token"
_INT = {"chat_id", "message_id", "offset", "limit", "timeout", "user_id", "from_chat_id", "cache_time",
        "max_connections", "message_thread_id", "reply_to_message_id"}
_BOOL = {"disable_notification", "protect_content", "show_alert", "drop_pending_updates",
         "disable_web_page_preview", "allow_sending_without_reply"}
_JSON = {"reply_markup", "allowed_updates", "entities", "caption_entities", "link_preview_options",
         "reply_parameters", "media"}
_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
            "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note"}
_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
              "tg-spoiler", "tg-emoji", "blockquote"}
_DEFAULT_DESC = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden: bot was blocked by the user",
                 404: "Not Found", 409: "Conflict", 500: "Internal Server Error", 502: "Bad Gateway"}


def _coerce(key: str, value: Any) -> Any:
    """Turn a form-field string back into the JSON value a JSON body would have carried."""
    try:
        if isinstance(value, str) and key in _JSON | _INT | _BOOL:
            return json.loads(value) if key in _JSON else int(value) if key in _INT else value.lower() in ("true", "1")
    except ValueError:
        pass
    return value


def _err(code: int, description: str, **parameters: Any) -> tuple[int, dict]:
    return code, {"ok": False, "error_code": code, "description": description,
                  **({"parameters": parameters} if parameters else {})}


def _ok(result: Any, description: str | None = None) -> tuple[int, dict]:
    return 200, {"ok": True, "result": result, **({"description": description} if description else {})}


def _render(text: str, parse_mode: str | None) -> str | tuple[int, dict]:
    """Visible text of a formatted message, or a 400 like Telegram's entity parser gives."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        for m in re.finditer(r"<(/?)([^\s>/]*)[^>]*>|<", text):
            if m.group(0) == "<" or m.group(2).lower() not in _HTML_TAGS:
                return _err(400, f"Bad Request: can't parse entities: Unsupported start tag "
                                 f"\"{m.group(2) or ''}\" at byte offset {len(text[:m.start()].encode())}")
        return html.unescape(re.sub(r"<[^>]+>", "", text))
    if mode == "markdownv2":
        for i, ch in enumerate(text):
            if ch in ".!-+=|{}#" and (i == 0 or text[i - 1] != "\\"):
                return _err(400, f"Bad Request: can't parse entities: Character '{ch}' is reserved and "
                                 f"must be escaped with the preceding '\\'")
        return re.sub(r"\\(.)", r"\1", re.sub(r"(?<!\\)[*_~`|]", "", text))
    return text


async def _post_update(url: str, update: dict, secret_token: str | None) -> tuple[int, str, dict | None]:
    headers = {"Content-Type": "application/json"}
    if secret_token:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
    async with aiohttp.ClientSession(trust_env=False, timeout=aiohttp.ClientTimeout(total=10)) as s, \
            s.post(url, data=json.dumps(update), headers=headers) as r:
        if r.status == 200 and r.content_type == "multipart/form-data":  # aiogram's webhook replies
            reply, reader = {}, aiohttp.MultipartReader.from_response(r)
            while (part := await reader.next()) is not None:
                reply[part.name] = await part.text()
            return r.status, json.dumps(reply), reply
        text = await r.text()
    try:
        reply = json.loads(text) if r.status == 200 else None
    except ValueError:
        reply = None
    return r.status, text, reply if isinstance(reply, dict) else None


async def deliver_webhook(url: str, update: dict, secret_token: str | None = None) -> tuple[int, str]:
    """POST one Update to a bot's webhook URL as Telegram does; returns (HTTP status, body text).
    A multipart webhook reply (aiogram sends those) comes back as its fields in JSON."""
    status, body, _ = await _post_update(url, update, secret_token)
    return status, body


def _bad_keyboard(markup: Any) -> tuple[int, dict] | None:
    """Telegram's checks of an inline keyboard: rows of buttons with a text and 1-64 bytes of data."""
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        return _err(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    for button in (b for r in rows for b in r):
        if not button.get("text"):
            return _err(400, "Bad Request: text buttons are unallowed in the inline keyboard")
        data = button.get("callback_data")
        if data is not None and not 1 <= len(str(data).encode()) <= 64:
            return _err(400, "Bad Request: BUTTON_DATA_INVALID")
    return None


class FakeTelegram:
    """The fake Bot API server. Attributes: ``token``, ``bot_id``, ``base_url`` (after entering),
    ``calls`` [(method, params)], ``statuses`` (HTTP status per call, same order), ``messages``
    {(chat_id, message_id): Message} (incoming and sent), ``webhook`` (last setWebhook params),
    ``answered`` {callback query id: answerCallbackQuery params} (a second answer gets a 400)."""

    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "supportbot_test_bot",
                 first_name: str = "SupportBot") -> None:
        self.token = token
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 1
        self.me = {"id": self.bot_id, "is_bot": True, "first_name": first_name, "username": username,
                   "can_join_groups": True, "can_read_all_group_messages": False,
                   "supports_inline_queries": False}
        self.base_url = ""
        self.calls: list[tuple[str, dict]] = []
        self.statuses: list[int | None] = []
        self.messages: dict[tuple[Any, int], dict] = {}
        self.webhook: dict[str, Any] = {}
        self._updates: list[dict] = []  # pushed and not yet confirmed by an offset
        self._update_id, self._poll_gen, self._closing = 500_000_000, 0, False
        self._msg_ids: dict[Any, int] = {}
        self._chats: dict[Any, dict] = {}
        self._callback_ids: set[str] = set()
        self.answered: dict[str, dict] = {}  # callback query id -> its answerCallbackQuery params
        self._failures: dict[str, list[tuple[int, dict]]] = {}
        self._cond = asyncio.Condition()
        self._bg: set[asyncio.Task] = set()
        self._runner: web.AppRunner | None = None
        self._methods = {m.lower(): m for m in (
            "getMe", "getUpdates", "sendMessage", "editMessageText", "editMessageReplyMarkup",
            "answerCallbackQuery", "setWebhook", "deleteWebhook", "getWebhookInfo", "sendChatAction")}

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> "FakeTelegram":
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True  # every waiting long poll answers now
        await self._notify()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- scripting and inspection -----------------------------------------------------------

    def fail_next(self, method: str, status: int = 429, *, retry_after: int | None = None,
                  description: str | None = None) -> None:
        """Queue a one-shot failure for the next call of ``method`` (several queue in order).
        429 carries ``parameters.retry_after`` (default 1), like Telegram's flood control."""
        if status == 429 and retry_after is None:
            retry_after = 1
        params = {} if retry_after is None else {"retry_after": retry_after}
        desc = description or (f"Too Many Requests: retry after {retry_after}" if status == 429
                               else _DEFAULT_DESC.get(status, "Error"))
        self._failures.setdefault(self._methods.get(method.lower(), method), []).append(_err(status, desc, **params))

    def calls_of(self, method: str) -> list[dict]:
        return [p for m, p in self.calls if m == method]

    def sent_messages(self) -> list[dict]:
        """Params of every sendMessage that succeeded (failed attempts are in ``calls``)."""
        return [p for (m, p), s in zip(self.calls, self.statuses) if m == "sendMessage" and s == 200]

    def bot_messages(self, chat_id: Any = None) -> list[dict]:
        """Message objects the bot sent (as edited since), oldest first."""
        return [m for (c, _), m in self.messages.items() if m["from"]["id"] == self.bot_id and chat_id in (None, c)]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5) -> list[dict]:
        """Wait until ``method`` has been called ``count`` times; returns the params of all its
        calls. Raises TimeoutError (listing the calls seen) when that does not happen in time."""
        try:
            async with self._cond:
                await asyncio.wait_for(self._cond.wait_for(lambda: len(self.calls_of(method)) >= count), timeout)
        except TimeoutError:
            seen = [m for m, _ in self.calls]
            raise TimeoutError(f"wanted {count} {method} call(s) in {timeout}s; calls: {seen}") from None
        return self.calls_of(method)

    # --- producing updates --------------------------------------------------------------------

    def push_update(self, update: dict) -> dict:
        """Queue an Update for getUpdates (an update_id is assigned when missing)."""
        if "update_id" not in update:
            update = {"update_id": self._next_update_id(), **update}
        self._updates.append(update)
        self._notify_soon()
        return update

    def text_update(self, chat_id: int, text: str, *, user_id: int | None = None, first_name: str = "Alice",
                    chat_type: str = "private", message_id: int | None = None, edited: bool = False,
                    username: str | None = "alice", language_code: str = "en") -> dict:
        """An Update with a user's text message (or ``edited_message``); bot commands get entities."""
        msg = self._incoming(chat_id, user_id, first_name, chat_type, message_id, username, language_code)
        msg["text"] = text
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        if edited:
            msg["edit_date"] = msg["date"] + 1
        return {"update_id": self._next_update_id(), "edited_message" if edited else "message": msg}

    def photo_update(self, chat_id: int, *, caption: str | None = None, user_id: int | None = None,
                     first_name: str = "Alice", chat_type: str = "private") -> dict:
        """An Update with a photo message (two PhotoSizes, optional caption, no text)."""
        msg = self._incoming(chat_id, user_id, first_name, chat_type, None, "alice", "en")
        n = msg["message_id"]
        msg["photo"] = [{"file_id": f"AgACAgPHOTO{chat_id}x{n}x{i}", "file_unique_id": f"AQAD{n}{i}", "width": w,
                         "height": h, "file_size": 1000 * w} for i, (w, h) in enumerate(((90, 67), (800, 600)))]
        if caption is not None:
            msg["caption"] = caption
        return {"update_id": self._next_update_id(), "message": msg}

    def callback_update(self, chat_id: int, data: str, message_id: int, *, user_id: int | None = None,
                        first_name: str = "Alice", chat_type: str = "private") -> dict:
        """An Update for a pressed inline button on the bot's message ``message_id``."""
        msg = self.messages.get((chat_id, message_id)) or {
            "message_id": message_id, "from": self.me, "chat": self._chat(chat_id, chat_type, first_name),
            "date": int(time.time()), "text": ""}
        uid = self._next_update_id()
        qid = str(4_000_000_000_000 + uid)
        self._callback_ids.add(qid)
        return {"update_id": uid, "callback_query": {
            "id": qid, "from": self._user(chat_id, user_id, first_name, "alice", "en"), "message": msg,
            "chat_instance": str(-7_000_000 - abs(chat_id)), "data": data}}

    async def deliver_webhook(self, url: str | None, update: dict, secret_token: Any = ...) -> tuple[int, str]:
        """Like the module's ``deliver_webhook``; ``url=None`` and the default ``secret_token`` use
        what setWebhook registered. A method in the reply body (webhook reply) is executed and
        recorded, as Telegram does."""
        if secret_token is ...:
            secret_token = self.webhook.get("secret_token")
        status, body, reply = await _post_update(url or self.webhook["url"], update, secret_token)
        if reply and "method" in reply:
            params = {k: _coerce(k, v) for k, v in reply.items() if k != "method"}
            await self._call(self._methods.get(reply["method"].lower(), reply["method"]), params)
        return status, body

    # --- internals ----------------------------------------------------------------------------

    def _next_update_id(self) -> int:
        self._update_id += 1
        return self._update_id

    def _next_msg_id(self, chat_id: int) -> int:
        self._msg_ids[chat_id] = self._msg_ids.get(chat_id, 0) + 1
        return self._msg_ids[chat_id]

    @staticmethod
    def _user(chat_id: int, user_id: int | None, first_name: str, username: str | None, lang: str) -> dict:
        """A human user; by default the private chat's id, or 1001 in a group."""
        uid = user_id or (chat_id if chat_id > 0 else 1001)
        return {"id": uid, "is_bot": False, "first_name": first_name, "language_code": lang,
                **({"username": username} if username else {})}

    def _chat(self, chat_id: Any, chat_type: str | None = None, first_name: str = "Alice") -> dict:
        if chat_type is None and chat_id in self._chats:
            return self._chats[chat_id]
        chat_type = chat_type or ("private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup")
        if chat_type == "private":
            return {"id": chat_id, "type": "private", "first_name": first_name}
        return {"id": chat_id, "type": chat_type, "title": f"Chat {chat_id}"}

    def _incoming(self, chat_id: int, user_id: int | None, first_name: str, chat_type: str,
                  message_id: int | None, username: str | None, lang: str) -> dict:
        if message_id is None:
            message_id = self._next_msg_id(chat_id)
        self._chats[chat_id] = self._chat(chat_id, chat_type, first_name)
        msg = {"message_id": message_id, "from": self._user(chat_id, user_id, first_name, username, lang),
               "chat": self._chats[chat_id], "date": int(time.time())}
        self.messages[(chat_id, message_id)] = msg
        return msg

    async def _notify(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    def _notify_soon(self) -> None:
        try:
            task = asyncio.get_running_loop().create_task(self._notify())
        except RuntimeError:  # no loop running: nobody can be waiting
            return
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    @staticmethod
    async def _params(request: web.Request) -> dict:
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                for k, v in (await request.post()).items():
                    params[k] = {"filename": v.filename, "content": v.file.read()} if isinstance(v, web.FileField) else v
        return {k: _coerce(k, v) for k, v in params.items()}

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        status, body = await self._call(self._methods.get(method.lower(), method), await self._params(request),
                                        authorized=request.match_info["token"] == self.token)
        return web.json_response(body, status=status)

    async def _call(self, method: str, params: dict, authorized: bool = True) -> tuple[int, dict]:
        """Record one call, answer it (a queued failure first), wake the waiters."""
        self.calls.append((method, params))
        idx = len(self.statuses)
        self.statuses.append(None)
        queue = self._failures.get(method)
        if not authorized:
            status, body = _err(401, "Unauthorized")
        elif queue:
            status, body = queue.pop(0)
        elif method == "getUpdates":
            status, body = await self._get_updates(params)
        elif method.lower() in self._methods:
            status, body = getattr(self, "_m_" + method)(params)
        else:
            status, body = _err(404, "Not Found")
        self.statuses[idx] = status
        await self._notify()
        return status, body

    def _deliverable(self, allowed: list[str] | None) -> list[dict]:
        if not allowed:
            return list(self._updates)
        return [u for u in self._updates if any(k in allowed for k in u if k != "update_id")]

    async def _get_updates(self, p: dict) -> tuple[int, dict]:
        if self.webhook.get("url"):
            return _err(409, "Conflict: can't use getUpdates method while webhook is active; "
                             "use deleteWebhook to delete the webhook first")
        offset, allowed = p.get("offset", 0), p.get("allowed_updates")
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_gen += 1
        gen = self._poll_gen
        async with self._cond:
            self._cond.notify_all()  # an older poll still waiting answers 409 now
            try:
                await asyncio.wait_for(self._cond.wait_for(
                    lambda: self._closing or gen != self._poll_gen or bool(self._deliverable(allowed))),
                    max(0, p.get("timeout", 0)))
            except TimeoutError:
                pass
        if gen != self._poll_gen and not self._closing:
            return _err(409, "Conflict: terminated by other getUpdates request; "
                             "make sure that only one bot instance is running")
        return _ok(self._deliverable(allowed)[:max(1, min(p.get("limit", 100), 100))])

    def _m_getMe(self, p: dict) -> tuple[int, dict]:
        return _ok(self.me)

    def _m_sendChatAction(self, p: dict) -> tuple[int, dict]:
        return _ok(True) if p.get("action") in _ACTIONS else _err(400, "Bad Request: wrong parameter action in request")

    def _m_sendMessage(self, p: dict) -> tuple[int, dict]:
        if "chat_id" not in p or p["chat_id"] == "":
            return _err(400, "Bad Request: chat_id is empty")
        if not p.get("text"):
            return _err(400, "Bad Request: message text is empty")
        text = _render(p["text"], p.get("parse_mode"))
        if isinstance(text, tuple):
            return text
        if len(text) > 4096:
            return _err(400, "Bad Request: message is too long")
        chat_id = p["chat_id"]
        msg = {"message_id": self._next_msg_id(chat_id), "from": self.me, "chat": self._chat(chat_id),
               "date": int(time.time()), "text": text}
        msg.update({k: p[k] for k in ("entities", "message_thread_id") if k in p})
        reply_to = (p.get("reply_parameters") or {}).get("message_id") or p.get("reply_to_message_id")
        if (chat_id, reply_to) in self.messages:
            msg["reply_to_message"] = self.messages[(chat_id, reply_to)]
        if (bad := _bad_keyboard(p.get("reply_markup"))) is not None:
            return bad
        if "inline_keyboard" in (p.get("reply_markup") or {}):
            msg["reply_markup"] = {"inline_keyboard": p["reply_markup"]["inline_keyboard"]}
        self.messages[(chat_id, msg["message_id"])] = msg
        return _ok(msg)

    def _edit(self, p: dict, text: str | None) -> tuple[int, dict]:
        if "inline_message_id" in p:
            return _ok(True)
        msg = self.messages.get((p.get("chat_id"), p.get("message_id")))
        if msg is None:
            return _err(400, "Bad Request: message to edit not found")
        if msg["from"]["id"] != self.bot_id:
            return _err(400, "Bad Request: message can't be edited")
        keyboard = (p.get("reply_markup") or {}).get("inline_keyboard")  # none given: the keyboard goes
        new = {k: v for k, v in msg.items() if k != "reply_markup"}
        new.update(text=msg.get("text") if text is None else text, edit_date=int(time.time()),
                   **({"reply_markup": {"inline_keyboard": keyboard}} if keyboard else {}))
        if new.get("text") == msg.get("text") and new.get("reply_markup") == msg.get("reply_markup"):
            return _err(400, "Bad Request: message is not modified: specified new message content and reply "
                             "markup are exactly the same as a current content and reply markup of the message")
        self.messages[(p["chat_id"], p["message_id"])] = new
        return _ok(new)

    def _m_editMessageText(self, p: dict) -> tuple[int, dict]:
        if not p.get("text"):
            return _err(400, "Bad Request: message text is empty")
        text = _render(p["text"], p.get("parse_mode"))
        return text if isinstance(text, tuple) else self._edit(p, text)

    def _m_editMessageReplyMarkup(self, p: dict) -> tuple[int, dict]:
        return self._edit(p, None)

    def _m_answerCallbackQuery(self, p: dict) -> tuple[int, dict]:
        qid = p.get("callback_query_id")
        if qid not in self._callback_ids or qid in self.answered:  # a query is answered once
            return _err(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(p.get("text") or "") > 200:
            return _err(400, "Bad Request: MESSAGE_TOO_LONG")
        self.answered[qid] = p
        return _ok(True)

    def _m_setWebhook(self, p: dict) -> tuple[int, dict]:
        had, self.webhook = bool(self.webhook), dict(p) if p.get("url") else {}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        if self.webhook:
            return _ok(True, "Webhook was set")
        return _ok(True, "Webhook was deleted" if had else "Webhook is already deleted")

    _m_deleteWebhook = _m_setWebhook  # without a url, setWebhook deletes too

    def _m_getWebhookInfo(self, p: dict) -> tuple[int, dict]:
        info = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                "pending_update_count": len(self._updates)}
        if self.webhook:
            info["max_connections"] = self.webhook.get("max_connections", 40)
        return _ok(info)



@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as tg:
        yield tg
