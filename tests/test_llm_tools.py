"""Shop actions offered to the LLMs as tools (issue 17), in each provider's own format, against the local
fakes of the three APIs (tests/fakes/llm_servers.py), which refuse what the real ones refuse: tools
that are not well formed, a tool result that answers no call, JSON mode beside Gemini's functions.

A model calls a tool, its result goes back, the model answers: every round is a priced model_calls
row. End to end, an LLM answer looks an order up with the demo shop's real API; a tool call for a
write that needs a yes hands the reply to the confirmation instead of the model's words; a tool
call's arguments pass the parameter's pattern like the customer's own words."""

from __future__ import annotations

import contextlib

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.db import models as m
from bot.llm.answer import ToolOutcome, generate_answer
from bot.llm.router import LLMRouter
from bot.llm.types import ToolCall, ToolSpec
from bot.settings import load_settings
from bot.settings_actions import MountedApp
from bot.web import apps
from tests.fakes.doubles import Collect, Scripted
from tests.fakes.llm_servers import (  # noqa: F401 - fixtures
    ENV, KEYS, RecordingSleep, calls_tool, db_sessions, http_client, llm_server, llm_settings, ok,
)
from tests.helpers import mini_settings
from tests.harness.pipeline import say

ROOT = Path(__file__).resolve().parents[1]
LOOKUP = ToolSpec("order_status", "Look up an order", {
    "type": "object", "properties": {"order_number": {"type": "string", "description": "NW-12345"}},
    "required": [], "additionalProperties": False})
ANSWER = json.dumps({"answer": "Your order NW-48213 is on its way with DHL.", "confidence": 0.95})
MODELS = {"openai": "oa-mini", "anthropic": "claude-small", "gemini": "gem-flash"}


def _results_sent(provider: str, body: dict) -> list:
    """The tool results a request carries, read in the provider's own format."""
    if provider == "openai":
        return [json.loads(x["content"]) for x in body["messages"] if x["role"] == "tool"]
    if provider == "anthropic":
        return [json.loads(b["content"]) for x in body["messages"] if isinstance(x["content"], list)
                for b in x["content"] if b.get("type") == "tool_result"]
    return [p["functionResponse"]["response"] for c in body["contents"] for p in c["parts"] if "functionResponse" in p]


def _tools_offered(provider: str, body: dict) -> list[str]:
    if provider == "openai":
        return [t["function"]["name"] for t in body.get("tools", [])]
    if provider == "anthropic":
        return [t["name"] for t in body.get("tools", [])]
    return [d["name"] for t in body.get("tools", []) for d in t["functionDeclarations"]]


@pytest.mark.parametrize("provider", list(MODELS))
async def test_a_tool_call_round_trips_in_each_providers_format(provider, llm_server, http_client, db_sessions):
    model = MODELS[provider]
    settings = llm_settings(llm_server.url, tiers={"cheap": [model]})
    router = LLMRouter(settings, http_client, db_sessions, env=ENV, sleep=RecordingSleep())
    llm_server.script(llm_server_model(settings, model), calls_tool("order_status", {"order_number": "NW-48213"}),
                      ok(ANSWER))
    seen: list[ToolCall] = []

    async def run(call: ToolCall) -> ToolOutcome:
        seen.append(call)
        return ToolOutcome({"status": "ok", "reply": "NW-48213 left the warehouse on Tuesday with DHL."})

    draft = await generate_answer(router, "cheap", system_prompt="You help.", articles=[], history=[],
                                  text="where is NW-48213?", tools=(LOOKUP,), run_tool=run, tool_rounds=2)
    assert draft.text == "Your order NW-48213 is on its way with DHL." and draft.rounds == 2
    assert [(c.name, c.arguments) for c in seen] == [("order_status", {"order_number": "NW-48213"})]
    first, second = llm_server.requests
    assert _tools_offered(provider, first.body)[:1] == ["order_status"]
    assert _results_sent(provider, second.body) == [{"status": "ok", "reply": "NW-48213 left the warehouse on "
                                                                                "Tuesday with DHL."}]
    async with db_sessions() as s:
        rows = (await s.scalars(select(m.ModelCall).order_by(m.ModelCall.id))).all()
    assert [(r.purpose, r.outcome) for r in rows] == [("answer", "ok"), ("answer", "ok")]
    assert all(r.cost_usd > 0 and r.input_tokens > 0 for r in rows)
    assert draft.cost_usd == pytest.approx(sum(r.cost_usd for r in rows))


def llm_server_model(settings, name: str) -> str:  # noqa: ANN001
    return settings.models[name].model or name


async def test_the_last_round_offers_no_tools_so_the_model_must_answer(llm_server, http_client, db_sessions):
    settings = llm_settings(llm_server.url, tiers={"cheap": ["oa-mini"]})
    router = LLMRouter(settings, http_client, db_sessions, env=ENV, sleep=RecordingSleep())
    llm_server.script("gpt-test-mini", calls_tool("order_status", {}), calls_tool("order_status", {}), ok(ANSWER))

    async def run(call: ToolCall) -> ToolOutcome:
        return ToolOutcome({"error": "no order number"})

    draft = await generate_answer(router, "cheap", system_prompt="", articles=[], history=[], text="where is it?",
                                  tools=(LOOKUP,), run_tool=run, tool_rounds=2)
    assert draft.rounds == 3 and draft.text.startswith("Your order")
    assert [bool(r.body.get("tools")) for r in llm_server.requests] == [True, True, False]


