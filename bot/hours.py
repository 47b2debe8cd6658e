"""Support hours: is the team in now, and if not, when is it back.

Config (company.hours), checked at load time:

    hours:
      timezone: Europe/Paris
      open: {mon-fri: "08:00-20:00", sat: "09:00-17:00"}   # days not listed: closed

`company.support_hours` stays the sentence customers read; this is what the bot computes with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    spans: dict[int, tuple[time, time]]  # weekday (0 = Monday) -> opening, closing

    @classmethod
    def parse(cls, timezone: str, open_: dict[str, str]) -> "Schedule":
        """ValueError naming the key and what is wrong."""
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown time zone {timezone!r} (e.g. Europe/Paris)") from None
        spans: dict[int, tuple[time, time]] = {}
        for key, value in open_.items():
            days = _days(key)
            m = SPAN.match(str(value))
            if not m:
                raise ValueError(f"open.{key}: expected \"HH:MM-HH:MM\", got {value!r}")
            h1, m1, h2, m2 = (int(g) for g in m.groups())
            if not (0 <= h1 < 24 and 0 <= h2 <= 24 and m1 < 60 and m2 < 60) or (h1, m1) >= (h2, m2):
                raise ValueError(f"open.{key}: {value!r} is not an opening time before a closing time")
            close = time(23, 59, 59) if h2 == 24 else time(h2, m2)
            for d in days:
                spans[d] = (time(h1, m1), close)
        return cls(zone, spans)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        span = self.spans.get(local.weekday())
        return span is not None and span[0] <= local.time() < span[1]

    def next_open(self, now: datetime) -> datetime | None:
        """The next opening time after `now` (in the schedule's zone), None when never open."""
        local = now.astimezone(self.zone)
        for ahead in range(8):
            day = (local + timedelta(days=ahead)).date()
            span = self.spans.get(day.weekday())
            if not span:
                continue
            start = datetime.combine(day, span[0], self.zone)
            if start > local:
                return start
        return None


def _days(key: str) -> list[int]:
    parts = [p.strip().lower()[:3] for p in key.split("-")]
    if any(p not in DAYS for p in parts) or len(parts) > 2:
        raise ValueError(f"open.{key}: expected a day (mon..sun) or a range like mon-fri")
    if len(parts) == 1:
        return [DAYS.index(parts[0])]
    a, b = DAYS.index(parts[0]), DAYS.index(parts[1])
    return list(range(a, b + 1)) if a <= b else list(range(a, 7)) + list(range(0, b + 1))


ENGLISH = ("today at {time}", "tomorrow at {time}", "on {day} at {time}",
           ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"))


def when(moment: datetime, now: datetime,
         words: tuple[str, str, str, tuple[str, ...]] = ENGLISH) -> str:
    """"today at 08:00", "tomorrow at 08:00" or "on Monday at 08:00", in the moment's own zone; `words`:
    the three phrasings and the seven weekday names in the customer's language."""
    today, tomorrow, on_day, weekdays = words
    local_now = now.astimezone(moment.tzinfo)
    days = (moment.date() - local_now.date()).days
    at = f"{moment.strftime('%H:%M')} {moment.tzname() or ''}".strip()
    day = weekdays[moment.weekday()] if len(weekdays) == 7 else moment.strftime("%A")
    phrase = today if days == 0 else tomorrow if days == 1 else on_day
    return phrase.replace("{time}", at).replace("{day}", day)
