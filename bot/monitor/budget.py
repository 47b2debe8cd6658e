"""Spend caps: daily and monthly, overall and per tier, from a running total of model_calls.

Spend is SUM(model_calls.cost_usd) since the start of the UTC day / month, so caps hold
across restarts and across several workers sharing one database. The sum is read once per
tier (and again when the day or month turns), then kept as a running total: this process adds
the cost of each of its calls as it is made (`note`), and the total is refreshed from the
database in the background when older than `refresh_s` (5 s), so a check costs no query.
A cap is reached when spend >= cap; a call is refused from then on.

Overshoot bound: a cap can be passed by (a) the cost of the one call that crosses it (its price
is only known after it), plus (b) what other processes spent in the last `refresh_s` seconds,
plus (c) a refresh that lands while this process's calls are held for their message's finish
transaction (bot/db/store.py) forgets those calls until the next refresh: at most the calls of
the messages in hand. With one process, (b) is zero.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import ModelCall
from bot.messages import utcnow
from bot.settings import Budgets, Cap

log = logging.getLogger("supportbot.budget")


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """Start of the UTC day and of the UTC month that ``now`` falls in."""
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


class BudgetGuard:
    def __init__(self, budgets: Budgets, session_factory: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime] = utcnow, refresh_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.budgets, self.session_factory, self.clock = budgets, session_factory, clock
        self.refresh_s, self.monotonic = refresh_s, monotonic
        # tier -> (period starts, monotonic time read, running totals)
        self._totals: dict[str, tuple[tuple[datetime, datetime], float, dict[tuple[str, str], float]]] = {}
        self._refreshing: dict[str, asyncio.Task[None]] = {}

    def _caps(self, tier: str) -> list[tuple[str, str, float]]:
        """(scope, period, cap) for every cap that applies to a call on this tier."""
        out: list[tuple[str, str, float]] = []
        scoped: list[tuple[str, Cap | None]] = [("", self.budgets), (tier, self.budgets.tiers.get(tier))]
        for scope, cap in scoped:
            if cap is None:
                continue
            if cap.daily_usd is not None:
                out.append((scope, "daily", cap.daily_usd))
            if cap.monthly_usd is not None:
                out.append((scope, "monthly", cap.monthly_usd))
        return out

    async def spend(self, tier: str) -> dict[tuple[str, str], float]:
        """{(scope, period): USD} with scope "" for overall; one query over this month."""
        day, month = period_starts(self.clock())
        today = ModelCall.created_at >= day
        in_tier = ModelCall.tier == tier
        cost = ModelCall.cost_usd
        q = select(
            func.coalesce(func.sum(case((today, cost), else_=0.0)), 0.0),
            func.coalesce(func.sum(cost), 0.0),
            func.coalesce(func.sum(case((today & in_tier, cost), else_=0.0)), 0.0),
            func.coalesce(func.sum(case((in_tier, cost), else_=0.0)), 0.0),
        ).where(ModelCall.created_at >= month)
        async with self.session_factory() as s:
            row = (await s.execute(q)).one()
        return {("", "daily"): float(row[0]), ("", "monthly"): float(row[1]),
                (tier, "daily"): float(row[2]), (tier, "monthly"): float(row[3])}

    def note(self, tier: str, cost: float) -> None:
        """This process spent `cost` on `tier` just now: add it to the running totals."""
        if cost <= 0:
            return
        for cached, (_, _, totals) in self._totals.items():
            totals[("", "daily")] += cost
            totals[("", "monthly")] += cost
            if cached == tier:
                totals[(tier, "daily")] += cost
                totals[(tier, "monthly")] += cost

    async def _refresh(self, tier: str, periods: tuple[datetime, datetime]) -> dict[tuple[str, str], float]:
        read_at = self.monotonic()
        spent = await self.spend(tier)
        self._totals[tier] = (periods, read_at, spent)
        return spent

    async def _refresh_quietly(self, tier: str, periods: tuple[datetime, datetime]) -> None:
        try:
            await self._refresh(tier, periods)
        except Exception:  # the database is away: keep the running total, try at the next check
            log.exception("budget: could not refresh the spend of tier %s", tier)
        finally:
            self._refreshing.pop(tier, None)

    async def _spent(self, tier: str) -> dict[tuple[str, str], float]:
        """The running totals: read now when missing or of another day, refreshed behind when stale."""
        periods = period_starts(self.clock())
        cached = self._totals.get(tier)
        if cached is None or cached[0] != periods:
            return await self._refresh(tier, periods)
        if self.monotonic() - cached[1] >= self.refresh_s and tier not in self._refreshing:
            self._refreshing[tier] = asyncio.create_task(self._refresh_quietly(tier, periods),
                                                         name=f"budget-refresh-{tier}")
        return cached[2]

    async def check(self, tier: str) -> str | None:
        """None if a call on this tier is allowed now, else why not."""
        caps = self._caps(tier)
        if not caps:
            return None
        spent = await self._spent(tier)
        for scope, period, cap in caps:
            used = spent[(scope, period)]
            if used >= cap:
                what = f"{period} cap for tier {scope}" if scope else f"overall {period} cap"
                return f"{what} reached: ${used:.4f} of ${cap:.4f}"
        return None
