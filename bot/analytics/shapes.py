"""The shapes of the report's figures: the TypedDicts (plain dicts, JSON-ready) that
bot/analytics/figures.py returns and `supportbot report` and the dashboard read.

Only the shapes live here, no queries: Report is the whole of `supportbot report`, Daily the
dashboard's per-day series, the others one section each (conversations, resolution, escalations,
route mix, cost, savings, unhandled messages), and Stats a latency or wait summary.
"""

from __future__ import annotations

from typing import TypedDict

from bot.analytics.actions import ActionsSection

Stats = dict[str, float | None]  # count, p50, p95, p99 (bot.analytics.sql._stats)


class Csat(TypedDict):
    count: int
    average: float | None


class ConversationFigures(TypedDict):
    total: int
    contained: int
    containment_rate: float | None
    escalated: int
    escalation_rate: float | None
    customer_messages: int
    csat: Csat


class ReasonFigures(TypedDict):
    count: int
    share: float | None
    rate: float | None


class EscalationFigures(TypedDict):
    total: int
    by_reason: dict[str, ReasonFigures]
    open: int
    sla_seconds: float
    sla_breached: int
    sla_met: int
    wait_to_claim_s: Stats
    time_to_resolve_s: Stats


class RouteFigures(TypedDict):
    messages: int
    share: float | None
    degraded: int


class ModelCost(TypedDict):
    model: str
    tier: str
    calls: int
    ok: int
    failures: int
    blocked: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


class CostFigures(TypedDict):
    by_model: list[ModelCost]
    by_tier: dict[str, float]
    total_usd: float


class ResolutionFigures(TypedDict):
    soft_window_hours: float
    conversations: int
    answered: int
    counted: int
    by_status: dict[str, int]
    resolved: int
    resolution_rate: float | None
    hard_rate: float | None
    soft_rate: float | None
    more_help: int
    more_help_rate: float | None


class SavingsFigures(TypedDict):
    actual_usd: float
    counterfactual_usd: float
    saved_usd: float
    saved_pct: float | None
    resolved_actual_usd: float
    resolved_counterfactual_usd: float
    saved_if_all_right_usd: float
    saved_if_all_right_pct: float | None


class Unhandled(TypedDict):
    text: str
    count: int
    intent: str | None
    route: str | None
    reason: str | None


class _Group(Unhandled):  # unhandled(): one normalised text, with its newest message's id
    last_id: int


class Report(TypedDict):
    period: dict[str, str | None]
    actions: ActionsSection
    conversations: ConversationFigures
    resolution: ResolutionFigures
    messages: int
    escalations: EscalationFigures
    route_mix: dict[str, RouteFigures]
    cost: CostFigures
    savings: SavingsFigures
    latency_ms: dict[str, Stats]
    csat: Csat
    guardrails: dict[str, int]
    unhandled: list[Unhandled]


class Daily(TypedDict):
    days: list[str]
    conversations_by_route: dict[str, list[int]]
    containment_rate: list[float | None]
    resolution_rate: list[float | None]
    hard_rate: list[float | None]
    soft_rate: list[float | None]
    more_help_rate: list[float | None]
    resolutions_by_status: dict[str, list[int]]
    cost_usd: list[float]
    counterfactual_usd: list[float]
    saved_usd: list[float]
    saved_if_all_right_usd: list[float]
    escalations_within_sla: list[int]
    escalations_breached_sla: list[int]
    escalations_open: list[int]
    confidence_bins: list[str]
    confidence_counts: list[int]
    csat_average: list[float | None]
    csat_count: list[int]
