"""Prometheus metrics in a registry of our own (not prometheus-client's global one).

Counters and histograms are updated on the code path through the observe_* functions below
(one call per message, per LLM call attempt, per delivery). Gauges that describe the state of
the database (open escalations, inbox and outbox backlog, budget spent and remaining) are
refreshed from it in the background (GaugeCache, every 15 s by default), never by a scrape, so
several workers sharing a database agree and a flood of scrapes costs the database nothing.

    observe_message(channel, route, confidence, latency_ms)      one handled customer message
    observe_llm_call(model, tier, outcome, tokens_in, tokens_out, cost, latency_ms)
    observe_delivery(channel, outcome)                            sent | retry | failed
    await refresh_gauges(app)                                     GaugeCache(app).start() runs it in a loop
    render()                                                      the text exposition format
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import TYPE_CHECKING, Iterable, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

if TYPE_CHECKING:
    from bot.monitor.budget import BudgetGuard
    from bot.settings import Settings

CONTENT_TYPE = CONTENT_TYPE_LATEST
REFRESH_SECONDS = 15.0  # how often the database gauges are refreshed (SUPPORTBOT_METRICS_REFRESH_SECONDS)
log = logging.getLogger("supportbot.metrics")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


class Metrics:
    """Every collector, registered in its own CollectorRegistry."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = r = registry or CollectorRegistry(auto_describe=True)
        self.messages = Counter("supportbot_messages", "Customer messages handled, by channel and route",
                                ["channel", "route"], registry=r)
        self.confidence = Histogram("supportbot_classifier_confidence", "Classifier confidence of handled messages",
                                    ["stage"], buckets=CONFIDENCE_BUCKETS, registry=r)
        self.latency = Histogram("supportbot_stage_latency_seconds",
                                 "Latency per stage: classify, llm_call, action_call, end_to_end", ["stage"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.llm_calls = Counter("supportbot_llm_calls", "LLM call attempts, by model, tier and outcome",
                                 ["model", "tier", "outcome"], registry=r)
        self.llm_tokens = Counter("supportbot_llm_tokens", "LLM tokens, by model, tier and direction (in, out)",
                                  ["model", "tier", "direction"], registry=r)
        self.llm_cost = Counter("supportbot_llm_cost_usd", "LLM spend in USD, by model, tier and outcome",
                                ["model", "tier", "outcome"], registry=r)
        self.escalations = Counter("supportbot_escalations", "Escalations to a person, by reason",
                                   ["reason"], registry=r)
        self.guardrails = Counter("supportbot_guardrail_events", "Guardrail events on handled messages, by kind",
                                  ["kind"], registry=r)
        self.action_calls = Counter("supportbot_action_calls", "Calls actions made to the shop's API, by action and status",
                                    ["action", "status"], registry=r)
        self.deliveries = Counter("supportbot_outbox_deliveries", "Outbox delivery attempts, by channel and outcome",
                                  ["channel", "outcome"], registry=r)
        # refreshed from the database at scrape time
        self.escalations_open = Gauge("supportbot_escalations_open", "Escalations waiting for or held by a person",
                                      ["status"], registry=r)
        self.inbox_backlog = Gauge("supportbot_inbox_backlog", "Inbox events not handled yet", registry=r)
        self.outbox_backlog = Gauge("supportbot_outbox_backlog", "Replies not delivered yet", registry=r)
        self.budget_spent = Gauge("supportbot_budget_spent_usd", "Spend in the current UTC day / month",
                                  ["scope", "period"], registry=r)
        self.budget_remaining = Gauge("supportbot_budget_remaining_usd",
                                      "Cap minus spend (only where a cap is configured)", ["scope", "period"],
                                      registry=r)


METRICS = Metrics()  # the process's metrics; tests may swap in a fresh one with use()


def use(metrics: Metrics) -> Metrics:
    """Make `metrics` the one the observe_* functions update; returns the previous one."""
    global METRICS
    previous, METRICS = METRICS, metrics
    return previous


def observe_message(channel: str, route: str, confidence: float | None, latency_ms: float, *,
                    stage: str | None = None, classify_latency_ms: float | None = None,
                    guardrails: Iterable[str] = (), escalation: str | None = None) -> None:
    m = METRICS
    m.messages.labels(channel, route).inc()
    if confidence is not None:
        m.confidence.labels(stage or "local").observe(confidence)
    m.latency.labels("end_to_end").observe(max(0.0, latency_ms) / 1000)
    if classify_latency_ms is not None:
        m.latency.labels("classify").observe(max(0.0, classify_latency_ms) / 1000)
    for kind in guardrails:
        m.guardrails.labels(kind).inc()
    if escalation:
        m.escalations.labels(escalation).inc()


def observe_llm_call(model: str, tier: str, outcome: str, tokens_in: int, tokens_out: int, cost: float,
                     latency_ms: float) -> None:
    m = METRICS
    m.llm_calls.labels(model, tier, outcome).inc()
    m.llm_tokens.labels(model, tier, "in").inc(max(0, tokens_in))
    m.llm_tokens.labels(model, tier, "out").inc(max(0, tokens_out))
    m.llm_cost.labels(model, tier, outcome).inc(max(0.0, cost))
    if outcome in ("ok", "retried", "failed"):  # a request was made (blocked calls make none)
        m.latency.labels("llm_call").observe(max(0.0, latency_ms) / 1000)


def observe_action_call(action: str, status: str, latency_ms: float) -> None:
    METRICS.action_calls.labels(action, status).inc()
    METRICS.latency.labels("action_call").observe(max(0.0, latency_ms) / 1000)


def observe_delivery(channel: str, outcome: str) -> None:
    METRICS.deliveries.labels(channel, outcome).inc()


class _Routed(Protocol):
    @property
    def budget(self) -> BudgetGuard: ...


class GaugeSource(Protocol):
    """What the gauges read of the running bot (bot.app.App, which this layer may not import)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]: ...

    @property
    def router(self) -> _Routed | None: ...  # the LLM router, whose budget guard is the one in use


async def refresh_gauges(app: GaugeSource, metrics: Metrics | None = None) -> None:
    """Set the database-backed gauges from `app` (its sessions, settings and budget guard). Every query
    runs first; the gauges are then set in one go, so a scrape meanwhile sees the old values, not half."""
    from bot.monitor.budget import BudgetGuard
    from bot.db.models import Escalation, InboxEvent, OutboxMessage

    async with app.sessions() as s:
        open_by_status = dict((await s.execute(
            select(Escalation.status, func.count()).where(Escalation.status.in_(("open", "claimed")))
            .group_by(Escalation.status))).all())
        inbox = await s.scalar(select(func.count()).select_from(InboxEvent)
                               .where(InboxEvent.status.in_(("pending", "processing"))))
        outbox = await s.scalar(select(func.count()).select_from(OutboxMessage)
                                .where(OutboxMessage.status.in_(("pending", "sending"))))
    settings = app.settings
    router = app.router
    guard = router.budget if router is not None else BudgetGuard(settings.budgets, app.sessions)
    budgets = settings.budgets
    tiers = sorted(set(settings.tiers) | set(budgets.tiers))
    spent_rows, remaining_rows = [], []
    for i, tier in enumerate(tiers or [""]):
        spent = await guard.spend(tier or " ")  # {(scope, period): usd}; scope "" is overall
        for period in ("daily", "monthly"):
            scoped = [(tier, budgets.tiers.get(tier))] if tier else []
            if i == 0:
                scoped.insert(0, ("", budgets))
            for scope, cap_src in scoped:
                label, usd = scope or "overall", spent[(scope, period)]
                spent_rows.append((label, period, usd))
                cap = getattr(cap_src, f"{period}_usd", None) if cap_src is not None else None
                if cap is not None:
                    remaining_rows.append((label, period, max(0.0, cap - usd)))

    m = metrics or METRICS  # from here on no await: the gauges change all at once
    for status in ("open", "claimed"):
        m.escalations_open.labels(status).set(open_by_status.get(status, 0))
    m.inbox_backlog.set(inbox or 0)
    m.outbox_backlog.set(outbox or 0)
    m.budget_spent.clear()
    m.budget_remaining.clear()
    for label, period, usd in spent_rows:
        m.budget_spent.labels(label, period).set(usd)
    for label, period, usd in remaining_rows:
        m.budget_remaining.labels(label, period).set(usd)


class GaugeCache:
    """The database-backed gauges, refreshed in the background every `interval` seconds (start()),
    so a scrape of /metrics never waits on the database and runs no query: however often it is
    scraped, the queries run once per interval. A failed refresh keeps the last values (one warning)."""

    def __init__(self, app: GaugeSource, interval: float = REFRESH_SECONDS, metrics: Metrics | None = None):
        self.app, self.interval, self.metrics = app, interval, metrics
        self.refreshes = 0  # refreshes run, failed ones included
        self.last_error: str | None = None
        self._done = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> bool:
        """Run the queries now (one refresh at a time); False when the database failed."""
        async with self._done:
            try:
                await refresh_gauges(self.app, self.metrics)
                self.last_error = None
            except Exception as e:  # noqa: BLE001 - the counters are still worth serving
                self.last_error = f"{type(e).__name__}: {e}"[:300]
                log.warning("metrics: could not refresh the database gauges (%s); serving the last values",
                            type(e).__name__)
            self.refreshes += 1
            self._done.notify_all()
            return self.last_error is None

    async def wait_refreshed(self, count: int = 1) -> None:
        """Until `count` refreshes have run in all."""
        async with self._done:
            await self._done.wait_for(lambda: self.refreshes >= count)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="metrics-gauges")

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def render(metrics: Metrics | None = None) -> bytes:
    return generate_latest((metrics or METRICS).registry)
