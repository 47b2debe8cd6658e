"""/metrics (Prometheus text format, parsed with prometheus-client's own parser) and the JSON logs."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, func, select

from bot.monitor import metrics
from bot.db import models as m
from bot.logs import JsonFormatter
from bot.settings import Cap
from bot.web.metrics_route import ENV, GAUGES, refresh_seconds
from tests.fakes.llm_servers import llm_server, ok  # noqa: F401 - fixture
from tests.helpers import mini_settings
from tests.harness.pipeline import say
from tests.harness.llm_app import answer, app as llm_app, verdict  # noqa: F401 - fixture
from tests.web_harness import serving


@pytest.fixture(autouse=True)
def fresh_metrics():
    """Each test counts in a registry of its own (the process's one is restored afterwards)."""
    mine = metrics.Metrics()
    previous = metrics.use(mine)
    yield mine
    metrics.use(previous)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the exposition text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_observe_functions_and_text_format(fresh_metrics):
    metrics.observe_message("telegram", "template", 0.97, 12.0, stage="local", classify_latency_ms=2.0)
    metrics.observe_message("telegram", "human", 0.42, 30.0, guardrails=["pii_redacted"], escalation="confidence")
    metrics.observe_message("slack", "template", None, 5.0)
    metrics.observe_llm_call("small", "cheap", "ok", 300, 40, 0.0012, 850.0)
    metrics.observe_llm_call("small", "cheap", "budget_blocked", 0, 0, 0.0, 0.0)
    metrics.observe_delivery("telegram", "sent")
    got = samples(metrics.render(fresh_metrics).decode())
    assert got[("supportbot_messages_total", (("channel", "telegram"), ("route", "template")))] == 1
    assert got[("supportbot_messages_total", (("channel", "slack"), ("route", "template")))] == 1
    assert got[("supportbot_classifier_confidence_count", (("stage", "local"),))] == 2
    assert got[("supportbot_classifier_confidence_bucket", (("le", "0.5"), ("stage", "local")))] == 1
    assert got[("supportbot_stage_latency_seconds_count", (("stage", "end_to_end"),))] == 3
    assert got[("supportbot_stage_latency_seconds_count", (("stage", "classify"),))] == 1
    assert got[("supportbot_stage_latency_seconds_count", (("stage", "llm_call"),))] == 1  # blocked: no request
    assert got[("supportbot_stage_latency_seconds_sum", (("stage", "llm_call"),))] == pytest.approx(0.85)
    llm = (("model", "small"), ("outcome", "ok"), ("tier", "cheap"))
    assert got[("supportbot_llm_calls_total", llm)] == 1
    assert got[("supportbot_llm_cost_usd_total", llm)] == pytest.approx(0.0012)
    assert got[("supportbot_llm_tokens_total", (("direction", "in"), ("model", "small"), ("tier", "cheap")))] == 300
    blocked = (("model", "small"), ("outcome", "budget_blocked"), ("tier", "cheap"))
    assert got[("supportbot_llm_calls_total", blocked)] == 1
    assert got[("supportbot_guardrail_events_total", (("kind", "pii_redacted"),))] == 1
    assert got[("supportbot_escalations_total", (("reason", "confidence"),))] == 1
    assert got[("supportbot_outbox_deliveries_total", (("channel", "telegram"), ("outcome", "sent")))] == 1
    # nothing leaks into prometheus-client's global registry
    from prometheus_client import REGISTRY

    assert REGISTRY.get_sample_value("supportbot_messages_total", {"channel": "telegram", "route": "template"}) is None


@pytest.fixture
async def service(sqlite_db):
    settings = mini_settings()
    settings.database.url = sqlite_db
    settings.budgets.daily_usd = 5.0
    settings.budgets.tiers = {"cheap": Cap(daily_usd=1.0, monthly_usd=20.0)}
    async with serving(settings) as svc:
        async with aiohttp.ClientSession() as http:
            svc.http = http
            yield svc


async def test_metrics_endpoint_after_real_messages(service):
    await say(service.app, "where is my order?", "e1")  # inbox -> worker -> outbox, as in serve
    await say(service.app, "someone used my card", "e2")  # a critical case: escalated
    await service.web_app[GAUGES].refresh()  # as the background loop does every 15 s
    async with service.http.get(f"{service.url}/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        body = await r.text()
    got = samples(body)
    assert got[("supportbot_messages_total", (("channel", "test"), ("route", "template")))] == 1
    assert got[("supportbot_messages_total", (("channel", "test"), ("route", "human")))] == 1
    assert got[("supportbot_escalations_total", (("reason", "critical"),))] == 1
    assert got[("supportbot_stage_latency_seconds_count", (("stage", "end_to_end"),))] == 2
    assert got[("supportbot_stage_latency_seconds_count", (("stage", "classify"),))] == 2
    assert got[("supportbot_classifier_confidence_count", (("stage", "local"),))] == 2
    assert got[("supportbot_escalations_open", (("status", "open"),))] == 1
    assert got[("supportbot_escalations_open", (("status", "claimed"),))] == 0
    assert got[("supportbot_inbox_backlog", ())] == 0 and got[("supportbot_outbox_backlog", ())] == 0
    assert got[("supportbot_outbox_deliveries_total", (("channel", "test"), ("outcome", "sent")))] == 2
    assert got[("supportbot_budget_remaining_usd", (("period", "daily"), ("scope", "overall")))] == 5.0
    assert got[("supportbot_budget_remaining_usd", (("period", "daily"), ("scope", "cheap")))] == 1.0
    assert got[("supportbot_budget_remaining_usd", (("period", "monthly"), ("scope", "cheap")))] == 20.0
    assert got[("supportbot_budget_spent_usd", (("period", "daily"), ("scope", "strong")))] == 0.0
    assert ("supportbot_budget_remaining_usd", (("period", "daily"), ("scope", "strong"))) not in got  # no cap

    # a backlog shows up: an event accepted but not handled yet
    from bot.messages import InboundMessage

    await service.app.inbox.accept(InboundMessage(channel="test", customer_id="c9", text="hello",
                                                  conversation_key="t9"), "e3")
    await service.web_app[GAUGES].refresh()
    async with service.http.get(f"{service.url}/metrics") as r:
        assert samples(await r.text())[("supportbot_inbox_backlog", ())] == 1


def statements(engine) -> list[str]:  # noqa: ANN001
    """The SQL statements `engine` runs from now on (a live list)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args) -> None:  # noqa: ANN001
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_scrapes_are_served_from_the_cache_and_run_no_query(service):
    cache = service.web_app[GAUGES]
    assert cache.interval == metrics.REFRESH_SECONDS == 15.0
    await cache.wait_refreshed(1)  # the background loop's first refresh, at start
    await cache.stop()  # from here on the test drives the refreshes, as the loop would once per interval
    queries = statements(service.app.engine)
    from bot.messages import InboundMessage

    await service.app.inbox.accept(InboundMessage(channel="test", customer_id="c1", text="hello",
                                                  conversation_key="t1"), "e1")
    queries.clear()

    async def scrape(_: int) -> dict:
        async with service.http.get(f"{service.url}/metrics") as r:
            assert r.status == 200
            return samples(await r.text())

    scraped = await asyncio.gather(*(scrape(i) for i in range(200)))
    assert queries == [] and cache.refreshes == 1  # 200 scrapes, not one query: they read the cache
    assert {s[("supportbot_inbox_backlog", ())] for s in scraped} == {0}  # as of the last refresh
    assert await cache.refresh() is True  # what the loop does once per interval
    per_refresh = len(queries)
    assert 0 < per_refresh <= 6  # counts and the budget spend, however many scrapes came before
    assert (await scrape(0))[("supportbot_inbox_backlog", ())] == 1
    assert len(queries) == per_refresh


async def test_a_failed_refresh_keeps_the_last_values_and_warns_once(service, caplog):
    cache = service.web_app[GAUGES]
    await cache.wait_refreshed(1)
    await cache.stop()
    real = service.app.sessions

    def down():  # noqa: ANN202
        raise ConnectionRefusedError("database down")

    service.app.sessions = down
    try:
        with caplog.at_level(logging.WARNING, logger="supportbot.metrics"):
            assert await cache.refresh() is False
    finally:
        service.app.sessions = real
    assert cache.last_error.startswith("ConnectionRefusedError")
    [warning] = [r for r in caplog.records if r.name == "supportbot.metrics"]
    assert "could not refresh" in warning.getMessage() and warning.exc_info is None
    async with service.http.get(f"{service.url}/metrics") as r:
        assert r.status == 200 and ("supportbot_inbox_backlog", ()) in samples(await r.text())


def test_the_refresh_interval_comes_from_the_environment(caplog):
    assert refresh_seconds({}) == 15.0 and refresh_seconds({ENV: "2.5"}) == 2.5
    for bad in ("0", "-3", "soon", "nan", "inf"):
        assert refresh_seconds({ENV: bad}) == 15.0
    assert "is not a positive number" in caplog.text


async def test_llm_calls_are_counted_and_logged_as_json(llm_app, fresh_metrics):  # noqa: F811
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        llm_app.llm.script("small", verdict(), ok(answer("We don't forecast weather, sorry!", 0.95)))
        r = await say(llm_app, "what's the weather?", "e1")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert r.decision.route.value == "cheap_llm"

    got = samples(metrics.render(fresh_metrics).decode())
    call = (("model", "small"), ("outcome", "ok"), ("tier", "cheap"))
    assert got[("supportbot_llm_calls_total", call)] == 2  # the classifier's call and the answer
    async with llm_app.sessions() as s:
        cost, tokens_in = (await s.execute(select(func.sum(m.ModelCall.cost_usd),
                                                  func.sum(m.ModelCall.input_tokens)))).one()
    assert got[("supportbot_llm_cost_usd_total", call)] == pytest.approx(cost) and cost > 0
    assert got[("supportbot_llm_tokens_total", (("direction", "in"),) + call[:1] + call[2:])] == tokens_in
    assert got[("supportbot_stage_latency_seconds_count", (("stage", "llm_call"),))] == 2
    assert got[("supportbot_messages_total", (("channel", "test"), ("route", "cheap_llm")))] == 1
    assert got[("supportbot_classifier_confidence_count", (("stage", "llm"),))] == 1

    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    steps = [e["event"] for e in events if e.get("conversation_id") == r.conversation_id]
    for step in ("received", "classified", "decided", "responded", "handled", "llm_call", "delivered"):
        assert step in steps, (step, steps)
    assert steps.index("received") < steps.index("classified") < steps.index("decided") < steps.index("handled")
    decided = next(e for e in events if e["event"] == "decided")
    assert decided["route"] == "cheap_llm" and decided["level"] == "info" and decided["message_id"]
    calls = [e for e in events if e["event"] == "llm_call"]
    assert [c["purpose"] for c in calls] == ["classify", "answer"] and all(c["model"] == "small" for c in calls)


def test_text_logs_carry_the_fields_as_key_value():
    import logging

    from bot.logs import TextFormatter

    record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "handled", None, None)
    record.route, record.latency_ms, record.reason = "human", 12.5, "confidence 0.62 < 0.90"
    line = TextFormatter().format(record)
    assert line.endswith('handled route=human latency_ms=12.5 reason="confidence 0.62 < 0.90"')
