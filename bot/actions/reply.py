"""The reply an action gives: a Jinja2 template (sandboxed, autoescape off: the reply is chat text)
over `result`, the API's JSON answer, `params`, the values the call was made with, and `lookup`, the
answer of the action's lookup when it has one. Filters: `day` (an ISO date as people say it) and
`money` (12.5 -> "12.50"), both in the reply's language (Formats: "Dienstag, 1. Dezember", "12,50")."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from jinja2 import TemplateError, Undefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment


@dataclass(frozen=True)
class Formats:
    """How dates and amounts are written in one language (the default: English)."""

    weekdays: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    months: tuple[str, ...] = ("January", "February", "March", "April", "May", "June", "July", "August",
                               "September", "October", "November", "December")
    day: str = "{weekday} {day} {month}"
    decimal: str = "."
    thousands: str = ","

    def money(self, value: float) -> str:
        """12345.5 -> "12,345.50" (German: "12.345,50")."""
        return f"{value:,.2f}".replace(",", "\0").replace(".", self.decimal).replace("\0", self.thousands)


ENGLISH = Formats()


def day(value: object, formats: Formats = ENGLISH) -> str:
    """An ISO date (or date-time) as people say it: "Tuesday 1 December"; anything else as it is."""
    if value is None or isinstance(value, Undefined):
        return ""
    try:
        d = value if isinstance(value, date) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return formats.day.replace("{weekday}", formats.weekdays[d.weekday()]).replace("{day}", str(d.day)) \
        .replace("{month}", formats.months[d.month - 1])


def _formats(ctx: Context) -> Formats:
    found = ctx.get("_formats")
    return found if isinstance(found, Formats) else ENGLISH


@pass_context
def _day(ctx: Context, value: object) -> str:
    return day(value, _formats(ctx))


@pass_context
def _money(ctx: Context, value: object) -> str:
    return _formats(ctx).money(float(value)) if isinstance(value, (int, float, str)) and _number(value) \
        else str(value)


log = logging.getLogger("supportbot.actions")
_env = SandboxedEnvironment(autoescape=False, undefined=Undefined, keep_trailing_newline=False)
_env.filters["day"] = _day
_env.filters["money"] = _money


def _number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def render_reply(text: str, result: Any, params: dict[str, str], **more: Any) -> str:
    """The template filled in; a field the API did not send renders empty rather than failing. A
    template that fails all the same (a filter on the wrong type, the sandbox refusing) gives "".
    `more`: further names the template sees (`lookup`, `amount`, `limit`, `note`), and `_formats`: how
    `day` and `money` write in the reply's language (a Formats; default English)."""
    try:
        out = _env.from_string(text).render(result=result if result is not None else {}, params=params,
                                            **{"lookup": {}, **more})
    except (TemplateError, TypeError, ValueError, ArithmeticError) as e:
        log.warning("action reply template failed: %s: %s", type(e).__name__, str(e)[:200])
        return ""
    return "\n".join(line for line in (" ".join(raw.split()) for raw in out.splitlines()) if line)
