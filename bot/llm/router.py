"""The LLM router: a tier is an ordered list of models; the first healthy one answers.

For each model in order: skip it without a key (not a failure); skip it while its circuit
is open (row: circuit_open); check the budget before every attempt (row: budget_blocked,
plus a guardrail event, and no request is made); call it with a connect and a total
timeout; retry 429 / 5xx / timeouts with exponential backoff and jitter, honouring
Retry-After up to ``backoff_max_s`` (longer than that: fail over instead of waiting);
never retry 400/401/403 (fail over, logged). Every attempt writes one model_calls row (with the
message's outcome when made while it is handled: bot/db/store.py hold_model_call).
The breaker counts failed attempts, except a 400-class refusal of this one request (a
prompt too long or blocked says nothing about the model's health).
When nothing answers, TierUnavailable says why, model by model.
A customer (``spend.customer``) gets at most ``rate_limits.llm_calls_per_customer`` routed calls;
past it no model is asked (a guardrail event, then TierUnavailable with ``rate_limited``), so
one customer flooding any channel cannot run up the bill.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from dataclasses import replace
from typing import Any, Awaitable, Callable, Mapping, Protocol, TypedDict

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.monitor import metrics
from bot.monitor.budget import BudgetGuard
from bot.db.models import GuardrailEvent, ModelCall
from bot.db.store import hold_model_call
from bot.llm.breaker import CircuitBreaker
from bot.llm.pricing import cost_usd, counterfactual_usd
from bot.llm.provider import Provider, provider_classes
from bot.llm.types import (
    LLMRequest, LLMResponse, ProviderError, RoutedResponse, Spend, TierUnavailable, Usage,
)
from bot.messages import utcnow
from bot.ratelimit import Limiter
from bot.settings import ModelEntry, Settings

log = logging.getLogger("bot.llm.router")

PROVIDERS = provider_classes()


class Completer(Protocol):
    """What the callers of a tier (answers, summaries, the LLM classifier) need: LLMRouter, or a fake."""

    async def complete(self, tier: str, req: LLMRequest, *, purpose: str, conversation_id: int | None = None,
                       message_id: int | None = None, spend: Spend | None = None) -> RoutedResponse: ...


class _CallContext(TypedDict):
    """What every row of one routed call shares."""

    tier: str
    purpose: str
    conversation_id: int | None
    message_id: int | None


def tier_has_key(settings: Settings, tier: str, env: Mapping[str, str]) -> bool:
    """Some model of the tier has its key in `env` (the environment)."""
    def keyed(entry: ModelEntry) -> bool:
        key_env = entry.api_key_env
        return key_env is None or bool((env.get(key_env) or "").strip())  # unset: a key-less local server

    return any(keyed(settings.models[n]) for n in settings.tiers.get(tier, []))


class LLMRouter:
    def __init__(self, settings: Settings, client: httpx.AsyncClient,
                 session_factory: async_sessionmaker[AsyncSession], *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: Callable[[], float] = random.random,
                 env: Mapping[str, str] = os.environ,
                 budget: BudgetGuard | None = None):
        self.settings, self.client, self.session_factory = settings, client, session_factory
        self.cfg = settings.llm
        self.clock, self.sleep, self.rng, self.env = clock, sleep, rng, env
        self.budget = budget or BudgetGuard(settings.budgets, session_factory)
        self.breakers = {name: CircuitBreaker(self.cfg.breaker_failures, self.cfg.breaker_cooldown_s, clock)
                         for name in settings.models}
        self.timeout = httpx.Timeout(self.cfg.timeout_s, connect=self.cfg.connect_timeout_s)
        self.per_customer = settings.rate_limits.item("llm_calls_per_customer")
        self.limiter = Limiter()  # per router, so per process

    # --- what is configured -----------------------------------------------------------

    def _key(self, entry: ModelEntry) -> str | None:
        """The key; "" for a key-less model (no api_key_env), None when its variable is empty."""
        if entry.api_key_env is None:
            return ""
        value = (self.env.get(entry.api_key_env) or "").strip()
        return value or None

    def available(self, tier: str) -> bool:
        """True when some model of the tier has its key in the environment."""
        return tier_has_key(self.settings, tier, self.env)

    def provider_for(self, name: str, api_key: str) -> Provider:
        entry = self.settings.models[name]
        cls = PROVIDERS[entry.provider]
        base = entry.base_url or (self.env.get(cls.base_url_env) or "").strip() or cls.default_base_url
        return cls(name, entry, self.client, api_key, base)

    # --- the call ---------------------------------------------------------------------

    async def complete(self, tier: str, req: LLMRequest, *, purpose: str, conversation_id: int | None = None,
                       message_id: int | None = None, spend: Spend | None = None) -> RoutedResponse:
        names = self.settings.tiers.get(tier)
        if not names:
            raise TierUnavailable(tier, [f"tier {tier!r} is not configured"])
        ctx: _CallContext = {"tier": tier, "purpose": purpose, "conversation_id": conversation_id, "message_id": message_id}
        if spend is not None and spend.customer is not None and self.available(tier):
            wait: float | None = self.limiter.hit(self.per_customer, "llm", str(spend.customer))
            if wait is not None:
                why = f"this customer's model calls reached {self.per_customer} (again in {wait}s)"
                await self._guardrail(ctx, {"tier": tier, "purpose": purpose, "reason": why}, kind="llm_rate_limited")
                log.warning("rate limit: %s; no %s call on tier %s", why, purpose, tier)
                raise TierUnavailable(tier, [why], rate_limited=True)
        reasons: list[str] = []
        attempts = 0
        for name in names:
            entry = self.settings.models[name]
            key = self._key(entry)
            if key is None:
                reasons.append(f"{name}: no key in ${entry.api_key_env}")
                continue
            breaker = self.breakers[name]
            if not breaker.allow():
                why = f"{name}: circuit open (next probe in {breaker.retry_in():.0f}s)"
                await self._record(ctx, name, entry, outcome="circuit_open", error=why)
                reasons.append(why)
                continue
            provider = self.provider_for(name, key)
            sized = req if req.max_tokens <= entry.max_output_tokens else replace(req, max_tokens=entry.max_output_tokens)
            malformed_seen = False
            for attempt in range(self.cfg.max_retries + 1):
                blocked = await self.budget.check(tier)
                if blocked:
                    breaker.release()
                    await self._record(ctx, name, entry, outcome="budget_blocked", error=blocked)
                    await self._guardrail(ctx, {"tier": tier, "model": name, "purpose": purpose, "reason": blocked})
                    log.warning("budget: %s; refusing %s call on %s", blocked, purpose, name)
                    raise TierUnavailable(tier, [*reasons, f"{name}: {blocked}"], budget_blocked=True)
                attempts += 1
                started = time.perf_counter()
                try:
                    async with asyncio.timeout(self.cfg.timeout_s):
                        resp = await provider.complete(sized, self.timeout)
                except (ProviderError, TimeoutError) as exc:
                    err = exc if isinstance(exc, ProviderError) else ProviderError(
                        f"{provider.label}: no answer within {self.cfg.timeout_s:g}s", kind="timeout")
                    latency_ms = (time.perf_counter() - started) * 1000
                    if err.kind == "bad_request" and err.status != 404:
                        breaker.release()  # this request was refused, the model is not down
                    else:
                        breaker.record_failure()
                    wait = self._retry_wait(err, attempt, malformed_seen, breaker)
                    malformed_seen = malformed_seen or err.kind == "malformed"
                    await self._record(ctx, name, entry, outcome="retried" if wait is not None else "failed",
                                       error=str(err), latency_ms=latency_ms)
                    if wait is None:
                        reasons.append(f"{name}: {err}")
                        log.warning("%s failed (%s); %s", name, err,
                                    "failing over" if name != names[-1] else "no model left in the tier")
                        break
                    log.info("%s: %s; retry %d in %.2fs", name, err, attempt + 1, wait)
                    await self.sleep(wait)
                    continue
                except BaseException:  # cancelled, or a bug: free a half-open probe slot, then raise
                    breaker.release()
                    raise
                breaker.record_success()
                return await self._success(ctx, name, entry, resp, attempts, spend)
        raise TierUnavailable(tier, reasons)

    def _retry_wait(self, err: ProviderError, attempt: int, malformed_seen: bool,
                    breaker: CircuitBreaker) -> float | None:
        """Seconds to wait before retrying this model, or None to fail over now."""
        if not err.retryable or attempt >= self.cfg.max_retries or breaker.state != "closed":
            return None
        if err.kind == "malformed" and malformed_seen:  # a garbled answer is retried once
            return None
        if err.retry_after is not None:
            # the server said how long; longer than we are willing to wait: another model
            return err.retry_after if err.retry_after <= self.cfg.backoff_max_s else None
        backoff: float = self.cfg.backoff_base_s * 2 ** attempt + self.rng() * self.cfg.backoff_base_s
        return min(self.cfg.backoff_max_s, backoff)

    async def _success(self, ctx: _CallContext, name: str, entry: ModelEntry, resp: LLMResponse, attempts: int,
                       spend: Spend | None) -> RoutedResponse:
        cost = cost_usd(entry, resp.usage)
        routed = RoutedResponse(
            text=resp.text, usage=resp.usage, model=name, provider=resp.provider, latency_ms=resp.latency_ms,
            tier=ctx["tier"], cost_usd=cost, counterfactual_usd=counterfactual_usd(self.settings, resp.usage, entry),
            attempts=attempts, provider_model=resp.model, tool_calls=resp.tool_calls,
        )
        await self._record(ctx, name, entry, outcome="ok", usage=resp.usage, cost=cost, latency_ms=resp.latency_ms)
        if spend is not None:
            spend.add(routed)
        return routed

    # --- rows -------------------------------------------------------------------------

    async def _record(self, ctx: _CallContext, name: str, entry: ModelEntry, *, outcome: str, usage: Usage = Usage(),
                      cost: float = 0.0, latency_ms: float = 0.0, error: str | None = None) -> None:
        row = dict(
            conversation_id=ctx["conversation_id"], message_id=ctx["message_id"], purpose=ctx["purpose"],
            provider=entry.provider, model=name, tier=ctx["tier"],
            input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens, reasoning_tokens=usage.reasoning_tokens,
            cost_usd=cost, latency_ms=latency_ms, outcome=outcome, error=error, created_at=utcnow(),
        )
        self.budget.note(ctx["tier"], cost)
        if not hold_model_call(ctx["message_id"], row):  # else written with the message's outcome
            async with self.session_factory() as s, s.begin():
                s.add(ModelCall(**row))
        metrics.observe_llm_call(name, ctx["tier"], outcome, usage.input_tokens, usage.output_tokens, cost, latency_ms)
        log.info("llm_call", extra={"conversation_id": ctx["conversation_id"], "message_id": ctx["message_id"],
                                    "model": name, "tier": ctx["tier"], "purpose": ctx["purpose"], "outcome": outcome,
                                    "tokens_in": usage.input_tokens, "tokens_out": usage.output_tokens,
                                    "cost_usd": cost, "latency_ms": round(latency_ms, 2)})

    async def _guardrail(self, ctx: _CallContext, detail: dict[str, Any], kind: str = "budget_blocked") -> None:
        async with self.session_factory() as s, s.begin():
            s.add(GuardrailEvent(conversation_id=ctx["conversation_id"], message_id=ctx["message_id"],
                                 kind=kind, detail=detail))
