"""/dashboard: agent login required, the report's figures and its server-side SVG charts, in a real browser."""

from __future__ import annotations

import re
from datetime import timedelta

import aiohttp
import pytest

from bot.analytics import figures as analytics
from bot.messages import utcnow
from bot.handoff.agents import add_agent
from bot.web import charts
from tests.analytics_data import build, build_resolutions
from tests.helpers import mini_settings
from tests.web_harness import serving
from tests.browser import launch, needs_chromium

CHARTS = ("routes", "resolution", "resolutions", "cost", "savings", "escalations", "confidence", "csat")
PERIOD = "since=2024-03-01&until=2024-03-03"
AGENT, PASSWORD = "olga", "correct horse battery"


@pytest.fixture
async def service(sqlite_db):
    await build(sqlite_db)
    settings = mini_settings()
    settings.database.url = sqlite_db
    async with serving(settings) as svc:
        await add_agent(svc.app.sessions, AGENT, PASSWORD)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # cookies on 127.0.0.1
            svc.http = http
            yield svc


async def login(svc) -> None:  # noqa: ANN001
    """Log in through the agent login form (its double-submit CSRF cookie included)."""
    async with svc.http.get(f"{svc.url}/agent/login") as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', await r.text()).group(1)
    async with svc.http.post(f"{svc.url}/agent/login", allow_redirects=False,
                             data={"name": AGENT, "password": PASSWORD, "csrf": csrf, "next": "/dashboard"}) as r:
        assert r.status == 302, await r.text()


async def test_dashboard_needs_a_login_then_shows_the_figures_and_charts(service):
    for path in ("/dashboard", "/dashboard/data"):
        async with service.http.get(f"{service.url}{path}", allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"].startswith("/agent/login?next=")
    await login(service)
    async with service.http.get(f"{service.url}/dashboard?{PERIOD}") as r:
        assert r.status == 200, await r.text()
        page = await r.text()
    for name in CHARTS:
        svg = re.search(rf'<svg class="chart" data-chart="{name}".*?</svg>', page, re.S).group(0)
        assert 'class="mark' in svg, name  # bars, lines or dots were drawn
    assert "<b>6</b><span>conversations</span>" in page and "<b>50.0%</b>" in page
    assert "<b>3 / 2</b>" in page and "3.67 (3)" in page
    # resolution beside containment; saved counts the resolved conversations, the every-answer figure stays
    assert "<b>100.0%</b><span>resolution (hard + soft)</span>" in page
    assert "<b>0.0% / 100.0%</b><span>hard / soft (soft: quiet 24 h)</span>" in page
    assert "<b>$0.0335 (46.5%)</b><span>saved (resolved conversations)</span>" in page
    assert "<b>$0.0505 (70.1%)</b><span>saved if every contained answer was right</span>" in page
    assert '<option value="slack">' in page and "ignore all previous instructions" in page
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")

    async with service.http.get(f"{service.url}/dashboard?{PERIOD}&channel=slack") as r:
        slack = await r.text()
    assert "<b>2</b><span>conversations</span>" in slack and '<option value="slack" selected>' in slack

    async with service.http.get(f"{service.url}/dashboard/data?{PERIOD}") as r:
        data = await r.json()
    engine = service.app.engine
    f = analytics.Filters(since=analytics.parse_day("2024-03-01"), until=analytics.parse_day("2024-03-03"))
    expected = await analytics.report(engine, f, sla_seconds=service.app.settings.handoff.sla_seconds)
    assert data["report"] == expected and data["daily"]["days"] == ["2024-03-01", "2024-03-02", "2024-03-03"]

    async with service.http.get(f"{service.url}/dashboard?since=soon") as r:
        assert r.status == 400 and "not a date" in await r.text()
    async with service.http.get(f"{service.url}/dashboard?since=2024-03-03&until=2024-03-01") as r:
        assert r.status == 400


async def test_page_shows_resolution_and_clarify(sqlite_db):
    """The resolution fixture (hard, soft, pending, more help then escalated, clarify) on the rendered page."""
    from bot.db.engine import make_engine
    from bot.web.dashboard import render_page

    await build_resolutions(sqlite_db)
    today = utcnow().date()
    f = analytics.Filters(since=today - timedelta(days=4), until=today)
    engine = make_engine(sqlite_db)
    try:
        report = await analytics.report(engine, f, soft_window_hours=24)
        series = await analytics.daily(engine, f, soft_window_hours=24)
    finally:
        await engine.dispose()
    page = render_page(report, series, f, ["slack", "telegram", "web"], None, "")
    assert "<b>77.8%</b><span>containment (no human)</span>" in page
    assert "<b>50.0%</b><span>resolution (hard + soft)</span>" in page
    assert "<b>16.7% / 33.3%</b>" in page and "<b>33.3%</b><span>asked for more help</span>" in page
    assert "<b>1</b><span>pending (inside 24 h)</span>" in page
    assert "<td>clarify</td><td>1</td>" in page and "<td>more_help_then_escalated</td><td>1</td>" in page
    for name in CHARTS[:-1]:  # no ratings in this fixture: the CSAT chart says "no data"
        svg = re.search(rf'<svg class="chart" data-chart="{name}".*?</svg>', page, re.S).group(0)
        assert 'class="mark' in svg, name
    resolution = re.search(r'<svg class="chart" data-chart="resolution".*?</svg>', page, re.S).group(0)
    assert "containment" in resolution and "more help" in resolution and "100%" in resolution


def test_charts_escape_text_and_handle_no_data():
    svg = charts.bar_chart("x", "<title>", ["<b>"], {"a&b": [1.0]})
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "a&amp;b" in svg
    empty = charts.line_chart("y", "nothing", [], {"s": []})
    assert "no data in this range" in empty and empty.endswith("</svg>")
    assert charts.nice_max(0.0215) == 0.025 and charts.nice_max(7) == 10 and charts.nice_max(0) == 1.0
    assert [charts.nice_step(n, 4) for n in (0, 2, 5, 37, 120)] == [1, 1, 2, 10, 50]  # whole-number ticks


@needs_chromium
async def test_browser_renders_every_chart(service, tmp_path):
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await launch(pw)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            outside: list[str] = []
            page.on("request", lambda req: None if req.url.startswith(service.url) else outside.append(req.url))
            await page.goto(f"{service.url}/dashboard?{PERIOD}")
            assert "/agent/login" in page.url  # not logged in: the login form first
            await page.fill("input[name=name]", AGENT)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(re.compile(r".*/dashboard\?since=2024-03-01.*"), timeout=15_000)
            for name in CHARTS:
                chart = page.locator(f'svg[data-chart="{name}"]')
                await chart.wait_for(timeout=10_000)
                box = await chart.bounding_box()
                assert box and box["width"] > 200 and box["height"] > 100, name
                marks = chart.locator(".mark")
                assert await marks.count() > 0, name
                mark_box = await marks.first.bounding_box()
                assert mark_box and (mark_box["width"] > 0 or mark_box["height"] > 0), name
            shot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

            await page.select_option("select[name=channel]", "slack")  # the filter form
            await page.click("form.filters button[type=submit]")
            await page.wait_for_url(re.compile(r".*channel=slack.*"), timeout=10_000)
            assert await page.locator(".card b").first.inner_text() == "2"
            assert outside == []  # nothing fetched from anywhere else
        finally:
            await browser.close()
