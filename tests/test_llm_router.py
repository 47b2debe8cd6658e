"""The router over real providers and the local fake: retries, fallback, breaker, budgets, cost."""

from __future__ import annotations

import typing

import logging
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.monitor.budget import BudgetGuard
from bot.db.models import GuardrailEvent, ModelCall
from bot.llm.breaker import CircuitBreaker
from bot.llm.pricing import check_catalog, cost_usd, counterfactual_usd
from bot.llm.router import PROVIDERS, LLMRouter
from bot.llm.types import Spend, TierUnavailable, Usage
from bot.settings import ConfigError, ModelEntry
from tests.fakes.llm_servers import (  # noqa: F401
    ENV, FakeClock, RecordingSleep, U, db_sessions, http_client, llm_server, llm_settings, ok, rate_limited,
)
from tests.harness.llm_router import REQ, make_router


async def rows(sessions) -> list[ModelCall]:
    async with sessions() as s:
        return list((await s.scalars(select(ModelCall).order_by(ModelCall.id))).all())


def outcomes(calls: list[ModelCall]) -> list[tuple[str, str]]:
    return [(c.model, c.outcome) for c in calls]


async def test_first_model_answers(llm_server, http_client, db_sessions):
    router = make_router(llm_server, http_client, db_sessions)
    r = await router.complete("cheap", REQ, purpose="answer")
    assert (r.model, r.tier, r.provider, r.attempts) == ("oa-mini", "cheap", "openai", 1)
    assert r.provider_model == "gpt-test-mini"
    (row,) = await rows(db_sessions)
    assert (row.model, row.tier, row.outcome, row.purpose, row.provider) == ("oa-mini", "cheap", "ok", "answer", "openai")
    assert row.input_tokens == r.usage.input_tokens > 0 and row.cost_usd == pytest.approx(r.cost_usd) and row.error is None


async def test_500s_are_retried_with_backoff_then_fail_over(llm_server, http_client, db_sessions):
    llm_server.script("gpt-test-mini", "500", "500", "500")
    sleep = RecordingSleep()
    router = make_router(llm_server, http_client, db_sessions, sleep=sleep)
    r = await router.complete("cheap", REQ, purpose="answer")
    assert r.model == "claude-small" and r.attempts == 4
    assert sleep.waits == [0.5 * 1 + 0.25, 0.5 * 2 + 0.25]  # base * 2^n + jitter (rng 0.5 * base)
    assert outcomes(await rows(db_sessions)) == [
        ("oa-mini", "retried"), ("oa-mini", "retried"), ("oa-mini", "failed"), ("claude-small", "ok")]
    assert len(llm_server.requests_for("gpt-test-mini")) == 3


async def test_429_waits_as_long_as_retry_after(llm_server, http_client, db_sessions):
    llm_server.script("gpt-test-mini", rate_limited(2), rate_limited(3))
    sleep = RecordingSleep()
    router = make_router(llm_server, http_client, db_sessions, sleep=sleep)
    r = await router.complete("cheap", REQ, purpose="answer")
    assert r.model == "oa-mini" and sleep.waits == [2.0, 3.0]
    calls = await rows(db_sessions)
    assert outcomes(calls) == [("oa-mini", "retried"), ("oa-mini", "retried"), ("oa-mini", "ok")]
    assert "429" in calls[0].error and "retry after 2s" in calls[0].error


async def test_retry_after_past_the_cap_fails_over_without_waiting(llm_server, http_client, db_sessions):
    llm_server.script("gpt-test-mini", rate_limited(120))
    sleep = RecordingSleep()
    r = await make_router(llm_server, http_client, db_sessions, sleep=sleep).complete("cheap", REQ, purpose="answer")
    assert r.model == "claude-small" and sleep.waits == []


async def test_401_fails_over_without_retry_and_logs(llm_server, http_client, db_sessions, caplog):
    llm_server.script("gpt-test-mini", "401")
    sleep = RecordingSleep()
    router = make_router(llm_server, http_client, db_sessions, sleep=sleep)
    with caplog.at_level(logging.WARNING, logger="bot.llm.router"):
        r = await router.complete("cheap", REQ, purpose="answer")
    assert r.model == "claude-small" and sleep.waits == []
    assert len(llm_server.requests_for("gpt-test-mini")) == 1
    assert outcomes(await rows(db_sessions)) == [("oa-mini", "failed"), ("claude-small", "ok")]
    assert "failing over" in caplog.text and "authentication failed" in caplog.text
    assert ENV["TEST_OPENAI_KEY"] not in caplog.text


