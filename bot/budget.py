"""Spend caps: daily and monthly, overall and per tier, read from model_calls every time.

Spend is SUM(model_calls.cost_usd) since the start of the UTC day / month, so caps hold
across restarts and across several workers sharing one database. A cap is reached when
spend >= cap; a call is refused from then on (one call can overshoot by its own cost,
since its price is only known after it).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import ModelCall
from bot.messages import utcnow
from bot.settings import Budgets, Cap


def period_starts(now: datetime) -> tuple[datetime, datetime]:
    """Start of the UTC day and of the UTC month that ``now`` falls in."""
    now = now.astimezone(timezone.utc) if now.tzinfo else now.replace(tzinfo=timezone.utc)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day, day.replace(day=1)


class BudgetGuard:
    def __init__(self, budgets: Budgets, session_factory: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime] = utcnow):
        self.budgets, self.session_factory, self.clock = budgets, session_factory, clock

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

    async def check(self, tier: str) -> str | None:
        """None if a call on this tier is allowed now, else why not."""
        caps = self._caps(tier)
        if not caps:
            return None
        spent = await self.spend(tier)
        for scope, period, cap in caps:
            used = spent[(scope, period)]
            if used >= cap:
                what = f"{period} cap for tier {scope}" if scope else f"overall {period} cap"
                return f"{what} reached: ${used:.4f} of ${cap:.4f}"
        return None
