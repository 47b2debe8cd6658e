"""bot/web builds HTML only from Jinja2 templates with autoescape (bot/web/render.py).

Hostile customer text, agent names, customer names and intents are shown escaped on the console's
queue, a conversation and the dashboard; IBANs and passwords in customer text are masked for agents
(pages, queue JSON, event stream, dashboard) unless handoff.show_payment_details_to_agents is set;
and no Python file of bot/web holds a piece of HTML any more.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from pathlib import Path

from sqlalchemy import select, update

from bot.handoff.agents import add_agent
from bot.db import models as m
from bot.web.render import ENV
from tests.harness.console import PASSWORD, Customer, escalation_of, jar_session, log_in, page_csrf, post, start

SCRIPT, IMG = "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"  # SCRIPT + IMG
IBAN = "DE89 3704 0044 0532 0130 00"
WEB = Path(__file__).resolve().parents[1] / "bot" / "web"


def assert_safe(page: str) -> None:
    """Neither payload made it into the page as markup."""
    assert "<script>alert" not in page and "<img" not in page and "onerror=alert(1)>" not in page


async def get(http, url: str) -> str:  # noqa: ANN001
    async with http.get(url) as r:
        assert r.status == 200, url
        return await r.text()


async def test_hostile_text_names_and_intents_are_escaped_on_every_page(sqlite_db):
    agent = f"ann{SCRIPT}{IMG}"
    async with start(sqlite_db) as svc, jar_session() as http, Customer(svc, http) as customer:
        await add_agent(svc.app.sessions, agent, PASSWORD)
        await customer.says(f"someone used my card {SCRIPT}{IMG}")
        esc = await escalation_of(svc, customer.label)
        async with svc.app.sessions.begin() as s:  # what other channels and classifiers may have stored
            row = await s.get(m.Escalation, esc)
            await s.execute(update(m.Classification).where(m.Classification.message_id == row.message_id)
                            .values(intent=f"intent{SCRIPT}{IMG}"))
            await s.execute(update(m.RouteDecision).where(m.RouteDecision.message_id == row.message_id)
                            .values(intent=f"intent{SCRIPT}{IMG}"))
            row.reason_kind = "confidence"  # so the dashboard lists the message as unhandled
            cust = await s.scalar(select(m.Customer).where(m.Customer.external_id == customer.public))
            cust.display_name = f"cust{SCRIPT}{IMG}"
        assert (await log_in(http, svc.url, agent, PASSWORD)).status == 302
        token = await page_csrf(http, f"{svc.url}/agent")
        assert (await post(http, f"{svc.url}/agent/escalations/{esc}/take", csrf=token))[0] == 303
        assert (await post(http, f"{svc.url}/agent/escalations/{esc}/reply", csrf=token, text=f"hi {IMG}"))[0] == 303

        queue = await get(http, f"{svc.url}/agent")
        assert_safe(queue)
        assert f'<span class="who">ann{ESCAPED}</span>' in queue  # the agent's name
        assert f"<td>cust{ESCAPED}</td>" in queue and f"claimed by ann{ESCAPED}" in queue

        page = await get(http, f"{svc.url}/agent/escalations/{esc}")
        assert_safe(page)
        assert f'<div class="text">someone used my card {ESCAPED}</div>' in page  # the customer's message
        assert f"· intent{ESCAPED} 0.96</div>" in page and f"<dd>intent{ESCAPED} 0.96" in page  # the intent
        assert f"Escalation #{esc}: cust{ESCAPED}" in page and f"agent ann{ESCAPED} ·" in page
        assert '<div class="text">hi &#34;&gt;&lt;img src=x onerror=alert(1)&gt;</div>' in page
        assert len(re.findall(r'name="csrf" value="[^"]+"', page)) >= 4  # logout, resolve, return, reply

        dashboard = await get(http, f"{svc.url}/dashboard")
        assert_safe(dashboard)
        assert f"<td>someone used my card {ESCAPED}</td>" in dashboard  # top unhandled: text and intent
        assert f"<td>intent{ESCAPED}</td>" in dashboard and f"<span>ann{ESCAPED} <form" in dashboard


async def read_messages(http, url: str, count: int) -> list[dict]:  # noqa: ANN001
    """The first `count` msg events of a conversation's event stream."""
    got: list[dict] = []

    async def read() -> None:
        async with http.get(url) as r:
            event = None
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "msg":
                    got.append(json.loads(line[6:]))
                    if len(got) == count:
                        return
    await asyncio.wait_for(read(), 15)
    return got


async def test_console_and_dashboard_mask_ibans_and_passwords_unless_the_setting_shows_them(sqlite_db):
    said = f"someone used my card, IBAN {IBAN}, my password is hunter2"
    masked = "someone used my card, IBAN DE•• •••• 3000, my password is ••••••"
    async with start(sqlite_db) as svc, jar_session() as http, Customer(svc, http) as customer:
        await add_agent(svc.app.sessions, "ann", PASSWORD)
        await customer.says(said)
        esc = await escalation_of(svc, customer.label)
        async with svc.app.sessions.begin() as s:
            row = await s.get(m.Escalation, esc)
            row.reason_kind, row.reason = "confidence", f"the customer wrote: {said}"  # a reason quoting the text
            row.summary = f"Fraud report. {said}"
        assert (await log_in(http, svc.url, "ann", PASSWORD)).status == 302
        pages = {"page": f"{svc.url}/agent/escalations/{esc}", "queue": f"{svc.url}/agent",
                 "json": f"{svc.url}/agent/queue.json", "dashboard": f"{svc.url}/dashboard"}
        seen = {name: await get(http, url) for name, url in pages.items()}
        for name, text in seen.items():
            assert "3704" not in text and "0532" not in text and "hunter2" not in text, name
        assert f'<div class="text">{masked}</div>' in seen["page"] and f"<dd>Fraud report. {masked}</dd>" in seen["page"]
        assert f"the customer wrote: {masked}" in seen["queue"] and f"<td>{masked}</td>" in seen["dashboard"]
        assert json.loads(seen["json"])[0]["reason"] == f"the customer wrote: {masked}"
        [first] = await read_messages(http, f"{pages['page']}/events", 1)
        assert first["author"] == "customer" and first["text"] == masked

        svc.app.settings.handoff.show_payment_details_to_agents = True  # an operator who wants agents to see them
        assert f'<div class="text">{said}</div>' in await get(http, pages["page"])
        assert f"<td>{said}</td>" in await get(http, pages["dashboard"])
        assert json.loads(await get(http, pages["json"]))[0]["reason"] == f"the customer wrote: {said}"
        [first] = await read_messages(http, f"{pages['page']}/events", 1)
        assert first["text"] == said


HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][\w-]*[\s>/]|<!--")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def test_no_html_is_built_in_python_and_every_template_autoescapes():
    """Markup lives in bot/web/templates/ only: no string or f-string in bot/web/*.py holds a tag
    (docstrings aside), nothing is marked safe by hand, and the environment escapes every template."""
    found = []
    for path in sorted(WEB.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                    and HTML_TAG.search(node.value):
                found.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
        source = path.read_text(encoding="utf-8")
        if path.name != "render.py":
            found += [f"{path.name}: {word}" for word in ("Markup(", "html.escape", "import html", "|safe")
                      if word in source]
    assert not found, found
    assert ENV.autoescape is True
    for name in ENV.list_templates():
        source = ENV.loader.get_source(ENV, name)[0]
        assert "|safe" not in source.replace(" ", "") and "autoescape false" not in source, name
