"""A circuit breaker for one model: stop calling it while it is down, probe it now and then.

closed --(N consecutive failures)--> open --(cooldown elapsed)--> half-open
half-open --(the probe succeeds)--> closed;  half-open --(the probe fails)--> open

State lives in the process (each worker learns on its own); the clock is injected.
"""

from __future__ import annotations

import time
from typing import Callable, Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic):
        self.threshold, self.cooldown_s, self.clock = failures, cooldown_s, clock
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self._probing = False  # half-open lets exactly one call through at a time

    @property
    def state(self) -> State:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def retry_in(self) -> float:
        """Seconds until the next probe is allowed (0 when not open)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown_s - self.clock())

    def allow(self) -> bool:
        """May a call be made now? In half-open, only the first caller gets to probe."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probing:
            self._probing = True
            return True
        return False

    def release(self) -> None:
        """The call allowed by allow() was not made after all (e.g. a budget cap)."""
        self._probing = False

    def record_success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self._probing = False

    def record_failure(self) -> None:
        self.consecutive_failures += 1
        if self._probing or self.consecutive_failures >= self.threshold:
            self.opened_at = self.clock()
        self._probing = False
