"""`supportbot report` output: the dict of bot.analytics.figures.report as rich tables, CSV or JSON.

CSV is long-form, one figure per line, so a spreadsheet can pivot it:
    section,key,metric,value
    conversations,,containment_rate,0.6
    route_mix,template,messages,4
"""

from __future__ import annotations

import csv
import io
import json
from typing import Iterator, Mapping

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bot.analytics.shapes import Report

FORMATS = ("table", "csv", "json")


def to_json(report: Report) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str)


def rows(report: Report) -> Iterator[tuple[str, str, str, object]]:
    """(section, key, metric, value) for every figure of the report."""
    v: object
    d: Mapping[str, object]
    for k, v in report["period"].items():
        yield "period", "", k, v
    conv: Mapping[str, object] = report["conversations"]
    for k in ("total", "contained", "containment_rate", "escalated", "escalation_rate", "customer_messages"):
        yield "conversations", "", k, conv[k]
    res = report["resolution"]
    res_: Mapping[str, object] = res
    for k in ("soft_window_hours", "conversations", "answered", "counted", "resolved", "resolution_rate", "hard_rate",
              "soft_rate", "more_help", "more_help_rate"):
        yield "resolution", "", k, res_[k]
    for status, n in res["by_status"].items():
        yield "resolution_by_status", status, "conversations", n
    yield "messages", "", "total", report["messages"]
    esc = report["escalations"]
    esc_: Mapping[str, object] = esc
    for k in ("total", "open", "sla_seconds", "sla_breached", "sla_met"):
        yield "escalations", "", k, esc_[k]
    for stat in ("wait_to_claim_s", "time_to_resolve_s"):
        for k, v in esc[stat].items():
            yield "escalations", stat, k, v
    for reason, d in esc["by_reason"].items():
        for k, v in d.items():
            yield "escalations_by_reason", reason, k, v
    for route, d in report["route_mix"].items():
        for k, v in d.items():
            yield "route_mix", route, k, v
    for m in report["cost"]["by_model"]:
        m_: Mapping[str, object] = m
        for k in ("calls", "ok", "failures", "blocked", "tokens_in", "tokens_out", "cost_usd"):
            yield "cost_by_model", f"{m['tier']}/{m['model']}", k, m_[k]
    for tier, v in report["cost"]["by_tier"].items():
        yield "cost_by_tier", tier, "cost_usd", v
    yield "cost", "", "total_usd", report["cost"]["total_usd"]
    for k, v in report["savings"].items():
        yield "savings", "", k, v
    for stage, d in report["latency_ms"].items():
        for k, v in d.items():
            yield "latency_ms", stage, k, v
    for k, v in report["csat"].items():
        yield "csat", "", k, v
    for kind, n in report["guardrails"].items():
        yield "guardrails", kind, "events", n
    for i, u in enumerate(report["unhandled"], 1):
        yield "unhandled", str(i), "text", u["text"]
        yield "unhandled", str(i), "count", u["count"]
    yield "actions", "", "calls", report["actions"]["calls"]
    yield "actions", "", "ok_rate", report["actions"]["ok_rate"]
    for a in report["actions"]["by_action"]:
        figures: dict[str, object] = {"calls": a["calls"], "ok": a["ok"], "not_found": a["not_found"],
                                      "rejected": a["rejected"], "failed": a["failed"],
                                      "mean_latency_ms": a["mean_latency_ms"],
                                      "conversations_resolved": a["conversations_resolved"],
                                      "approved": a["approved"]}
        for k, v in figures.items():
            yield "actions", a["action"], k, v


def to_csv(report: Report) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("section", "key", "metric", "value"))
    for section, key, metric, value in rows(report):
        w.writerow((section, key, metric, "" if value is None else value))
    return buf.getvalue()


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _num(v: object, digits: int = 2) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}" if isinstance(v, float) else str(v)


def _usd(v: float | None) -> str:
    return "-" if v is None else f"${v:,.4f}"


def _table(title: str, *columns: str, names: tuple[str, ...] | None = None, show_header: bool = True) -> Table:
    """A report table: the `names` columns (default: the first) left-aligned, the figures right-aligned."""
    t = Table(title=title, show_header=show_header)
    for c in columns:
        t.add_column(c, justify="left" if c in (names or columns[:1]) else "right")
    return t


