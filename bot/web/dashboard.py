"""/dashboard: the report's figures over time, for agents and operators (server-side SVG charts).

Resolution (hard: the customer confirmed; soft: no further request within
resolution.soft_window_hours) is shown beside containment, and savings count resolved
conversations only, with the every-answer figure next to them (bot/analytics/figures.py).

GET /dashboard?since=YYYY-MM-DD&until=YYYY-MM-DD&channel=NAME   the page (default: the last 30 days)
GET /dashboard/data?...                                          the same figures as JSON
Both need an agent login (bot.web.auth.require_agent). The page loads nothing from elsewhere.
"""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web

from bot.analytics import figures as analytics
from bot.pipeline.guardrails import mask_for_agents
from bot.messages import utcnow
from bot.web import charts
from bot.web.auth import AGENT, Agent, require_agent
from bot.web.keys import SERVICE
from bot.web.render import render

DEFAULT_DAYS = 30


def _filters(request: web.Request) -> analytics.Filters:
    q = request.query
    today = utcnow().date()
    try:
        since = analytics.parse_day(q["since"], today) if q.get("since") else today - timedelta(days=DEFAULT_DAYS - 1)
        until = analytics.parse_day(q["until"], today) if q.get("until") else today
    except ValueError as e:
        raise web.HTTPBadRequest(text=str(e)) from None
    if since > until:
        raise web.HTTPBadRequest(text="since is after until")
    return analytics.Filters(since=since, until=until, channel=q.get("channel") or None)


async def _figures(request: web.Request, f: analytics.Filters) -> tuple[analytics.Report, analytics.Daily]:
    app = request.app[SERVICE].app
    sla, window = app.settings.handoff.sla_seconds, app.settings.resolution.soft_window_hours
    return (await analytics.report(app.engine, f, sla_seconds=sla, soft_window_hours=window),
            await analytics.daily(app.engine, f, sla_seconds=sla, soft_window_hours=window))


def _usd(v: float) -> str:
    return f"${v:,.4f}" if v < 100 else f"${v:,.0f}"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def render_charts(series: analytics.Daily) -> dict[str, str]:
    days = series["days"]
    return {
        "routes": charts.bar_chart("routes", "Conversations per day by final route", days,
                             series["conversations_by_route"], y_label="conversations"),
        "resolution": charts.line_chart("resolution", "Containment vs resolution per day (hard + soft)", days,
                                  {"containment": series["containment_rate"],
                                   "resolution": series["resolution_rate"], "hard": series["hard_rate"],
                                   "more help": series["more_help_rate"]},
                                  y_label="share of conversations", y_max=1.0, ticks=4,
                                  y_fmt=lambda v: f"{100 * v:.0f}%"),
        "resolutions": charts.bar_chart("resolutions", "Conversations per day by resolution status", days,
                                  {k: v for k, v in series["resolutions_by_status"].items() if any(v)},
                                  y_label="conversations"),
        "cost": charts.line_chart("cost", "Cost vs always-strong counterfactual per day (USD)", days,
                            {"actual": series["cost_usd"], "always strong": series["counterfactual_usd"]},
                            y_label="USD", y_fmt=lambda v: f"${v:.4g}" if v else "0"),
        "savings": charts.line_chart("savings", "Saved per day (USD): resolved conversations vs every answer",
                               days, {"saved (resolved)": series["saved_usd"],
                                      "if every contained answer was right": series["saved_if_all_right_usd"]},
                               y_label="USD", y_fmt=lambda v: f"${v:.4g}" if v else "0"),
        "escalations": charts.bar_chart("escalations", "Escalations per day and SLA", days,
                                  {"within SLA": series["escalations_within_sla"],
                                   "SLA breached": series["escalations_breached_sla"]},
                                  y_label="escalations"),
        "confidence": charts.bar_chart("confidence", "Classifier confidence (messages)", series["confidence_bins"],
                                 {"messages": series["confidence_counts"]}, y_label="messages"),
        "csat": charts.line_chart("csat", "CSAT: average rating per day (1-5)", days,
                            {"CSAT": series["csat_average"]}, y_label="rating", y_max=5.0, ticks=5),
    }