async def test_hang_times_out_and_falls_to_next_model(llm_server, http_client, db_sessions):
    llm_server.script("gpt-test-mini", "hang")
    router = make_router(llm_server, http_client, db_sessions, llm={"timeout_s": 0.2, "max_retries": 0})
    r = await router.complete("cheap", REQ, purpose="classify")
    assert r.model == "claude-small"
    calls = await rows(db_sessions)
    assert outcomes(calls) == [("oa-mini", "failed"), ("claude-small", "ok")]
    assert "timed out" in calls[0].error or "no answer within" in calls[0].error


async def test_malformed_is_retried_once(llm_server, http_client, db_sessions):
    llm_server.script("gpt-test-mini", "malformed", "malformed")
    r = await make_router(llm_server, http_client, db_sessions).complete("cheap", REQ, purpose="answer")
    assert r.model == "claude-small"
    assert outcomes(await rows(db_sessions))[:2] == [("oa-mini", "retried"), ("oa-mini", "failed")]


async def test_breaker_opens_skips_then_closes_after_cooldown(llm_server, http_client, db_sessions):
    clock = FakeClock()
    router = make_router(llm_server, http_client, db_sessions, clock=clock,
                         llm={"max_retries": 0, "breaker_failures": 2, "breaker_cooldown_s": 60})
    llm_server.script("gpt-test-mini", "500", "500")
    for _ in range(2):
        assert (await router.complete("cheap", REQ, purpose="answer")).model == "claude-small"
    assert router.breakers["oa-mini"].state == "open"
    before = len(llm_server.requests_for("gpt-test-mini"))
    r = await router.complete("cheap", REQ, purpose="answer")  # skipped: no request reaches it
    assert r.model == "claude-small" and len(llm_server.requests_for("gpt-test-mini")) == before
    skipped = [c for c in await rows(db_sessions) if c.outcome == "circuit_open"]
    assert len(skipped) == 1 and skipped[0].model == "oa-mini" and skipped[0].input_tokens == 0
    assert "circuit open" in skipped[0].error

    clock.advance(59)
    assert router.breakers["oa-mini"].state == "open"
    clock.advance(1)  # half-open: one probe; it succeeds and the circuit closes
    assert (await router.complete("cheap", REQ, purpose="answer")).model == "oa-mini"
    assert router.breakers["oa-mini"].state == "closed"


async def test_half_open_probe_failure_reopens(llm_server, http_client, db_sessions):
    clock = FakeClock()
    router = make_router(llm_server, http_client, db_sessions, clock=clock,
                         llm={"max_retries": 2, "breaker_failures": 1, "breaker_cooldown_s": 10})
    llm_server.script("gpt-test-mini", "500", "500")
    await router.complete("cheap", REQ, purpose="answer")
    assert len(llm_server.requests_for("gpt-test-mini")) == 1  # opened at once: no retries on an open circuit
    clock.advance(10)
    assert (await router.complete("cheap", REQ, purpose="answer")).model == "claude-small"
    assert router.breakers["oa-mini"].state == "open" and len(llm_server.requests_for("gpt-test-mini")) == 2


def test_breaker_half_open_lets_one_probe_through():
    clock = FakeClock(0)
    b = CircuitBreaker(failures=2, cooldown_s=5, clock=clock)
    b.record_failure()
    assert b.state == "closed" and b.allow()
    b.record_failure()
    assert b.state == "open" and not b.allow() and b.retry_in() == 5
    clock.advance(5)
    assert b.state == "half_open" and b.allow() and not b.allow()  # one probe at a time
    b.release()
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.consecutive_failures == 0


async def test_every_model_down_raises_tier_unavailable(llm_server, http_client, db_sessions):
    for m in ("gpt-test-mini", "claude-test", "gemini-test-flash"):
        llm_server.script(m, "401")
    with pytest.raises(TierUnavailable) as ei:
        await make_router(llm_server, http_client, db_sessions).complete("cheap", REQ, purpose="answer")
    assert ei.value.tier == "cheap" and len(ei.value.reasons) == 3 and not ei.value.budget_blocked
    assert all("authentication failed" in r for r in ei.value.reasons)


async def test_models_without_key_are_skipped_not_failed(llm_server, http_client, db_sessions):
    router = make_router(llm_server, http_client, db_sessions, env={"TEST_GEMINI_KEY": ENV["TEST_GEMINI_KEY"]})
    assert router.available("cheap") and not router.available("strong") and not router.available("nope")
    r = await router.complete("cheap", REQ, purpose="answer")
    assert r.model == "gem-flash" and outcomes(await rows(db_sessions)) == [("gem-flash", "ok")]
    with pytest.raises(TierUnavailable, match="no key in \\$TEST_OPENAI_KEY"):
        await router.complete("strong", REQ, purpose="answer")
    with pytest.raises(TierUnavailable, match="not configured"):
        await router.complete("premium", REQ, purpose="answer")