# --- end to end: the demo's actions as tools, the demo shop's API ----------------------------

@pytest.fixture
async def tool_app(db_url, llm_server, monkeypatch):  # noqa: F811
    """The mini app (everything to the cheap model) with the demo's order actions and order API."""
    async with _tool_app(db_url, llm_server, monkeypatch) as a:
        yield a


@pytest.fixture
async def tool_app_languages(db_url, llm_server, monkeypatch):  # noqa: F811
    """The same with the demo's languages: detection, and the actions' German and French words."""
    async with _tool_app(db_url, llm_server, monkeypatch, languages=True) as a:
        yield a


@contextlib.asynccontextmanager
async def _tool_app(db_url, llm_server, monkeypatch, languages: bool = False):  # noqa: ANN001, ANN202
    monkeypatch.setenv("TEST_KEY_SMALL", KEYS["openai"])
    monkeypatch.setenv("TEST_KEY_BIG", KEYS["anthropic"])
    demo = load_settings(ROOT / "examples" / "supportbot.yaml")
    settings = mini_settings()
    settings.database.url = db_url
    settings.models["small"].base_url = llm_server.url + "/v1"
    settings.models["big"].base_url = llm_server.url
    settings.llm.max_retries = 0
    settings.actions = {k: demo.actions[k] for k in ("order_status", "cancel_order")}
    if languages:
        settings.language, settings.action_words = demo.language, demo.action_words
    settings.apps = [MountedApp(path="/demo-shop", file=str(ROOT / "examples" / "shop_api.py"))]
    async with apps.served_alone(settings) as shop, App.open(settings, classifier=Scripted()) as a:
        a.actions.self_url = shop
        a.out = Collect()
        a.channels.register(a.out)
        yield a


def _verdict() -> object:
    return ok(json.dumps({"intent": "out_of_scope", "confidence": 0.9, "needs_human": False, "complexity": 0.1}))


async def _calls(app) -> list[m.ActionCall]:  # noqa: ANN001
    async with app.sessions() as s:
        return list((await s.scalars(select(m.ActionCall))).all())


async def test_an_llm_answer_looks_the_order_up_with_the_shops_api(tool_app, llm_server):
    llm_server.script("small", _verdict(), calls_tool("order_status", {"order_number": "nw 48213", "postcode": "1012ab"}),
                      ok(json.dumps({"answer": "It left on Tuesday with DHL; tracking JVGL0593812744.",
                                     "confidence": 0.95})))
    r = await say(tool_app, "hey, my lamp NW-48213 (postcode 1012 AB), where is it??", "e1")
    assert r.decision.route.value == "cheap_llm" and "tools: order_status: order_status: ok" in r.decision.reason
    assert tool_app.out.sent[-1].text.startswith("It left on Tuesday with DHL")
    (row,) = await _calls(tool_app)
    assert (row.action, row.status, row.params["order_number"]) == ("order_status", "ok", "NW-48213")
    fed = _results_sent("openai", llm_server.requests[-1].body)
    assert fed[0]["status"] == "ok" and "JVGL0593812744" in fed[0]["reply"]
    async with tool_app.sessions() as s:
        rounds = (await s.scalars(select(m.ModelCall).where(m.ModelCall.purpose == "answer"))).all()
    assert len(rounds) == 2 and all(c.cost_usd > 0 for c in rounds)


async def test_a_write_asked_for_by_the_model_waits_for_the_customers_yes(tool_app, llm_server):
    llm_server.script("small", _verdict(), calls_tool("cancel_order", {"order_number": "NW-51207", "postcode": "75011"}))
    r = await say(tool_app, "cancel NW-51207 please, postcode 75011", "e1")
    assert r.decision.route.value == "clarify" and "asked to confirm" in r.decision.reason
    assert "Cancel order NW-51207?" in tool_app.out.sent[-1].text and await _calls(tool_app) == []
    assert len(llm_server.requests_for("small")) == 2  # the confirmation took over: no second answer round


async def test_a_tool_argument_that_is_no_order_number_is_asked_for_again(tool_app, llm_server):
    llm_server.script("small", _verdict(), calls_tool("order_status", {"order_number": "my last one", "postcode": "x"}))
    r = await say(tool_app, "where's my last parcel", "e1")
    assert r.decision.route.value == "clarify" and "order number" in tool_app.out.sent[-1].text
    assert await _calls(tool_app) == []


async def test_a_write_the_model_asks_for_is_confirmed_in_the_customers_language(tool_app_languages, llm_server):
    tool_app = tool_app_languages
    llm_server.script("small", _verdict(), calls_tool("cancel_order", {"order_number": "NW-51207", "postcode": "75011"}))
    r = await say(tool_app, "Bonjour, pouvez-vous annuler ma commande NW-51207 s'il vous plaît ? Code postal 75011", "e1")
    assert r.decision.route.value == "clarify" and "asked to confirm" in r.decision.reason
    assert "Annuler la commande NW-51207 ?" in tool_app.out.sent[-1].text, tool_app.out.sent[-1].text
    assert await _calls(tool_app) == []
