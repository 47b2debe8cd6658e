"""The LLM router on the fake provider APIs with a fake clock and a recording sleep: `make_router`
and the request it is asked (`REQ`)."""

from __future__ import annotations

from bot.monitor.budget import BudgetGuard
from bot.llm.router import LLMRouter
from bot.llm.types import ChatTurn, LLMRequest
from tests.fakes.llm_servers import ENV, FakeClock, RecordingSleep, llm_settings


REQ = LLMRequest(system="You are Acme support.", messages=[ChatTurn("user", "Where is my order?")], max_tokens=200)


def make_router(srv, client, sessions, *, env=ENV, clock=None, sleep=None, budget_clock=None, **kw):
    settings = llm_settings(srv.url, **kw)
    budget = BudgetGuard(settings.budgets, sessions, budget_clock) if budget_clock else None
    return LLMRouter(settings, client, sessions, clock=clock or FakeClock(), sleep=sleep or RecordingSleep(),
                     rng=lambda: 0.5, env=dict(env), budget=budget)