def render_page(report: analytics.Report, series: analytics.Daily, f: analytics.Filters, channels: list[str], agent: Agent | None,
                query: str, show_payment_details: bool = False) -> str:
    """The page; customer text (the top unhandled messages) with cards, IBANs and passwords masked,
    unless handoff.show_payment_details_to_agents."""
    mask = (lambda text: text) if show_payment_details else mask_for_agents
    conv, esc, s, res = report["conversations"], report["escalations"], report["savings"], report["resolution"]
    window = f"{res['soft_window_hours']:g} h"
    cards = [
        ("conversations", str(conv["total"])),
        ("containment (no human)", _pct(conv["containment_rate"])),
        ("resolution (hard + soft)", _pct(res["resolution_rate"])),
        (f"hard / soft (soft: quiet {window})", f"{_pct(res['hard_rate'])} / {_pct(res['soft_rate'])}"),
        ("asked for more help", _pct(res["more_help_rate"])),
        (f"pending (inside {window})", str(res["by_status"]["pending"])),
        ("escalations / SLA breached", f"{esc['total']} / {esc['sla_breached']}"),
        ("cost", _usd(s["actual_usd"])),
        ("if always strong", _usd(s["counterfactual_usd"])),
        ("saved (resolved conversations)",
         f"{_usd(s['saved_usd'])}" + ("" if s["saved_pct"] is None else f" ({s['saved_pct']:.1f}%)")),
        ("saved if every contained answer was right",
         f"{_usd(s['saved_if_all_right_usd'])}"
         + ("" if s["saved_if_all_right_pct"] is None else f" ({s['saved_if_all_right_pct']:.1f}%)")),
        ("action calls (ok)", f"{report['actions']['calls']} ({_pct(report['actions']['ok_rate'])})"),
        ("CSAT", "-" if report["csat"]["average"] is None
         else f"{report['csat']['average']:.2f} ({report['csat']['count']})"),
    ]
    options = [("", "all channels")] + [(c, c) for c in channels]
    if f.channel and f.channel not in channels:
        options.append((f.channel, f.channel))
    lat = report["latency_ms"]
    tables = [
        ("Cost by model", ["tier / model", "calls", "failures", "tokens in", "tokens out", "cost"],
         [[f"{m['tier']} / {m['model']}", m["calls"], m["failures"], m["tokens_in"], m["tokens_out"],
           _usd(m["cost_usd"])] for m in report["cost"]["by_model"]]),
        ("Escalations by reason", ["reason", "count", "share"],
         [[k, d["count"], _pct(d["share"])] for k, d in esc["by_reason"].items()]),
        ("Latency (ms)", ["stage", "count", "p50", "p95", "p99"],
         [[k, d["count"], d["p50"] if d["p50"] is not None else "-", d["p95"] if d["p95"] is not None else "-",
           d["p99"] if d["p99"] is not None else "-"] for k, d in lat.items()]),
        ("Resolution by status (conversations)", ["status", "conversations"],
         [[k, n] for k, n in res["by_status"].items()]),
        ("Actions (calls to the shop's API)", ["action", "calls", "ok", "not found", "rejected", "failed",
                                               "approved by an agent", "mean ms", "resolved conversations"],
         [[a["action"], a["calls"], a["ok"], a["not_found"], a["rejected"], a["failed"], a["approved"],
           "-" if a["mean_latency_ms"] is None else a["mean_latency_ms"], a["conversations_resolved"]]
          for a in report["actions"]["by_action"]]),
        ("Route mix (messages)", ["route", "messages", "share"],
         [[k, d["messages"], _pct(d["share"])] for k, d in report["route_mix"].items()]),
        ("Top unhandled messages", ["message", "count", "intent"],
         [[mask(u["text"])[:80], u["count"], u["intent"] or "-"] for u in report["unhandled"]]),
    ]
    return render("dashboard.html", agent=agent, since=f.since.isoformat() if f.since else "",
            until=f.until.isoformat() if f.until else "", channel_options=options, channel=f.channel or "",
            query=query, cards=cards, charts=render_charts(series), tables=tables)


@require_agent
async def dashboard(request: web.Request) -> web.Response:
    f = _filters(request)
    report, series = await _figures(request, f)
    channels = await analytics.channels(request.app[SERVICE].app.engine)
    page = render_page(report, series, f, channels, request.get(AGENT), request.query_string,
                       request.app[SERVICE].app.settings.handoff.show_payment_details_to_agents)
    return web.Response(text=page, content_type="text/html",
                  headers={"Cache-Control": "no-store", "Content-Security-Policy":
                           "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                           "form-action 'self'; frame-ancestors 'none'"})


@require_agent
async def dashboard_data(request: web.Request) -> web.Response:
    f = _filters(request)
    report, series = await _figures(request, f)
    return web.json_response({"report": report, "daily": series}, dumps=_dumps)


def _dumps(obj: object) -> str:
    import json

    return json.dumps(obj, default=lambda o: o.isoformat() if isinstance(o, date) else str(o))


def mount(app: web.Application) -> None:
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/dashboard/data", dashboard_data)