def render_table(report: Report, console: Console) -> None:
    p, conv, esc = report["period"], report["conversations"], report["escalations"]
    period = f"{p['since'] or 'start'} .. {p['until'] or 'now'}" + (f", channel {p['channel']}" if p["channel"] else "")
    head = _table(f"supportbot report ({period})", "figure", "value", show_header=False)
    head.add_row("conversations", str(conv["total"]))
    head.add_row("containment rate (no human)", _pct(conv["containment_rate"]))
    res = report["resolution"]
    window = f"{res['soft_window_hours']:g} h"
    head.add_row("resolution rate (hard + soft)",
                 f"{_pct(res['resolution_rate'])} of {res['counted']} answered by the bot")
    head.add_row("  hard (customer confirmed)", _pct(res["hard_rate"]))
    head.add_row(f"  soft (no further request in {window})", _pct(res["soft_rate"]))
    head.add_row("more-help rate", _pct(res["more_help_rate"]))
    head.add_row(f"pending (answered < {window} ago)", str(res["by_status"]["pending"]))
    head.add_row("escalation rate", _pct(conv["escalation_rate"]))
    head.add_row("customer messages handled", str(report["messages"]))
    s = report["savings"]
    head.add_row("cost (actual)", _usd(s["actual_usd"]))
    head.add_row("cost if always strong", _usd(s["counterfactual_usd"]))
    head.add_row("saved (resolved conversations)",
                 f"{_usd(s['saved_usd'])} ({'-' if s['saved_pct'] is None else str(s['saved_pct']) + '%'})")
    head.add_row("saved if every contained answer was right",
                 f"{_usd(s['saved_if_all_right_usd'])} "
                 f"({'-' if s['saved_if_all_right_pct'] is None else str(s['saved_if_all_right_pct']) + '%'})")
    head.add_row("CSAT", f"{_num(report['csat']['average'])} from {report['csat']['count']} ratings")
    head.add_row("escalations / SLA breached", f"{esc['total']} / {esc['sla_breached']} (SLA {esc['sla_seconds']:g}s)")
    console.print(head)

    t = _table(f"resolution by status ({window} window)", "status", "conversations")
    for status, n in res["by_status"].items():
        t.add_row(status, str(n))
    console.print(t)

    t = _table("escalations by reason", "reason", "count", "share", "per conversation")
    for reason, d in esc["by_reason"].items():
        t.add_row(reason, str(d["count"]), _pct(d["share"]), _pct(d["rate"]))
    console.print(t)

    t = _table("route mix (messages)", "route", "messages", "share", "degraded")
    for route, mix in report["route_mix"].items():
        t.add_row(route, str(mix["messages"]), _pct(mix["share"]), str(mix["degraded"]))
    console.print(t)

    t = _table(f"cost by model and tier (total {_usd(report['cost']['total_usd'])})", "tier", "model", "calls",
               "ok", "failures", "blocked", "tokens in", "tokens out", "cost", names=("tier", "model"))
    for m in report["cost"]["by_model"]:
        t.add_row(m["tier"], m["model"], str(m["calls"]), str(m["ok"]), str(m["failures"]), str(m["blocked"]),
                  f"{m['tokens_in']:,}", f"{m['tokens_out']:,}", _usd(m["cost_usd"]))
    if not report["cost"]["by_model"]:
        t.add_row("-", "no LLM calls in this period", *["-"] * 7)
    console.print(t)

    t = _table("latency (ms)", "stage", "count", "p50", "p95", "p99")
    for stage, lat in report["latency_ms"].items():
        t.add_row(stage, str(lat["count"]), _num(lat["p50"]), _num(lat["p95"]), _num(lat["p99"]))
    console.print(t)

    if report["guardrails"]:
        t = _table("guardrail events", "kind", "events")
        for kind, n in report["guardrails"].items():
            t.add_row(kind, str(n))
        console.print(t)

    if report["actions"]["by_action"]:
        t = _table("actions (calls to the shop's API)", "action", "calls", "ok", "not found", "rejected", "failed",
                   "approved", "mean ms", "resolved conversations")
        for a in report["actions"]["by_action"]:
            t.add_row(a["action"], str(a["calls"]), str(a["ok"]), str(a["not_found"]), str(a["rejected"]),
                      str(a["failed"]), str(a["approved"]), _num(a["mean_latency_ms"], 0),
                      str(a["conversations_resolved"]))
        console.print(t)

    t = _table("top unhandled / out-of-scope messages", "count", "message", "intent", "route",
               names=("message", "intent", "route"))
    for u in report["unhandled"]:
        t.add_row(str(u["count"]), Text(u["text"]), u["intent"] or "-", u["route"] or "-")  # text, not markup
    console.print(t)
