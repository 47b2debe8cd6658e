"""The analyst views' query plumbing: filters, days, the WHERE clause, rows as dicts, percentiles
like PostgreSQL's percentile_cont, rates and rounding. bot/analytics/figures.py builds the report on these."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Sequence

from sqlalchemy import Date, Float, String, bindparam, text
from sqlalchemy.types import TypeEngine
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.messages import utcnow

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Filters:
    since: date | None = None  # first UTC day, inclusive
    until: date | None = None  # last UTC day, inclusive
    channel: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None, "channel": self.channel}


SINCE_FORMS = "YYYY-MM-DD, 'today', or a duration ago: Ns, Nm, Nh or Nd (e.g. 45s, 30m, 1h, 7d)"
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """The UTC moment `value` names: 'YYYY-MM-DD' and 'today' are midnight, 'Nd' is midnight N days
    back (as before), and 'Ns', 'Nm', 'Nh' are exactly that long before `now`."""
    now = now or utcnow()
    today = now.date()
    value = value.strip().lower()
    if value == "today":
        return datetime.combine(today, time.min, tzinfo=timezone.utc)
    m = re.fullmatch(r"(\d{1,6})\s*([smhd])", value)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        if unit == "d":
            return datetime.combine(today - timedelta(days=n), time.min, tzinfo=timezone.utc)
        return now - timedelta(**{_UNITS[unit]: n})
    try:
        return datetime.combine(date.fromisoformat(value), time.min, tzinfo=timezone.utc)
    except ValueError:
        raise ValueError(f"{value!r} is not a date or a duration: use {SINCE_FORMS}") from None


def parse_day(value: str, today: date | None = None, now: datetime | None = None) -> date:
    """The UTC day of parse_since: 'YYYY-MM-DD', 'today', 'Nd' (N days before today), or 'Ns'/'Nm'/'Nh'
    (the day that moment falls on)."""
    if now is None:
        now = utcnow()
        if today is not None:
            now = datetime.combine(today, now.timetz())
    return parse_since(value, now).date()


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100), interpolated linearly like percentile_cont; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _where(f: Filters, extra: Iterable[str] = (), prefix: str = "") -> tuple[str, dict[str, object]]:
    clauses, params = list(extra), dict[str, object]()
    if f.since:
        clauses.append(f"{prefix}day >= :since")
        params["since"] = f.since
    if f.until:
        clauses.append(f"{prefix}day <= :until")
        params["until"] = f.until
    if f.channel:
        clauses.append(f"{prefix}channel = :channel")
        params["channel"] = f.channel
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


async def _rows(engine: AsyncEngine, sql: str, params: dict[str, object]) -> list[dict[str, Any]]:
    """The rows of a query over the analytics views, each a dict of column -> value."""
    stmt = text(sql)
    types: dict[str, TypeEngine[Any]] = {"since": Date(), "until": Date(), "channel": String(), "window_s": Float()}
    stmt = stmt.bindparams(*[bindparam(k, type_=types[k]) for k in params if k in types])
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(stmt, params)).mappings().all()]


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _usd(value: float | None) -> float:
    return round(float(value or 0.0), 6)


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {"count": len(values)}
    for p in PERCENTILES:
        v = percentile(values, p)
        out[f"p{p}"] = None if v is None else round(v, 2)
    return out
