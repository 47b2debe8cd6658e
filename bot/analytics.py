"""The report's figures, read from the analyst views (migrations/versions/0002, docs/analytics.md).

Every function takes an async engine and `Filters` (UTC days, inclusive, and a channel) and
returns plain dicts and lists, so the same figures feed `supportbot report` (table, CSV, JSON)
and the dashboard. Percentiles are computed here, in Python, with the same linear
interpolation as PostgreSQL's percentile_cont (SQLite has none).

What the figures mean:
- containment rate: conversations (started in the period) with no escalation / all of them;
- escalation rate by reason: escalations (created in the period) per conversation, by reason_kind;
- route mix: handled customer messages by the route that answered them;
- savings: counterfactual (every message on the strong tier) minus actual, from route_decisions;
- latency: classify (classifications), LLM call (model_calls with outcome ok), end to end
  (route_decisions: the worker's time for one message);
- unhandled: messages classified out_of_scope, or escalated for low confidence, out of scope
  or because the route could not be served (v_messages.unhandled).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable, Sequence

from sqlalchemy import Date, String, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.messages import utcnow

ROUTES = ("template", "knowledge", "cheap_llm", "strong_llm", "human")
PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Filters:
    since: date | None = None  # first UTC day, inclusive
    until: date | None = None  # last UTC day, inclusive
    channel: str | None = None

    def as_dict(self) -> dict:
        return {"since": self.since.isoformat() if self.since else None,
                "until": self.until.isoformat() if self.until else None, "channel": self.channel}


def parse_day(value: str, today: date | None = None) -> date:
    """'YYYY-MM-DD', 'today', or 'Nd' (N days before today, UTC)."""
    today = today or utcnow().date()
    value = value.strip().lower()
    if value == "today":
        return today
    m = re.fullmatch(r"(\d{1,5})d", value)
    if m:
        return today - timedelta(days=int(m.group(1)))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a date: use YYYY-MM-DD, 'today' or Nd (e.g. 7d)") from None


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100), interpolated linearly like percentile_cont; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _where(f: Filters, extra: Iterable[str] = ()) -> tuple[str, dict]:
    clauses, params = list(extra), {}
    if f.since:
        clauses.append("day >= :since")
        params["since"] = f.since
    if f.until:
        clauses.append("day <= :until")
        params["until"] = f.until
    if f.channel:
        clauses.append("channel = :channel")
        params["channel"] = f.channel
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


async def _rows(engine: AsyncEngine, sql: str, params: dict) -> list[dict]:
    stmt = text(sql)
    types = {"since": Date(), "until": Date(), "channel": String()}
    stmt = stmt.bindparams(*[bindparam(k, type_=types[k]) for k in params if k in types])
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(stmt, params)).mappings().all()]


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _usd(value: float | None) -> float:
    return round(float(value or 0.0), 6)


def _stats(values: Sequence[float]) -> dict:
    out: dict[str, Any] = {"count": len(values)}
    for p in PERCENTILES:
        v = percentile(values, p)
        out[f"p{p}"] = None if v is None else round(v, 2)
    return out


# --- the sections of the report -------------------------------------------------------------

async def conversations(engine: AsyncEngine, f: Filters) -> dict:
    where, params = _where(f)
    [row] = await _rows(engine, f"""
        SELECT count(*) AS total, COALESCE(sum(contained), 0) AS contained,
               COALESCE(sum(escalated), 0) AS escalated, COALESCE(sum(turns), 0) AS turns,
               COALESCE(sum(csat * csat_count), 0) AS csat_sum, COALESCE(sum(csat_count), 0) AS csat_count
        FROM v_conversation_summary{where}""", params)
    total, contained, escalated = int(row["total"]), int(row["contained"]), int(row["escalated"])
    csat_count = int(row["csat_count"])
    return {
        "total": total, "contained": contained, "containment_rate": _rate(contained, total),
        "escalated": escalated, "escalation_rate": _rate(escalated, total), "customer_messages": int(row["turns"]),
        "csat": {"count": csat_count,
                 "average": round(float(row["csat_sum"]) / csat_count, 3) if csat_count else None},
    }


async def escalations(engine: AsyncEngine, f: Filters, conversations_total: int, sla_seconds: float) -> dict:
    where, params = _where(f)
    rows = await _rows(engine, f"""
        SELECT reason_kind, status, wait_to_claim_s, time_to_resolve_s, waiting_s
        FROM v_escalations{where}""", params)
    by_reason: dict[str, dict] = {}
    for kind, n in sorted(Counter(r["reason_kind"] for r in rows).items(), key=lambda kv: (-kv[1], kv[0])):
        by_reason[kind] = {"count": n, "share": _rate(n, len(rows)), "rate": _rate(n, conversations_total)}
    breached = sum(1 for r in rows if r["waiting_s"] is not None and float(r["waiting_s"]) > sla_seconds)
    waits = [float(r["wait_to_claim_s"]) for r in rows if r["wait_to_claim_s"] is not None]
    resolves = [float(r["time_to_resolve_s"]) for r in rows if r["time_to_resolve_s"] is not None]
    return {
        "total": len(rows), "by_reason": by_reason,
        "open": sum(1 for r in rows if r["status"] == "open"),
        "sla_seconds": sla_seconds, "sla_breached": breached, "sla_met": len(rows) - breached,
        "wait_to_claim_s": _stats(waits), "time_to_resolve_s": _stats(resolves),
    }


async def route_mix(engine: AsyncEngine, f: Filters) -> dict:
    where, params = _where(f)
    rows = await _rows(engine, f"""
        SELECT route, count(*) AS messages,
               sum(CASE WHEN degraded_from IS NOT NULL THEN 1 ELSE 0 END) AS degraded
        FROM v_messages{where} GROUP BY route""", params)
    total = sum(int(r["messages"]) for r in rows)
    order = {r: i for i, r in enumerate(ROUTES)}
    return {r["route"]: {"messages": int(r["messages"]), "share": _rate(int(r["messages"]), total),
                         "degraded": int(r["degraded"] or 0)}
            for r in sorted(rows, key=lambda r: (order.get(r["route"], 99), r["route"]))}


async def cost(engine: AsyncEngine, f: Filters) -> dict:
    where, params = _where(f)
    rows = await _rows(engine, f"""
        SELECT model, tier, sum(calls) AS calls, sum(ok_calls) AS ok_calls, sum(failures) AS failures,
               sum(blocked) AS blocked, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
               sum(cost_usd) AS cost_usd
        FROM v_daily_cost{where} GROUP BY model, tier ORDER BY tier, model""", params)
    by_model = [{"model": r["model"], "tier": r["tier"], "calls": int(r["calls"]), "ok": int(r["ok_calls"]),
                 "failures": int(r["failures"]), "blocked": int(r["blocked"]), "tokens_in": int(r["tokens_in"]),
                 "tokens_out": int(r["tokens_out"]), "cost_usd": _usd(r["cost_usd"])} for r in rows]
    by_tier: dict[str, float] = defaultdict(float)
    for r in rows:
        by_tier[r["tier"]] += float(r["cost_usd"] or 0.0)
    return {"by_model": by_model, "by_tier": {t: _usd(v) for t, v in sorted(by_tier.items())},
            "total_usd": _usd(sum(float(r["cost_usd"] or 0.0) for r in rows))}


async def savings(engine: AsyncEngine, f: Filters) -> dict:
    where, params = _where(f)
    [row] = await _rows(engine, f"""
        SELECT COALESCE(sum(cost_usd), 0.0) AS actual, COALESCE(sum(counterfactual_usd), 0.0) AS counterfactual
        FROM v_messages{where}""", params)
    actual, counterfactual = float(row["actual"]), float(row["counterfactual"])
    saved = counterfactual - actual
    return {"actual_usd": _usd(actual), "counterfactual_usd": _usd(counterfactual), "saved_usd": _usd(saved),
            "saved_pct": round(100.0 * saved / counterfactual, 2) if counterfactual else None}


async def latency(engine: AsyncEngine, f: Filters) -> dict:
    where, params = _where(f)
    msgs = await _rows(engine, f"SELECT classify_latency_ms, latency_ms FROM v_messages{where}", params)
    where_ok, params_ok = _where(f, ["outcome = 'ok'"])
    calls = await _rows(engine, f"SELECT latency_ms FROM v_model_calls{where_ok}", params_ok)
    return {
        "classify": _stats([float(r["classify_latency_ms"]) for r in msgs if r["classify_latency_ms"] is not None]),
        "llm_call": _stats([float(r["latency_ms"]) for r in calls if r["latency_ms"] is not None]),
        "end_to_end": _stats([float(r["latency_ms"]) for r in msgs if r["latency_ms"] is not None]),
    }


def _normalise(text_: str) -> str:
    return " ".join(text_.split()).casefold()[:200]


async def unhandled(engine: AsyncEngine, f: Filters, top: int = 10) -> list[dict]:
    where, params = _where(f, ["unhandled = 1"])
    rows = await _rows(engine, f"""
        SELECT message_id, text, intent, route, escalation_reason FROM v_messages{where}
        ORDER BY message_id""", params)
    groups: dict[str, dict] = {}
    for r in rows:
        key = _normalise(r["text"] or "")
        g = groups.setdefault(key, {"text": " ".join((r["text"] or "").split())[:200], "count": 0, "last_id": 0})
        g["count"] += 1
        g.update(last_id=r["message_id"], intent=r["intent"], route=r["route"], reason=r["escalation_reason"])
    ranked = sorted(groups.values(), key=lambda g: (-g["count"], -g["last_id"]))[:top]
    return [{k: g.get(k) for k in ("text", "count", "intent", "route", "reason")} for g in ranked]


async def guardrails(engine: AsyncEngine, f: Filters) -> dict:
    where, params = _where(f)
    rows = await _rows(engine, f"SELECT kind, sum(events) AS events FROM v_guardrail_events{where} GROUP BY kind",
                       params)
    return {r["kind"]: int(r["events"]) for r in sorted(rows, key=lambda r: r["kind"])}


async def report(engine: AsyncEngine, f: Filters = Filters(), *, sla_seconds: float = 300, top: int = 10) -> dict:
    """Every figure of `supportbot report`, as one JSON-ready dict."""
    conv = await conversations(engine, f)
    mix = await route_mix(engine, f)
    return {
        "period": f.as_dict(),
        "conversations": conv,
        "messages": sum(r["messages"] for r in mix.values()),
        "escalations": await escalations(engine, f, conv["total"], sla_seconds),
        "route_mix": mix,
        "cost": await cost(engine, f),
        "savings": await savings(engine, f),
        "latency_ms": await latency(engine, f),
        "csat": conv["csat"],
        "guardrails": await guardrails(engine, f),
        "unhandled": await unhandled(engine, f, top),
    }


# --- series for the dashboard ---------------------------------------------------------------

CONFIDENCE_BINS = 10


async def daily(engine: AsyncEngine, f: Filters, *, sla_seconds: float = 300) -> dict:
    """Per-day series (and the confidence histogram) over the filtered period."""
    where, params = _where(f)
    conv = await _rows(engine, f"""
        SELECT day, final_route, count(*) AS n, sum(csat * csat_count) AS csat_sum, sum(csat_count) AS csat_count
        FROM v_conversation_summary{where} GROUP BY day, final_route""", params)
    money = await _rows(engine, f"""
        SELECT day, sum(cost_usd) AS cost, sum(counterfactual_usd) AS counterfactual
        FROM v_messages{where} GROUP BY day""", params)
    esc = await _rows(engine, f"SELECT day, status, waiting_s FROM v_escalations{where}", params)
    conf = await _rows(engine, f"SELECT confidence FROM v_messages{where}", params)

    days = sorted({_day(r["day"]) for r in conv + money + esc})
    if f.since and f.until and (f.until - f.since).days <= 366:  # every day of the range, zero when quiet
        days = sorted(set(days) | {(f.since + timedelta(days=i)).isoformat()
                                   for i in range((f.until - f.since).days + 1)})
    routes_seen = sorted({r["final_route"] or "none" for r in conv},
                         key=lambda r: (ROUTES.index(r) if r in ROUTES else 99, r))
    by_route = {r: [0] * len(days) for r in routes_seen}
    csat_sum, csat_n = [0.0] * len(days), [0] * len(days)
    index = {d: i for i, d in enumerate(days)}
    for r in conv:
        i = index[_day(r["day"])]
        by_route[r["final_route"] or "none"][i] += int(r["n"])
        csat_sum[i] += float(r["csat_sum"] or 0.0)
        csat_n[i] += int(r["csat_count"] or 0)
    cost_, counterfactual = [0.0] * len(days), [0.0] * len(days)
    for r in money:
        i = index[_day(r["day"])]
        cost_[i], counterfactual[i] = _usd(r["cost"]), _usd(r["counterfactual"])
    within, breached, still_open = [0] * len(days), [0] * len(days), [0] * len(days)
    for r in esc:
        i = index[_day(r["day"])]
        if r["waiting_s"] is not None and float(r["waiting_s"]) > sla_seconds:
            breached[i] += 1
        else:
            within[i] += 1
        still_open[i] += r["status"] == "open"
    bins = [0] * CONFIDENCE_BINS
    for r in conf:
        if r["confidence"] is not None:
            bins[min(CONFIDENCE_BINS - 1, max(0, int(float(r["confidence"]) * CONFIDENCE_BINS)))] += 1
    return {
        "days": days,
        "conversations_by_route": by_route,
        "cost_usd": cost_, "counterfactual_usd": counterfactual,
        "escalations_within_sla": within, "escalations_breached_sla": breached, "escalations_open": still_open,
        "confidence_bins": [f"{i / CONFIDENCE_BINS:.1f}-{(i + 1) / CONFIDENCE_BINS:.1f}"
                            for i in range(CONFIDENCE_BINS)],
        "confidence_counts": bins,
        "csat_average": [round(s / n, 3) if n else None for s, n in zip(csat_sum, csat_n)],
        "csat_count": csat_n,
    }


async def channels(engine: AsyncEngine) -> list[str]:
    rows = await _rows(engine, "SELECT DISTINCT channel FROM v_conversation_summary ORDER BY channel", {})
    return [r["channel"] for r in rows if r["channel"]]
