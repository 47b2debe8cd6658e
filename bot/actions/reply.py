"""The reply an action gives: a Jinja2 template (sandboxed, autoescape off: the reply is chat text)
over `result`, the API's JSON answer, `params`, the values the call was made with, and `lookup`, the
answer of the action's lookup when it has one. Filters: `day` (an ISO date as people say it) and
`money` (12.5 -> "12.50")."""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment


def day(value: object) -> str:
    """An ISO date (or date-time) as people say it: "Tuesday 1 December"; anything else as it is."""
    if value is None or isinstance(value, Undefined):
        return ""
    try:
        d = value if isinstance(value, date) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return f"{d:%A} {d.day} {d:%B}"


log = logging.getLogger("supportbot.actions")
_env = SandboxedEnvironment(autoescape=False, undefined=Undefined, keep_trailing_newline=False)
_env.filters["day"] = day


_env.filters["money"] = lambda v: f"{float(v):,.2f}" if isinstance(v, (int, float, str)) and _number(v) else str(v)


def _number(v: object) -> bool:
    try:
        float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def render_reply(text: str, result: Any, params: dict[str, str], **more: Any) -> str:
    """The template filled in; a field the API did not send renders empty rather than failing. A
    template that fails all the same (a filter on the wrong type, the sandbox refusing) gives "".
    `more`: further names the template sees (`lookup`, `amount`, `limit`, `note`)."""
    try:
        out = _env.from_string(text).render(result=result if result is not None else {}, params=params,
                                            **{"lookup": {}, **more})
    except (TemplateError, TypeError, ValueError, ArithmeticError) as e:
        log.warning("action reply template failed: %s: %s", type(e).__name__, str(e)[:200])
        return ""
    return "\n".join(line for line in (" ".join(raw.split()) for raw in out.splitlines()) if line)
