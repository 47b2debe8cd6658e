"""Abuse limits: how often one key (a visitor, a client address, a customer) may do something.

A thin layer over the `limits` library (moving windows, in this process's memory): `Limiter.hit`
counts one use and says None when it is allowed, else the seconds until it would be (for a
Retry-After header). Each App and each channel keeps its own Limiter, so with several `serve`
processes a key gets the limit once per process that sees it.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


def rate(text: str) -> RateLimitItem:
    """"10/minute", "30 per hour", "5/second": ValueError (naming the text) when not a rate."""
    try:
        return parse(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate; write it like '10/minute' or '30/hour'") from None


class Limiter:
    def __init__(self) -> None:
        self._window = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, limit: RateLimitItem | None, *key: str) -> int | None:
        """Count one use under `key`: None if within `limit` (None: no limit), else seconds to wait (>= 1)."""
        if limit is None or self._window.hit(limit, *key):
            return None
        reset, _ = self._window.get_window_stats(limit, *key)
        return max(1, math.ceil(reset - time.time()))