async def test_budget_cap_blocks_before_any_request(llm_server, http_client, db_sessions):
    now = datetime(2025, 3, 15, 12, 0, tzinfo=timezone.utc)
    async with db_sessions() as s, s.begin():
        s.add_all([ModelCall(purpose="answer", provider="openai", model="oa-mini", tier="cheap", outcome="ok",
                             cost_usd=0.03, created_at=now - timedelta(hours=1)),
                   ModelCall(purpose="answer", provider="openai", model="oa-mini", tier="cheap", outcome="ok",
                             cost_usd=0.02, created_at=now - timedelta(hours=2)),
                   ModelCall(purpose="answer", provider="openai", model="oa-mini", tier="cheap", outcome="ok",
                             cost_usd=9.0, created_at=now - timedelta(days=20))])  # last month
    router = make_router(llm_server, http_client, db_sessions, budget_clock=lambda: now,
                         budgets={"tiers": {"cheap": {"daily_usd": 0.05}}})
    with pytest.raises(TierUnavailable) as ei:
        await router.complete("cheap", REQ, purpose="answer", conversation_id=None)
    assert ei.value.budget_blocked
    assert "daily cap for tier cheap reached: $0.0500 of $0.0500" in str(ei.value)
    assert llm_server.requests == []
    blocked = [c for c in await rows(db_sessions) if c.outcome == "budget_blocked"]
    assert len(blocked) == 1 and blocked[0].cost_usd == 0 and blocked[0].tier == "cheap"
    async with db_sessions() as s:
        (ev,) = (await s.scalars(select(GuardrailEvent))).all()
    assert ev.kind == "budget_blocked" and ev.detail["tier"] == "cheap" and "daily cap" in ev.detail["reason"]
    # the strong tier has no cap of its own and the overall cap is unset: it still answers
    assert (await router.complete("strong", REQ, purpose="answer")).model == "oa-big"


async def test_cap_holds_across_router_instances(llm_server, http_client, db_sessions):
    llm_server.script("gpt-test-big", ok("a", usage=U(100_000, 10_000)))  # 0.25 + 0.10 = $0.35
    kw = {"budgets": {"monthly_usd": 0.30}}
    await make_router(llm_server, http_client, db_sessions, **kw).complete("strong", REQ, purpose="answer")
    fresh = make_router(llm_server, http_client, db_sessions, **kw)  # a restart, or another worker
    with pytest.raises(TierUnavailable, match=r"overall monthly cap reached: \$0.3500 of \$0.3000"):
        await fresh.complete("cheap", REQ, purpose="answer")
    assert len(llm_server.requests) == 1


async def test_costs_add_up_to_the_cent(llm_server, http_client, db_sessions):
    llm_server.script("gpt-test-mini", ok("a", usage=U(120_000, 40_000, cached=100_000, reasoning=5_000)), "401")
    llm_server.script("claude-test", ok("b", usage=U(300_000, 80_000, cached=200_000)))
    llm_server.script("gemini-test-flash", ok("c", usage=U(50_000, 20_000, cached=0, reasoning=8_000)))
    router = make_router(llm_server, http_client, db_sessions,
                         tiers={"cheap": ["oa-mini"], "mid": ["claude-small"], "gem": ["gem-flash"],
                                "strong": ["oa-big"]})
    spend = Spend()
    got = [await router.complete(t, REQ, purpose="answer", spend=spend) for t in ("cheap", "mid", "gem")]
    # by hand, USD per million tokens from llm_settings
    expected = [
        (20_000 * 0.15 + 100_000 * 0.075 + 40_000 * 0.60) / 1e6,  # 0.0345
        (100_000 * 1.0 + 200_000 * 0.10 + 80_000 * 5.0) / 1e6,  # 0.52
        (50_000 * 0.30 + 20_000 * 2.50) / 1e6,  # 0.065
    ]
    assert [round(r.cost_usd, 6) for r in got] == [round(e, 6) for e in expected]
    assert round(sum(r.cost_usd for r in got), 2) == 0.62 and round(spend.cost_usd, 6) == round(sum(expected), 6)
    async with db_sessions() as s:
        total = await s.scalar(select(func.sum(ModelCall.cost_usd)))
    assert round(total, 6) == round(sum(expected), 6)
    # counterfactual: the same tokens on oa-big (2.50 in, 1.25 cached, 10.00 out)
    cf_first = (20_000 * 2.5 + 100_000 * 1.25 + 40_000 * 10.0) / 1e6
    assert got[0].counterfactual_usd == pytest.approx(cf_first) and spend.calls == 3


