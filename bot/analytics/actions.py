"""The report's actions section: what the bot did on the shop's data (action_calls), per action and
status, and how many conversations an action resolved (a call answered ok and the conversation
resolved, hard or soft, in v_resolutions)."""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.analytics.sql import Filters, _rate, _rows, _where


class ActionFigures(TypedDict):
    action: str
    calls: int
    ok: int
    not_found: int
    rejected: int
    failed: int
    mean_latency_ms: float | None
    conversations_resolved: int  # conversations where this action answered ok and which ended resolved
    approved: int  # calls an agent approved (a refund over the limit: bot/handoff/approvals.py)


class ActionsSection(TypedDict):
    calls: int
    ok_rate: float | None
    by_action: list[ActionFigures]


async def actions(engine: AsyncEngine, f: Filters) -> ActionsSection:
    where, params = _where(f, prefix="v.")
    rows = await _rows(engine, f"""
        SELECT a.action, a.status, count(*) AS calls, avg(a.latency_ms) AS latency,
               sum(CASE WHEN a.approved_by IS NULL THEN 0 ELSE 1 END) AS approved
        FROM action_calls a JOIN v_messages v ON v.message_id = a.message_id{where}
        GROUP BY a.action, a.status""", params)
    resolved = await _rows(engine, f"""
        SELECT a.action, count(DISTINCT a.conversation_id) AS n
        FROM action_calls a JOIN v_messages v ON v.message_id = a.message_id
             JOIN v_resolutions r ON r.conversation_id = a.conversation_id
        {where + " AND" if where else " WHERE"} a.status = 'ok' AND r.status IN ('hard', 'soft')
        GROUP BY a.action""", params)
    done = {r["action"]: int(r["n"]) for r in resolved}
    counts: dict[str, dict[str, int]] = {}
    latency: dict[str, float] = {}  # the sum of latencies, to average over every call of the action
    approved: dict[str, int] = {}
    for r in rows:
        n = int(r["calls"])
        approved[r["action"]] = approved.get(r["action"], 0) + int(r["approved"] or 0)
        by_status = counts.setdefault(r["action"], {})
        by_status[r["status"]] = by_status.get(r["status"], 0) + n
        latency[r["action"]] = latency.get(r["action"], 0.0) + float(r["latency"] or 0.0) * n
    figures: list[ActionFigures] = []
    for name in sorted(counts):
        c, total = counts[name], sum(counts[name].values())
        figures.append({"action": name, "calls": total, "ok": c.get("ok", 0), "not_found": c.get("not_found", 0),
                        "rejected": c.get("rejected", 0), "failed": c.get("failed", 0),
                        "mean_latency_ms": round(latency[name] / total, 1) if total else None,
                        "conversations_resolved": done.get(name, 0), "approved": approved.get(name, 0)})
    calls = sum(a["calls"] for a in figures)
    return {"calls": calls, "ok_rate": _rate(sum(a["ok"] for a in figures), calls), "by_action": figures}
