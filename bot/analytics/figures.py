"""The report's figures, read from the analyst views (migrations/versions/0002, docs/analytics.md).

Every function takes an async engine and `Filters` (UTC days, inclusive, and a channel) and
returns plain dicts and lists, so the same figures feed `supportbot report` (table, CSV, JSON)
and the dashboard. Percentiles are computed here, in Python, with the same linear
interpolation as PostgreSQL's percentile_cont (SQLite has none).

What the figures mean:
- containment rate: conversations (started in the period) with no escalation / all of them;
- escalation rate by reason: escalations (created in the period) per conversation, by reason_kind;
- route mix: handled customer messages by the route that answered them;
- resolution (v_resolutions, migrations/versions/0005): per conversation hard (the customer
  pressed "That helped", no more_help or escalation after it), soft (the bot answered and no
  further customer message came within `soft_window_hours` of its last answer, no escalation,
  no more_help), pending (inside the window), unresolved, escalated, more_help_then_escalated,
  no_answer. Resolution rate = (hard + soft) / conversations the bot answered that are not
  pending (a hard one counts at once, inside the window too); the view fixes the window at
  24 h, the report applies the configured one (RESOLUTION_STATUS);
- savings: counterfactual (every message on the strong tier) minus actual, from route_decisions,
  over the messages of resolved (hard or soft) conversations only; the same over every message
  is kept as saved_if_all_right_usd ("saved if every contained answer was right");
- latency: classify (classifications), LLM call (model_calls with outcome ok), end to end
  (route_decisions: the worker's time for one message);
- unhandled: messages classified out_of_scope, or escalated for low confidence, out of scope
  or because the route could not be served (v_messages.unhandled).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.analytics.actions import actions
from bot.analytics.shapes import Daily as Daily  # re-exported: the dashboard reads them from here
from bot.analytics.shapes import Report as Report
from bot.analytics.shapes import (
    ConversationFigures, CostFigures, EscalationFigures, ModelCost, ReasonFigures, ResolutionFigures, RouteFigures,
    SavingsFigures, Stats, Unhandled, _Group,
)
from bot.analytics.sql import PERCENTILES as PERCENTILES  # re-exported: part of this module's API
from bot.analytics.sql import SINCE_FORMS as SINCE_FORMS
from bot.analytics.sql import Filters as Filters
from bot.analytics.sql import parse_day as parse_day
from bot.analytics.sql import parse_since as parse_since
from bot.analytics.sql import percentile as percentile
from bot.analytics.sql import _day, _rate, _rows, _stats, _usd, _where

ROUTES = ("template", "knowledge", "action", "clarify", "cheap_llm", "strong_llm", "human")
BOT_ROUTES = ROUTES[:-1]  # kept by the bot: contained (resolution is measured on answers: v_resolutions)
STATUSES = ("hard", "soft", "pending", "unresolved", "more_help_then_escalated", "escalated", "no_answer")
RESOLVED = ("hard", "soft")
DEFAULT_SOFT_WINDOW_HOURS = 24.0  # resolution.soft_window_hours' default (and the view's fixed window)

# v_resolutions.status, with the window as a parameter (:window_s) instead of the view's fixed 24 h
RESOLUTION_STATUS = """CASE WHEN hard = 1 THEN 'hard'
            WHEN more_help_then_escalated = 1 THEN 'more_help_then_escalated'
            WHEN escalated = 1 THEN 'escalated'
            WHEN bot_answers = 0 THEN 'no_answer'
            WHEN answer_age_s < :window_s THEN 'pending'
            WHEN more_help > 0 OR next_customer_message_s <= :window_s THEN 'unresolved'
            ELSE 'soft' END"""


# --- the sections of the report -------------------------------------------------------------

async def conversations(engine: AsyncEngine, f: Filters) -> ConversationFigures:
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


async def escalations(engine: AsyncEngine, f: Filters, conversations_total: int, sla_seconds: float) -> EscalationFigures:
    where, params = _where(f)
    rows = await _rows(engine, f"""
        SELECT reason_kind, status, wait_to_claim_s, time_to_resolve_s, waiting_s
        FROM v_escalations{where}""", params)
    by_reason: dict[str, ReasonFigures] = {}
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


async def route_mix(engine: AsyncEngine, f: Filters) -> dict[str, RouteFigures]:
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


async def cost(engine: AsyncEngine, f: Filters) -> CostFigures:
    where, params = _where(f)
    rows = await _rows(engine, f"""
        SELECT model, tier, sum(calls) AS calls, sum(ok_calls) AS ok_calls, sum(failures) AS failures,
               sum(blocked) AS blocked, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,
               sum(cost_usd) AS cost_usd
        FROM v_daily_cost{where} GROUP BY model, tier ORDER BY tier, model""", params)
    by_model: list[ModelCost] = [{"model": r["model"], "tier": r["tier"], "calls": int(r["calls"]), "ok": int(r["ok_calls"]),
                 "failures": int(r["failures"]), "blocked": int(r["blocked"]), "tokens_in": int(r["tokens_in"]),
                 "tokens_out": int(r["tokens_out"]), "cost_usd": _usd(r["cost_usd"])} for r in rows]
    by_tier: dict[str, float] = defaultdict(float)
    for r in rows:
        by_tier[r["tier"]] += float(r["cost_usd"] or 0.0)
    return {"by_model": by_model, "by_tier": {t: _usd(v) for t, v in sorted(by_tier.items())},
            "total_usd": _usd(sum(float(r["cost_usd"] or 0.0) for r in rows))}


def _window(f: Filters, soft_window_hours: float) -> tuple[str, dict[str, object]]:
    """v_resolutions with the status under the given window, filtered: (SQL of a subquery, params)."""
    where, params = _where(f)
    params["window_s"] = float(soft_window_hours) * 3600.0
    return (f"(SELECT conversation_id, day, channel, bot_answers, more_help, {RESOLUTION_STATUS} AS status "
            f"FROM v_resolutions{where})"), params


async def resolution(engine: AsyncEngine, f: Filters, soft_window_hours: float = DEFAULT_SOFT_WINDOW_HOURS) -> ResolutionFigures:
    """Hard and soft resolutions of the conversations started in the period (see the module doc)."""
    sub, params = _window(f, soft_window_hours)
    rows = await _rows(engine, f"""
        SELECT status, CASE WHEN bot_answers > 0 THEN 1 ELSE 0 END AS answered,
               CASE WHEN more_help > 0 THEN 1 ELSE 0 END AS asked_more, count(*) AS n
        FROM {sub} r GROUP BY status, CASE WHEN bot_answers > 0 THEN 1 ELSE 0 END,
                              CASE WHEN more_help > 0 THEN 1 ELSE 0 END""", params)
    by_status = dict.fromkeys(STATUSES, 0)
    answered = counted = more_help = 0
    for r in rows:
        n, status = int(r["n"]), r["status"]
        by_status[status] = by_status.get(status, 0) + n
        answered += n if int(r["answered"]) else 0
        if status == "hard" or (int(r["answered"]) and status != "pending"):
            counted += n
            more_help += n if int(r["asked_more"]) else 0
    resolved = by_status["hard"] + by_status["soft"]
    return {
        "soft_window_hours": float(soft_window_hours),
        "conversations": sum(by_status.values()), "answered": answered, "counted": counted,
        "by_status": by_status, "resolved": resolved,
        "resolution_rate": _rate(resolved, counted),
        "hard_rate": _rate(by_status["hard"], counted), "soft_rate": _rate(by_status["soft"], counted),
        "more_help": more_help, "more_help_rate": _rate(more_help, counted),
    }


def _saved(actual: float, counterfactual: float, of: float) -> tuple[float, float | None]:
    saved = counterfactual - actual
    return _usd(saved), (round(100.0 * saved / of, 2) if of else None)


async def savings(engine: AsyncEngine, f: Filters, soft_window_hours: float = DEFAULT_SOFT_WINDOW_HOURS) -> SavingsFigures:
    """Saved = always-strong counterfactual - actual, over the messages of resolved conversations
    (an answer that did not resolve saved nothing); saved_if_all_right_* is the same over every
    message, as if every contained answer had been right. Percentages are of the whole counterfactual."""
    where, params = _where(f)
    [row] = await _rows(engine, f"""
        SELECT COALESCE(sum(cost_usd), 0.0) AS actual, COALESCE(sum(counterfactual_usd), 0.0) AS counterfactual
        FROM v_messages{where}""", params)
    sub, rparams = _window(Filters(channel=f.channel), soft_window_hours)  # resolved, whenever it started
    mwhere, mparams = _where(f, ["r.status IN ('hard', 'soft')"], prefix="m.")
    [res] = await _rows(engine, f"""
        SELECT COALESCE(sum(m.cost_usd), 0.0) AS actual, COALESCE(sum(m.counterfactual_usd), 0.0) AS counterfactual
        FROM v_messages m JOIN {sub} r ON r.conversation_id = m.conversation_id{mwhere}""",
                        {**rparams, **mparams})
    actual, counterfactual = float(row["actual"]), float(row["counterfactual"])
    saved, saved_pct = _saved(float(res["actual"]), float(res["counterfactual"]), counterfactual)
    all_saved, all_pct = _saved(actual, counterfactual, counterfactual)
    return {"actual_usd": _usd(actual), "counterfactual_usd": _usd(counterfactual),
            "saved_usd": saved, "saved_pct": saved_pct,
            "resolved_actual_usd": _usd(res["actual"]), "resolved_counterfactual_usd": _usd(res["counterfactual"]),
            "saved_if_all_right_usd": all_saved, "saved_if_all_right_pct": all_pct}


async def latency(engine: AsyncEngine, f: Filters) -> dict[str, Stats]:
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


async def unhandled(engine: AsyncEngine, f: Filters, top: int = 10) -> list[Unhandled]:
    where, params = _where(f, ["unhandled = 1"])
    rows = await _rows(engine, f"""
        SELECT message_id, text, intent, route, escalation_reason FROM v_messages{where}
        ORDER BY message_id""", params)
    groups: dict[str, _Group] = {}
    for r in rows:
        key = _normalise(r["text"] or "")
        g = groups.setdefault(key, {"text": " ".join((r["text"] or "").split())[:200], "count": 0, "last_id": 0,
                                    "intent": None, "route": None, "reason": None})
        g["count"] += 1
        g["last_id"], g["intent"], g["route"] = r["message_id"], r["intent"], r["route"]
        g["reason"] = r["escalation_reason"]
    ranked = sorted(groups.values(), key=lambda g: (-g["count"], -g["last_id"]))[:top]
    return [{"text": g["text"], "count": g["count"], "intent": g["intent"], "route": g["route"], "reason": g["reason"]}
            for g in ranked]


async def guardrails(engine: AsyncEngine, f: Filters) -> dict[str, int]:
    where, params = _where(f)
    rows = await _rows(engine, f"SELECT kind, sum(events) AS events FROM v_guardrail_events{where} GROUP BY kind",
                       params)
    return {r["kind"]: int(r["events"]) for r in sorted(rows, key=lambda r: r["kind"])}


async def report(engine: AsyncEngine, f: Filters = Filters(), *, sla_seconds: float = 300, top: int = 10,
                 soft_window_hours: float = DEFAULT_SOFT_WINDOW_HOURS) -> Report:
    """Every figure of `supportbot report`, as one JSON-ready dict."""
    conv = await conversations(engine, f)
    mix = await route_mix(engine, f)
    return {
        "period": f.as_dict(),
        "conversations": conv,
        "resolution": await resolution(engine, f, soft_window_hours),
        "messages": sum(r["messages"] for r in mix.values()),
        "escalations": await escalations(engine, f, conv["total"], sla_seconds),
        "route_mix": mix,
        "cost": await cost(engine, f),
        "savings": await savings(engine, f, soft_window_hours),
        "latency_ms": await latency(engine, f),
        "csat": conv["csat"],
        "guardrails": await guardrails(engine, f),
        "unhandled": await unhandled(engine, f, top),
        "actions": await actions(engine, f),
    }


# --- series for the dashboard ---------------------------------------------------------------

CONFIDENCE_BINS = 10


async def daily(engine: AsyncEngine, f: Filters, *, sla_seconds: float = 300,
                soft_window_hours: float = DEFAULT_SOFT_WINDOW_HOURS) -> Daily:
    """Per-day series (and the confidence histogram) over the filtered period."""
    where, params = _where(f)
    conv = await _rows(engine, f"""
        SELECT day, final_route, count(*) AS n, sum(contained) AS contained,
               sum(csat * csat_count) AS csat_sum, sum(csat_count) AS csat_count
        FROM v_conversation_summary{where} GROUP BY day, final_route""", params)
    money = await _rows(engine, f"""
        SELECT day, sum(cost_usd) AS cost, sum(counterfactual_usd) AS counterfactual
        FROM v_messages{where} GROUP BY day""", params)
    sub, rparams = _window(Filters(channel=f.channel), soft_window_hours)
    mwhere, mparams = _where(f, ["r.status IN ('hard', 'soft')"], prefix="m.")
    resolved_money = await _rows(engine, f"""
        SELECT m.day AS day, sum(m.cost_usd) AS cost, sum(m.counterfactual_usd) AS counterfactual
        FROM v_messages m JOIN {sub} r ON r.conversation_id = m.conversation_id{mwhere} GROUP BY m.day""",
                                 {**rparams, **mparams})
    sub_f, fparams = _window(f, soft_window_hours)
    res = await _rows(engine, f"""
        SELECT day, status, CASE WHEN bot_answers > 0 THEN 1 ELSE 0 END AS answered,
               CASE WHEN more_help > 0 THEN 1 ELSE 0 END AS asked_more, count(*) AS n
        FROM {sub_f} r GROUP BY day, status, CASE WHEN bot_answers > 0 THEN 1 ELSE 0 END,
                                   CASE WHEN more_help > 0 THEN 1 ELSE 0 END""", fparams)
    esc = await _rows(engine, f"SELECT day, status, waiting_s FROM v_escalations{where}", params)
    conf = await _rows(engine, f"SELECT confidence FROM v_messages{where}", params)

    days = sorted({_day(r["day"]) for r in conv + money + esc + res})
    if f.since and f.until and (f.until - f.since).days <= 366:  # every day of the range, zero when quiet
        days = sorted(set(days) | {(f.since + timedelta(days=i)).isoformat()
                                   for i in range((f.until - f.since).days + 1)})
    routes_seen = sorted({r["final_route"] or "none" for r in conv},
                         key=lambda r: (ROUTES.index(r) if r in ROUTES else 99, r))
    by_route = {r: [0] * len(days) for r in routes_seen}
    csat_sum, csat_n = [0.0] * len(days), [0] * len(days)
    total, contained = [0] * len(days), [0] * len(days)
    index = {d: i for i, d in enumerate(days)}
    for r in conv:
        i = index[_day(r["day"])]
        by_route[r["final_route"] or "none"][i] += int(r["n"])
        total[i] += int(r["n"])
        contained[i] += int(r["contained"] or 0)
        csat_sum[i] += float(r["csat_sum"] or 0.0)
        csat_n[i] += int(r["csat_count"] or 0)
    cost_, counterfactual = [0.0] * len(days), [0.0] * len(days)
    for r in money:
        i = index[_day(r["day"])]
        cost_[i], counterfactual[i] = _usd(r["cost"]), _usd(r["counterfactual"])
    saved = [0.0] * len(days)
    for r in resolved_money:
        if _day(r["day"]) in index:
            saved[index[_day(r["day"])]] = _usd(float(r["counterfactual"] or 0) - float(r["cost"] or 0))
    by_status = {st: [0] * len(days) for st in STATUSES}
    counted, asked_more = [0] * len(days), [0] * len(days)
    for r in res:
        i, n = index[_day(r["day"])], int(r["n"])
        by_status.setdefault(r["status"], [0] * len(days))[i] += n
        if r["status"] == "hard" or (int(r["answered"]) and r["status"] != "pending"):
            counted[i] += n
            asked_more[i] += n if int(r["asked_more"]) else 0
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
        "containment_rate": [_rate(c, t) for c, t in zip(contained, total)],
        "resolution_rate": [_rate(h + s_, n) for h, s_, n in zip(by_status["hard"], by_status["soft"], counted)],
        "hard_rate": [_rate(h, n) for h, n in zip(by_status["hard"], counted)],
        "soft_rate": [_rate(s_, n) for s_, n in zip(by_status["soft"], counted)],
        "more_help_rate": [_rate(m_, n) for m_, n in zip(asked_more, counted)],
        "resolutions_by_status": by_status,
        "cost_usd": cost_, "counterfactual_usd": counterfactual,
        "saved_usd": saved,
        "saved_if_all_right_usd": [_usd(c - a) for a, c in zip(cost_, counterfactual)],
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
