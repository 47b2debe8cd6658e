"""The analyst views and `supportbot report` (table, CSV, JSON) against a hand-counted database.

The database is tests/analytics_data.py (its docstring has the table the numbers below are
counted from); it is built on SQLite and on PostgreSQL through the `db_url` fixture.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from bot.analytics import figures as analytics
from bot.analytics.figures import Filters
from bot.messages import utcnow
from bot.cli.main import app as cli
from bot.db.engine import make_engine
from tests.analytics_data import (D1, D2, D3, RESOLUTION_STATUS_24H, RESOLUTION_STATUS_48H, build,
                                  build_resolutions)
from tests.conftest import EXAMPLE_CONFIG, ROOT

approx = pytest.approx


@pytest.fixture
def fixture_db(db_url):
    asyncio.run(build(db_url))
    return db_url


async def view(url: str, sql: str) -> list[dict]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(sql))).mappings().all()
        return [{k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()} for r in rows]
    finally:
        await engine.dispose()


def by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


# --- the views --------------------------------------------------------------------------------

async def test_views_give_the_hand_counted_figures(fixture_db):
    pg = fixture_db.startswith("postgresql")

    conv = await view(fixture_db, "SELECT * FROM v_conversation_summary ORDER BY conversation_id")
    assert len(conv) == 6
    assert [c["channel"] for c in conv] == ["telegram", "telegram", "telegram", "slack", "slack", "telegram"]
    assert [c["customer"] for c in conv] == ["ann", "bob", "ann", "s-cat", "s-cat", "bob"]
    assert [c["day"] for c in conv] == [D1, D1, D2, D2, D3, D3]
    assert [c["turns"] for c in conv] == [2, 1, 1, 1, 2, 2]
    assert [c["intents"] for c in conv] == ["greeting,order_status", "product_comparison", "out_of_scope",
                                            "talk_to_human", "out_of_scope", "order_status,out_of_scope"]
    assert [c["final_route"] for c in conv] == ["template", "strong_llm", "human", "human", "human", "cheap_llm"]
    assert [c["escalated"] for c in conv] == [0, 0, 1, 1, 1, 0]
    assert [c["contained"] for c in conv] == [1, 1, 0, 0, 0, 1]
    assert [c["resolved_by"] for c in conv] == ["bot", None, "agent", "agent", None, None]
    assert [c["csat"] for c in conv] == [5.0, 4.0, 2.0, None, None, None]
    assert [c["csat_count"] for c in conv] == [1, 1, 1, 0, 0, 0]
    assert [c["cost_usd"] for c in conv] == approx([0, 0.020, 0.001, 0, 0, 0.0005])
    assert [c["counterfactual_usd"] for c in conv] == approx([0.015, 0.020, 0.008, 0.004, 0.006, 0.019])
    assert conv[0]["ended_at"] is not None and conv[1]["ended_at"] is None

    cost = by(await view(fixture_db, "SELECT * FROM v_daily_cost"), "day", "model")
    assert set(cost) == {(D1, "big"), (D2, "small"), (D3, "small"), (D3, "big")}
    d2 = cost[(D2, "small")]
    assert (d2["channel"], d2["tier"], d2["calls"], d2["ok_calls"], d2["failures"], d2["blocked"]) == (
        "telegram", "cheap", 2, 1, 1, 0)
    assert (d2["tokens_in"], d2["tokens_out"], d2["cost_usd"]) == (300, 20, approx(0.001))
    assert (cost[(D3, "big")]["calls"], cost[(D3, "big")]["blocked"], cost[(D3, "big")]["cost_usd"]) == (1, 1, 0)
    assert cost[(D1, "big")]["avg_latency_ms"] == approx(1100)
    if pg:  # percentile_cont over ok calls; NULL where there are none
        assert (d2["p50_latency_ms"], cost[(D1, "big")]["p95_latency_ms"]) == (approx(150), approx(1100))
        assert cost[(D3, "big")]["p50_latency_ms"] is None
    else:  # SQLite has no percentile_cont: the report computes percentiles
        assert all(r["p50_latency_ms"] is None and r["p95_latency_ms"] is None for r in cost.values())

    intents = by(await view(fixture_db, "SELECT * FROM v_intent_stats"), "intent")
    assert set(intents) == {"order_status", "greeting", "product_comparison", "out_of_scope", "talk_to_human"}
    oos = intents["out_of_scope"]
    assert (oos["messages"], oos["mean_confidence"]) == (3, approx(0.15))
    assert (oos["human_share"], oos["cheap_llm_share"], oos["template_share"]) == (approx(2 / 3), approx(1 / 3), 0)
    assert (oos["escalations"], oos["escalation_rate"], oos["csat"], oos["csat_count"]) == (
        2, approx(2 / 3), approx(2.0), 1)
    order = intents["order_status"]
    assert (order["messages"], order["mean_confidence"], order["template_share"]) == (2, approx(0.945), 1.0)
    assert (order["escalations"], order["escalation_rate"], order["csat"], order["csat_count"]) == (0, 0, 5.0, 1)
    assert (intents["talk_to_human"]["human_share"], intents["talk_to_human"]["escalation_rate"]) == (1.0, 1.0)
    assert intents["talk_to_human"]["csat"] is None and intents["product_comparison"]["csat"] == 4.0

    esc = await view(fixture_db, "SELECT * FROM v_escalations ORDER BY escalation_id")
    assert [e["reason_kind"] for e in esc] == ["degraded", "asked", "out_of_scope"]
    assert [e["channel"] for e in esc] == ["telegram", "slack", "slack"]
    assert [e["agent"] for e in esc] == ["dana", "dana", None]
    assert [e["wait_to_claim_s"] for e in esc] == [approx(120, abs=0.01), approx(900, abs=0.01), None]
    assert [e["first_response_s"] for e in esc] == [approx(180, abs=0.01), None, None]
    assert [e["time_to_resolve_s"] for e in esc] == [approx(600, abs=0.01), approx(1500, abs=0.01), None]
    assert [e["sla_breached"] for e in esc] == [0, 1, 1]  # the open one has waited since 2024
    assert esc[2]["waiting_s"] > 300 and [e["sla_seconds"] for e in esc] == [300] * 3

    guards = by(await view(fixture_db, "SELECT * FROM v_guardrail_events"), "day", "kind")
    assert {k: (r["channel"], r["events"], r["conversations"]) for k, r in guards.items()} == {
        (D2, "degraded"): ("telegram", 1, 1), (D3, "injection_flagged"): ("slack", 1, 1),
        (D3, "pii_redacted"): ("telegram", 1, 1), (D3, "budget_blocked"): ("telegram", 1, 1)}

    msgs = await view(fixture_db, "SELECT * FROM v_messages ORDER BY message_id")
    assert [m["route"] for m in msgs] == ["template", "template", "strong_llm", "human", "human", "human", "human",
                                          "template", "cheap_llm"]
    assert [m["unhandled"] for m in msgs] == [0, 0, 0, 1, 0, 1, 0, 0, 1]
    assert [m["escalation_reason"] for m in msgs] == [None, None, None, "degraded", "asked", "out_of_scope",
                                                      None, None, None]
    assert msgs[6]["intent"] is None and msgs[6]["classify_latency_ms"] is None

    calls = await view(fixture_db, "SELECT * FROM v_model_calls ORDER BY call_id")
    assert [(c["model"], c["outcome"], c["day"]) for c in calls] == [
        ("big", "ok", D1), ("small", "ok", D2), ("small", "failed", D2), ("big", "budget_blocked", D3),
        ("small", "ok", D3)]

    await check_documented_queries(fixture_db)  # every example of docs/analytics.md runs on this engine


def doc_queries(engine: str) -> list[str]:
    """The ```sql examples of docs/analytics.md for this engine (marked `-- sqlite` / `-- postgresql`, else both)."""
    doc = (ROOT / "docs" / "analytics.md").read_text()
    out = []
    for block in re.findall(r"```sql\n(.*?)```", doc, re.S):
        first = block.splitlines()[0].strip()
        if first in ("-- sqlite", "-- postgresql") and first != f"-- {engine}":
            continue
        out.append(block)
    return out


async def check_documented_queries(fixture_db: str) -> None:
    engine = "postgresql" if fixture_db.startswith("postgresql") else "sqlite"
    queries = doc_queries(engine)
    assert len(queries) >= 8
    answered = 0
    for sql in queries:
        rows = await view(fixture_db, sql)  # raises on an error in the documented SQL
        answered += bool(rows)
    assert answered >= 5  # the undated ones find the fixture's rows (dated ones look at the last days)


def test_views_are_dropped_on_downgrade(sqlite_db):
    import sqlite3

    from bot.db.migrate import alembic_config
    from alembic import command

    path = sqlite_db.split("///", 1)[1]
    names = lambda: {r[0] for r in sqlite3.connect(path).execute(  # noqa: E731
        "SELECT name FROM sqlite_master WHERE type = 'view'")}
    assert names() == {"v_messages", "v_model_calls", "v_conversation_summary", "v_daily_cost", "v_intent_stats",
                       "v_escalations", "v_guardrail_events", "v_resolutions"}
    command.downgrade(alembic_config(sqlite_db), "0004")  # 0005 gives back 0002's v_intent_stats
    assert "v_resolutions" not in names() and "v_intent_stats" in names()
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(v_intent_stats)")]
    assert "clarify_share" not in cols and "human_share" in cols
    command.upgrade(alembic_config(sqlite_db), "head")
    assert "v_resolutions" in names()
    command.downgrade(alembic_config(sqlite_db), "0001")
    assert names() == set()


# --- the report --------------------------------------------------------------------------------

ALL_TIME = {
    "conversations": {"total": 6, "contained": 3, "containment_rate": 0.5, "escalated": 3, "escalation_rate": 0.5,
                      "customer_messages": 9, "csat": {"count": 3, "average": 3.667}},
    "messages": 9,
    "route_mix": {"template": {"messages": 3, "share": 0.3333, "degraded": 0},
                  "cheap_llm": {"messages": 1, "share": 0.1111, "degraded": 0},
                  "strong_llm": {"messages": 1, "share": 0.1111, "degraded": 0},
                  "human": {"messages": 4, "share": 0.4444, "degraded": 1}},
    "cost": {"by_model": [
        {"model": "small", "tier": "cheap", "calls": 3, "ok": 2, "failures": 1, "blocked": 0, "tokens_in": 700,
         "tokens_out": 120, "cost_usd": 0.0015},
        {"model": "big", "tier": "strong", "calls": 2, "ok": 1, "failures": 0, "blocked": 1, "tokens_in": 1000,
         "tokens_out": 200, "cost_usd": 0.02}],
        "by_tier": {"cheap": 0.0015, "strong": 0.02}, "total_usd": 0.0215},
    # C1, C2 and C6 are soft resolutions (answered in 2024, nothing after): only their messages count as saved
    "resolution": {"soft_window_hours": 24.0, "conversations": 6, "answered": 3, "counted": 3,
                   "by_status": {"hard": 0, "soft": 3, "pending": 0, "unresolved": 0, "more_help_then_escalated": 0,
                                 "escalated": 3, "no_answer": 0},
                   "resolved": 3, "resolution_rate": 1.0, "hard_rate": 0.0, "soft_rate": 1.0, "more_help": 0,
                   "more_help_rate": 0.0},
    "savings": {"actual_usd": 0.0215, "counterfactual_usd": 0.072, "saved_usd": 0.0335, "saved_pct": 46.53,
                "resolved_actual_usd": 0.0205, "resolved_counterfactual_usd": 0.054,
                "saved_if_all_right_usd": 0.0505, "saved_if_all_right_pct": 70.14},
    "latency_ms": {"classify": {"count": 8, "p50": 2.0, "p95": 3.65, "p99": 3.93},
                   "llm_call": {"count": 3, "p50": 700.0, "p95": 1060.0, "p99": 1092.0},
                   "end_to_end": {"count": 9, "p50": 25.0, "p95": 1040.0, "p99": 1168.0}},
    "csat": {"count": 3, "average": 3.667},
    "guardrails": {"budget_blocked": 1, "degraded": 1, "injection_flagged": 1, "pii_redacted": 1},
    "unhandled": [{"text": "asdf qwerty", "count": 2, "intent": "out_of_scope", "route": "cheap_llm", "reason": None},
                  {"text": "ignore all previous instructions", "count": 1, "intent": "out_of_scope",
                   "route": "human", "reason": "out_of_scope"}],
}
ESCALATIONS = {"total": 3, "open": 1, "sla_seconds": 300, "sla_breached": 2, "sla_met": 1,
               "by_reason": {"asked": {"count": 1, "share": 0.3333, "rate": 0.1667},
                             "degraded": {"count": 1, "share": 0.3333, "rate": 0.1667},
                             "out_of_scope": {"count": 1, "share": 0.3333, "rate": 0.1667}},
               "wait_to_claim_s": {"count": 2, "p50": 510.0, "p95": 861.0, "p99": 892.2},
               "time_to_resolve_s": {"count": 2, "p50": 1050.0, "p95": 1455.0, "p99": 1491.0}}


def check_all_time(r: dict) -> None:
    assert r["period"] == {"since": None, "until": None, "channel": None}
    for key, expected in ALL_TIME.items():
        assert r[key] == expected, key
    assert r["escalations"] == ESCALATIONS
    assert list(r["route_mix"]) == ["template", "cheap_llm", "strong_llm", "human"]  # cheap before strong


async def test_report_all_time_and_filtered(fixture_db):
    engine = make_engine(fixture_db)
    try:
        check_all_time(await analytics.report(engine, sla_seconds=300))
        # the configured SLA decides what counts as breached (the views use the default, 300 s)
        assert (await analytics.report(engine, sla_seconds=1000))["escalations"]["sla_breached"] == 1
        d2 = await analytics.report(engine, Filters(since=date(2024, 3, 2), until=date(2024, 3, 2)))
        slack = await analytics.report(engine, Filters(channel="slack"))
        tg3 = await analytics.report(engine, Filters(since=date(2024, 3, 3), channel="telegram"))
        series = await analytics.daily(engine, Filters(since=date(2024, 3, 1), until=date(2024, 3, 3)),
                                   soft_window_hours=24)
        quiet = await analytics.daily(engine, Filters(since=date(2024, 2, 28), until=date(2024, 3, 1)))
    finally:
        await engine.dispose()
    assert (d2["conversations"]["total"], d2["conversations"]["contained"], d2["messages"]) == (2, 0, 2)
    assert list(d2["escalations"]["by_reason"]) == ["asked", "degraded"]
    assert d2["cost"]["by_model"] == [{"model": "small", "tier": "cheap", "calls": 2, "ok": 1, "failures": 1,
                                       "blocked": 0, "tokens_in": 300, "tokens_out": 20, "cost_usd": 0.001}]
    assert d2["savings"] == {"actual_usd": 0.001, "counterfactual_usd": 0.012, "saved_usd": 0.0, "saved_pct": 0.0,
                             "resolved_actual_usd": 0.0, "resolved_counterfactual_usd": 0.0,
                             "saved_if_all_right_usd": 0.011, "saved_if_all_right_pct": 91.67}  # D2: all escalated
    assert (d2["resolution"]["counted"], d2["resolution"]["resolution_rate"]) == (0, None)
    assert d2["csat"] == {"count": 1, "average": 2.0}

    assert (slack["conversations"]["total"], slack["conversations"]["containment_rate"]) == (2, 0.0)
    assert slack["route_mix"] == {"human": {"messages": 3, "share": 1.0, "degraded": 0}}
    assert (slack["escalations"]["total"], slack["escalations"]["sla_breached"]) == (2, 2)
    assert slack["cost"]["by_model"] == [] and slack["guardrails"] == {"injection_flagged": 1}
    assert slack["latency_ms"]["llm_call"] == {"count": 0, "p50": None, "p95": None, "p99": None}

    assert (tg3["conversations"]["total"], tg3["conversations"]["containment_rate"]) == (1, 1.0)
    assert {k: v["messages"] for k, v in tg3["route_mix"].items()} == {"template": 1, "cheap_llm": 1}
    assert [(c["model"], c["calls"], c["blocked"]) for c in tg3["cost"]["by_model"]] == [
        ("small", 1, 0), ("big", 1, 1)]
    assert tg3["guardrails"] == {"budget_blocked": 1, "pii_redacted": 1}

    assert series["days"] == [D1, D2, D3]
    assert series["conversations_by_route"] == {"template": [1, 0, 0], "cheap_llm": [0, 0, 1],
                                                "strong_llm": [1, 0, 0], "human": [0, 2, 1]}
    assert series["cost_usd"] == approx([0.020, 0.001, 0.0005])
    assert series["containment_rate"] == [1.0, 0.0, 0.5] and series["resolution_rate"] == [1.0, None, 1.0]
    assert series["resolutions_by_status"]["soft"] == [2, 0, 1]
    assert series["resolutions_by_status"]["escalated"] == [0, 2, 1]
    assert series["saved_usd"] == approx([0.015, 0, 0.0185])  # C1 | - | C6
    assert series["saved_if_all_right_usd"] == approx([0.015, 0.011, 0.0245])
    assert series["counterfactual_usd"] == approx([0.035, 0.012, 0.025])
    assert (series["escalations_within_sla"], series["escalations_breached_sla"]) == ([0, 1, 0], [0, 1, 1])
    assert series["confidence_counts"] == [0, 2, 1, 0, 0, 0, 0, 0, 0, 5]  # 0.10, 0.15 | 0.20 | five >= 0.9
    assert series["csat_average"] == [4.5, 2.0, None] and series["csat_count"] == [2, 1, 0]
    assert quiet["days"] == ["2024-02-28", "2024-02-29", D1]  # quiet days are there, at zero
    assert quiet["conversations_by_route"] == {"template": [0, 0, 1], "strong_llm": [0, 0, 1]}
    assert quiet["cost_usd"] == approx([0, 0, 0.020]) and quiet["csat_average"] == [None, None, 4.5]


# --- resolution (hard / soft, beside containment) and the clarify route -------------------------------

@pytest.fixture
def resolution_db(db_url):
    ids = asyncio.run(build_resolutions(db_url))
    return db_url, ids


RESOLUTION_24H = {
    "soft_window_hours": 24.0, "conversations": 9, "answered": 7, "counted": 6,  # R3 pending, R7 and R9 unanswered
    "by_status": {"hard": 1, "soft": 2, "pending": 1, "unresolved": 2, "more_help_then_escalated": 1,
                  "escalated": 1, "no_answer": 1},
    "resolved": 3, "resolution_rate": 0.5, "hard_rate": 0.1667, "soft_rate": 0.3333,
    "more_help": 2, "more_help_rate": 0.3333,  # R4, R6
}
# resolved: R1 (.010 - 0), R2 (.010 - .001), R5 (.004 + .006): .029 of the .085 always-strong cost
SAVINGS_24H = {"actual_usd": 0.031, "counterfactual_usd": 0.085, "saved_usd": 0.029, "saved_pct": 34.12,
               "resolved_actual_usd": 0.001, "resolved_counterfactual_usd": 0.03,
               "saved_if_all_right_usd": 0.054, "saved_if_all_right_pct": 63.53}


async def test_resolution_view_report_and_window(resolution_db):
    url, ids = resolution_db
    name = {v: k for k, v in ids.items()}
    rows = await view(url, "SELECT * FROM v_resolutions ORDER BY conversation_id")
    got = {name[r["conversation_id"]]: r for r in rows}
    assert {k: r["status"] for k, r in got.items()} == RESOLUTION_STATUS_24H
    assert [got[k]["bot_answers"] for k in sorted(got)] == [1, 1, 1, 1, 1, 2, 0, 1, 0]  # R5: its clarify asked, the pick answered
    assert [got[k]["confirmed"] for k in sorted(got)] == [1, 0, 0, 0, 0, 1, 0, 0, 0]
    assert [got[k]["more_help"] for k in sorted(got)] == [0, 0, 0, 1, 0, 1, 0, 0, 0]
    assert [got[k]["escalated"] for k in sorted(got)] == [0, 0, 0, 1, 0, 0, 1, 0, 0]
    assert [got[k]["hard"] for k in sorted(got)] == [1, 0, 0, 0, 0, 0, 0, 0, 0]  # R6: more_help after confirmed
    assert [got[k]["more_help_then_escalated"] for k in sorted(got)] == [0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert got["R8"]["next_customer_message_s"] == approx(600, abs=1)  # the photo, 10 min after the answer
    assert got["R2"]["next_customer_message_s"] is None and got["R9"]["last_bot_answer_at"] is None
    assert got["R3"]["answer_age_s"] == approx(3600, abs=120) and got["R1"]["soft_window_hours"] == 24
    assert {r["channel"] for r in rows} == {"telegram", "slack", "web", "console"}
    assert all(r["day"] is not None and r["started_at"] is not None for r in rows)
    clarify = await view(url, "SELECT clarify_share, template_share, human_share FROM v_intent_stats")
    assert clarify[0]["clarify_share"] == approx(1 / 11) and clarify[0]["human_share"] == approx(2 / 11)

    engine = make_engine(url)
    try:
        r24 = await analytics.report(engine, soft_window_hours=24)
        r48 = await analytics.report(engine, soft_window_hours=48)
        web = await analytics.report(engine, Filters(channel="web"), soft_window_hours=24)
        for hours, expected in ((24, RESOLUTION_STATUS_24H), (48, RESOLUTION_STATUS_48H)):  # report = view at 24 h
            sub, params = analytics._window(Filters(), hours)
            statuses = await analytics._rows(engine, f"SELECT conversation_id, status FROM {sub} r", params)
            assert {name[s["conversation_id"]]: s["status"] for s in statuses} == expected, hours
        today = utcnow().date()
        series = await analytics.daily(engine, Filters(since=today - timedelta(days=4), until=today),
                                       soft_window_hours=24)
    finally:
        await engine.dispose()
    assert r24["resolution"] == RESOLUTION_24H
    assert r24["savings"] == SAVINGS_24H  # savings count only the resolved conversations' messages
    assert (r24["conversations"]["total"], r24["conversations"]["containment_rate"]) == (9, 0.7778)
    assert list(r24["route_mix"]) == ["template", "knowledge", "clarify", "cheap_llm", "strong_llm", "human"]
    assert {k: v["messages"] for k, v in r24["route_mix"].items()} == {
        "template": 4, "knowledge": 1, "clarify": 1, "cheap_llm": 1, "strong_llm": 2, "human": 2}

    # a longer window: R2, R6, R8 are still inside it; R2's saving is no longer counted
    res48 = r48["resolution"]
    assert (res48["counted"], res48["resolved"], res48["by_status"]["pending"]) == (3, 2, 4)
    assert (res48["resolution_rate"], res48["hard_rate"], res48["soft_rate"], res48["more_help_rate"]) == (
        0.6667, 0.3333, 0.3333, 0.3333)
    assert (r48["savings"]["saved_usd"], r48["savings"]["saved_if_all_right_usd"]) == (0.02, 0.054)

    assert web["resolution"]["by_status"] == {**dict.fromkeys(analytics.STATUSES, 0), "soft": 1, "unresolved": 1}
    assert (web["resolution"]["resolution_rate"], web["savings"]["saved_usd"]) == (0.5, 0.01)  # R5 only

    assert series["days"][-1] == today.isoformat() and len(series["days"]) == 5
    assert {k: sum(v) for k, v in series["resolutions_by_status"].items()} == RESOLUTION_24H["by_status"]
    assert sum(series["saved_usd"]) == approx(0.029) and sum(series["saved_if_all_right_usd"]) == approx(0.054)
    assert all(v is None or 0 <= v <= 1 for v in series["resolution_rate"] + series["containment_rate"])


def test_revision_0005_downgrades_and_upgrades(db_url):
    from bot.db.migrate import alembic_config
    from alembic import command

    command.downgrade(alembic_config(db_url), "0004")
    cols = asyncio.run(view(db_url, "SELECT * FROM v_intent_stats"))  # 0002's view is back (no rows: empty)
    assert cols == []
    command.upgrade(alembic_config(db_url), "head")
    assert asyncio.run(view(db_url, "SELECT status FROM v_resolutions")) == []


def test_cli_report_shows_resolution_beside_containment(resolution_db):
    url, _ = resolution_db
    data = json.loads(run_report(url, "--format", "json"))
    assert data["resolution"] == RESOLUTION_24H and data["savings"] == SAVINGS_24H
    rows = list(csv.DictReader(io.StringIO(run_report(url, "--format", "csv"))))
    got = {(r["section"], r["key"], r["metric"]): r["value"] for r in rows}
    assert (got[("resolution", "", "resolution_rate")], got[("resolution", "", "hard_rate")],
            got[("resolution", "", "soft_rate")], got[("resolution", "", "more_help_rate")]) == (
        "0.5", "0.1667", "0.3333", "0.3333")
    assert got[("resolution_by_status", "pending", "conversations")] == "1"
    assert got[("route_mix", "clarify", "messages")] == "1"
    assert got[("savings", "", "saved_usd")] == "0.029" and got[("savings", "", "saved_if_all_right_usd")] == "0.054"
    table = run_report(url)
    for needle in ("containment rate (no human)", "77.8%", "resolution rate (hard + soft)", "50.0% of 6",
                   "hard (customer confirmed)", "16.7%", "33.3%", "more-help rate", "pending (answered < 24 h ago)",
                   "more_help_then_escalated", "no_answer", "clarify", "$0.0290 (34.12%)", "$0.0540 (63.53%)"):
        assert needle in table, needle


def run_report(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["report", "--config", str(EXAMPLE_CONFIG), "--url", url, *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_cli_report_json_csv_and_table(fixture_db):
    check_all_time(json.loads(run_report(fixture_db, "--format", "json")))

    rows = list(csv.DictReader(io.StringIO(run_report(fixture_db, "--format", "csv"))))
    assert set(rows[0]) == {"section", "key", "metric", "value"}
    got = {(r["section"], r["key"], r["metric"]): r["value"] for r in rows}
    assert got[("conversations", "", "containment_rate")] == "0.5"
    assert got[("conversations", "", "total")] == "6"
    assert got[("escalations_by_reason", "asked", "count")] == "1"
    assert got[("escalations", "", "sla_breached")] == "2"
    assert got[("route_mix", "human", "messages")] == "4"
    assert got[("cost_by_model", "cheap/small", "cost_usd")] == "0.0015"
    assert got[("cost_by_tier", "strong", "cost_usd")] == "0.02"
    assert (got[("savings", "", "saved_usd")], got[("savings", "", "saved_pct")]) == ("0.0335", "46.53")
    assert got[("savings", "", "saved_if_all_right_usd")] == "0.0505"
    assert got[("resolution", "", "resolution_rate")] == "1.0"
    assert got[("resolution_by_status", "soft", "conversations")] == "3"
    assert got[("latency_ms", "end_to_end", "p95")] == "1040.0"
    assert got[("latency_ms", "llm_call", "p50")] == "700.0"
    assert (got[("csat", "", "average")], got[("csat", "", "count")]) == ("3.667", "3")
    assert got[("unhandled", "1", "text")] == "asdf qwerty" and got[("unhandled", "1", "count")] == "2"
    assert got[("period", "", "since")] == ""

    table = run_report(fixture_db)
    for needle in ("containment rate (no human)", "50.0%", "$0.0215", "$0.0720", "$0.0335 (46.53%)",
                   "saved if every contained answer was right", "$0.0505 (70.14%)", "resolution rate (hard + soft)",
                   "100.0% of 3 answered by the bot", "soft (no further request in 24 h)",
                   "3.67 from 3 ratings", "3 / 2 (SLA 300s)", "out_of_scope", "1,040.00", "asdf qwerty",
                   "cheap", "small", "injection_flagged"):
        assert needle in table, needle

    filtered = json.loads(run_report(fixture_db, "--format", "json", "--since", "2024-03-02", "--until",
                                     "2024-03-02", "--channel", "telegram"))
    assert filtered["period"] == {"since": "2024-03-02", "until": "2024-03-02", "channel": "telegram"}
    assert (filtered["conversations"]["total"], filtered["messages"]) == (1, 1)
    before = (utcnow() - timedelta(hours=1)).date().isoformat()
    recent = json.loads(run_report(fixture_db, "--format", "json", "--since", "1h"))
    after = (utcnow() - timedelta(hours=1)).date().isoformat()
    assert recent["period"]["since"] in (before, after) and recent["messages"] == 0  # the fixture's days are past


def test_cli_report_rejects_bad_input(sqlite_url):
    cases = ((["--since", "last tuesday"], "Invalid value for '--since'"),
             (["--until", "3 weeks"], "Invalid value for '--until'"), (["--format", "xml"], "bad --format"),
             ([], "run `supportbot migrate`"))  # an empty database
    for args, needle in cases:
        result = CliRunner().invoke(cli, ["report", "--config", str(EXAMPLE_CONFIG), "--url", sqlite_url, *args])
        assert result.exit_code == 2 and needle in result.output, result.output


def test_parse_day_and_percentile():
    today = date(2024, 3, 10)
    assert analytics.parse_day("7d", today) == date(2024, 3, 3)
    assert analytics.parse_day("today", today) == today
    assert analytics.parse_day("2024-01-31", today) == date(2024, 1, 31)
    with pytest.raises(ValueError):
        analytics.parse_day("yesterday-ish", today)


def test_since_takes_seconds_minutes_hours_and_days():
    from datetime import datetime, timezone

    now = datetime(2024, 3, 10, 0, 20, tzinfo=timezone.utc)
    assert analytics.parse_since("45s", now) == datetime(2024, 3, 10, 0, 19, 15, tzinfo=timezone.utc)
    assert analytics.parse_since("30m", now) == datetime(2024, 3, 9, 23, 50, tzinfo=timezone.utc)
    assert analytics.parse_since("1h", now) == datetime(2024, 3, 9, 23, 20, tzinfo=timezone.utc)
    assert analytics.parse_since("2d", now) == datetime(2024, 3, 8, tzinfo=timezone.utc)  # from midnight, as before
    assert analytics.parse_since("2024-03-01", now) == datetime(2024, 3, 1, tzinfo=timezone.utc)
    assert analytics.parse_day("1h", now=now) == date(2024, 3, 9)  # the day that moment falls on
    assert analytics.parse_day("30m", date(2024, 3, 10)) in (date(2024, 3, 9), date(2024, 3, 10))
    for bad in ("1w", "h", "-1h", "1.5h"):
        with pytest.raises(ValueError, match="45s, 30m, 1h, 7d"):
            analytics.parse_since(bad, now)
    assert analytics.percentile([], 50) is None
    assert analytics.percentile([3.0], 99) == 3.0
    assert analytics.percentile([1, 2, 3, 4], 50) == 2.5  # like percentile_cont