def test_pricing_rules():
    s = llm_settings("http://x")
    mini = s.models["oa-mini"]
    assert cost_usd(mini, Usage(1_000_000, 0)) == pytest.approx(0.15)
    assert cost_usd(mini, Usage(1_000_000, 0, cached_tokens=1_000_000)) == pytest.approx(0.075)
    no_cache_price = mini.model_copy(update={"cached_input_per_mtok": None})
    assert cost_usd(no_cache_price, Usage(1_000_000, 0, cached_tokens=500_000)) == pytest.approx(0.15)
    assert counterfactual_usd(s, Usage(0, 1_000_000)) == pytest.approx(10.0)
    no_strong = llm_settings("http://x", tiers={"cheap": ["oa-mini"]})
    assert counterfactual_usd(no_strong, Usage(0, 1_000_000), mini) == pytest.approx(0.60)


def test_check_catalog():
    # every provider the settings accept has a class, and every class is accepted
    assert set(PROVIDERS) == set(typing.get_args(ModelEntry.model_fields["provider"].annotation))
    s = llm_settings("http://x")
    check_catalog(s)
    pasted = s.model_copy(deep=True)
    pasted.models["oa-mini"].api_key_env = "sk-live-abc123"
    with pytest.raises(ConfigError) as ei:
        check_catalog(pasted)
    assert ei.value.key == "models.oa-mini.api_key_env" and "sk-live-abc123" not in str(ei.value)
    missing = s.model_copy(deep=True)
    missing.tiers["cheap"].append("ghost")
    with pytest.raises(ConfigError, match="tiers.cheap.3"):
        check_catalog(missing)
    with pytest.raises(ConfigError, match="llm.classify_tier"):
        check_catalog(llm_settings("http://x", tiers={"strong": ["oa-big"]}))


async def test_a_refused_request_does_not_open_the_breaker(llm_server, http_client, db_sessions):
    llm_server.script("gpt-test-mini", "400")
    router = make_router(llm_server, http_client, db_sessions, llm={"breaker_failures": 1})
    r = await router.complete("cheap", REQ, purpose="answer")
    assert r.model == "claude-small" and router.breakers["oa-mini"].state == "closed"
    assert outcomes(await rows(db_sessions)) == [("oa-mini", "failed"), ("claude-small", "ok")]
    assert len(llm_server.requests_for("gpt-test-mini")) == 1  # not retried


async def test_cancelled_probe_frees_the_half_open_slot(llm_server, http_client, db_sessions):
    import asyncio

    clock = FakeClock()
    router = make_router(llm_server, http_client, db_sessions, clock=clock,
                         llm={"max_retries": 0, "breaker_failures": 1, "breaker_cooldown_s": 10})
    llm_server.script("gpt-test-mini", "500", "hang")
    await router.complete("cheap", REQ, purpose="answer")
    clock.advance(10)
    task = asyncio.create_task(router.complete("cheap", REQ, purpose="answer"))
    await asyncio.wait_for(llm_server.hang_started.wait(), 5)  # the probe reached the fake, held there
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.breakers["oa-mini"].allow()  # a later call may probe again


async def test_budget_spend_on_each_engine(db_url, llm_server, http_client):
    """The spend query on the migrated schema, SQLite and PostgreSQL: day and month in UTC."""
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from bot.settings import Budgets

    engine = create_async_engine(db_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    now = datetime(2025, 3, 15, 0, 30, tzinfo=timezone.utc)
    try:
        async with sessions() as s, s.begin():
            for tier, cost, at in [("cheap", 0.01, now), ("cheap", 0.02, now - timedelta(hours=1)),  # yesterday
                                   ("strong", 0.40, now - timedelta(minutes=5)),
                                   ("cheap", 5.00, datetime(2025, 2, 28, 23, 59, tzinfo=timezone.utc))]:
                s.add(ModelCall(purpose="answer", provider="openai", model="m", tier=tier, outcome="ok",
                                cost_usd=cost, created_at=at))
        guard = BudgetGuard(Budgets(daily_usd=1.0, tiers={"cheap": {"daily_usd": 0.01, "monthly_usd": 1.0}}),
                            sessions, clock=lambda: now)
        spent = await guard.spend("cheap")
        assert {k: round(v, 4) for k, v in spent.items()} == {
            ("", "daily"): 0.41, ("", "monthly"): 0.43, ("cheap", "daily"): 0.01, ("cheap", "monthly"): 0.03}
        assert await guard.check("cheap") == "daily cap for tier cheap reached: $0.0100 of $0.0100"
        assert await guard.check("strong") is None
        router = LLMRouter(llm_settings(llm_server.url), http_client, sessions, env=ENV, sleep=RecordingSleep())
        assert (await router.complete("strong", REQ, purpose="summary")).model == "oa-big"  # rows fit the schema
    finally:
        await engine.dispose()
