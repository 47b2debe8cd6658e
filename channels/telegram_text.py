"""Telegram text and buttons: reply keyboards (and the label of a pressed button), @mentions, and
replies cut into messages of at most 4096 UTF-16 units. No I/O: channels/telegram.py uses these."""

from __future__ import annotations

import re

from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup

LIMIT = 4096  # characters per message; we count UTF-16 units, never fewer than Telegram counts
PRESS = "sb:"  # callback_data prefix of reply buttons: sb:0, sb:1...
SHORT = 24  # labels up to this long go two to a row (up to 4: five to a row, as for a 1-5 rating)


def inline_keyboard(labels: tuple[str, ...] | list[str]) -> InlineKeyboardMarkup | None:
    """The reply's buttons: one to a row, two when short, five when tiny (a rating); data sb:<index>."""
    if not labels:
        return None
    per_row = 5 if all(len(b) <= 4 for b in labels) else 2 if all(len(b) <= SHORT for b in labels) else 1
    buttons = [InlineKeyboardButton(text=b, callback_data=f"{PRESS}{i}") for i, b in enumerate(labels)]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[n:n + per_row] for n in range(0, len(buttons), per_row)])


def pressed_label(query: CallbackQuery) -> str | None:
    """The label of the pressed button, from the keyboard of the message it is on; None when that
    message (too old: an InaccessibleMessage) or that button (another keyboard) is not there."""
    markup = getattr(query.message, "reply_markup", None)
    if not query.data or not query.data.startswith(PRESS) or markup is None:
        return None
    found = [b.text for row in markup.inline_keyboard or () for b in row if b.callback_data == query.data]
    return found[0] if found else None


def mention(username: str, *, command: bool = False) -> re.Pattern[str]:
    """@username as a word (and, with command=True, /command@username)."""
    prefix = r"(?:^/\w+|(?<![\w@]))" if command else r"(?<![\w@])"
    return re.compile(rf"{prefix}@{re.escape(username)}\b", re.IGNORECASE)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = LIMIT) -> list[str]:
    """Chunks of at most `limit` UTF-16 units: whole paragraphs where they fit, else whole lines,
    else cut at the last space (or anywhere, in a long unbroken word). No chunk is blank."""
    return [c for c in _pack(text, limit, ("\n\n", "\n")) if c.strip()]


def _pack(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    if _units(text) <= limit:
        return [text]
    if not separators:
        return _cut(text, limit)
    sep, finer = separators[0], separators[1:]
    out, current = [], ""
    for part in text.split(sep):
        joined = f"{current}{sep}{part}" if current else part
        if _units(joined) <= limit:
            current = joined
            continue
        out.append(current)
        current = part if _units(part) <= limit else ""
        out.extend([] if current else _pack(part, limit, finer))
    return out + [current]  # empty pieces are dropped by split_text


def _cut(text: str, limit: int) -> list[str]:
    out = []
    while _units(text) > limit:
        end = limit
        while end > 1 and (n := _units(text[:end])) > limit:  # astral characters (emoji) count twice
            end = max(1, end - (n - limit + 1) // 2)
        space = text.rfind(" ", 0, end)
        end = space if space > 0 else end
        out.append(text[:end])
        text = text[end:].lstrip(" ")
    return out + [text]
