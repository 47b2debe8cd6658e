"""The LLM classifier stage and generated answers, through the router and the local fake."""

from __future__ import annotations

import json

import pytest

from bot.classify.llm import LLMClassifier
from bot.llm.answer import generate_answer
from bot.llm.router import LLMRouter
from bot.llm.types import ChatTurn, Spend, TierUnavailable
from tests.fakes.llm_servers import (  # noqa: F401
    ENV, FakeClock, RecordingSleep, db_sessions, http_client, llm_server, llm_settings, ok,
)

INTENTS = {"order_status": "where an order is, when it arrives", "refund": "money back for an order",
           "cancel_account": "close the customer's account"}
HISTORY = [ChatTurn("user", "hi"), ChatTurn("assistant", "Hello! How can I help?")]
ARTICLES = [("Refund policy", "https://acme.test/kb/refunds", "Refunds are paid within 14 days of the return."),
            ("Shipping times", "https://acme.test/kb/shipping", "Orders ship in 2 business days.")]


def make_router(srv, client, sessions, env=ENV) -> LLMRouter:
    return LLMRouter(llm_settings(srv.url), client, sessions, clock=FakeClock(), sleep=RecordingSleep(),
                     rng=lambda: 0.5, env=dict(env))


def verdict(intent: str, confidence: float = 0.8, needs_human: bool = False, complexity: float = 0.2) -> str:
    return json.dumps({"intent": intent, "confidence": confidence, "needs_human": needs_human,
                       "complexity": complexity})


@pytest.fixture
def classifier(llm_server, http_client, db_sessions) -> LLMClassifier:
    return LLMClassifier(make_router(llm_server, http_client, db_sessions), INTENTS, tier="cheap")


async def test_valid_json_gives_a_classification(llm_server, classifier):
    llm_server.script("gpt-test-mini", ok(verdict("refund", 0.82, needs_human=True, complexity=0.6)))
    spend = Spend()
    c = await classifier.classify("I want my money back", HISTORY, spend=spend)
    assert (c.intent, c.confidence, c.stage, c.model_version) == ("refund", 0.82, "llm", "oa-mini")
    assert c.needs_human is True and c.complexity == 0.6 and c.top == (("refund", 0.82),)
    assert spend.calls == 1 and spend.cost_usd > 0
    (rec,) = llm_server.requests
    assert rec.body["temperature"] == 0.0 and rec.body["response_format"]["type"] == "json_schema"
    schema = rec.body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["intent"]["enum"] == [*INTENTS, "out_of_scope"]  # the model can only name one
    system = rec.body["messages"][0]["content"]
    for name, desc in INTENTS.items():
        assert f"- {name}: {desc}" in system
    assert "out_of_scope" in system
    user = rec.body["messages"][1]["content"]
    assert "I want my money back" in user and "support: Hello! How can I help?" in user


async def test_fenced_json_and_intent_case_are_tolerated(llm_server, classifier):
    llm_server.script("gpt-test-mini", ok("```json\n" + verdict("Order_Status", 0.7) + "\n```"))
    c = await classifier.classify("where is my parcel", [])
    assert c.intent == "order_status" and c.confidence == 0.7


async def test_invalid_json_is_retried_once_with_a_correction(llm_server, classifier):
    llm_server.script("gpt-test-mini", ok("I think it is a refund."), ok(verdict("refund", 0.9)))
    c = await classifier.classify("money back please", [])
    assert c.intent == "refund"
    second = llm_server.requests[1].body["messages"]
    assert second[-2] == {"role": "assistant", "content": "I think it is a refund."}
    assert second[-1]["role"] == "user" and "Invalid" in second[-1]["content"]


async def test_invalid_json_twice_is_unsure(llm_server, classifier):
    llm_server.script("gpt-test-mini", ok("not json"), ok('{"intent": "refund"'))
    assert await classifier.classify("money back please", []) is None
    assert len(llm_server.requests) == 2


async def test_unknown_intent_is_corrected_or_unsure(llm_server, classifier):
    llm_server.script("gpt-test-mini", ok(verdict("billing_dispute")), ok(verdict("out_of_scope", 0.6)))
    c = await classifier.classify("tell me a joke", [])
    assert c.intent == "out_of_scope" and c.out_of_scope
    assert "'billing_dispute' is not one of the intent names" in llm_server.requests[1].body["messages"][-1]["content"]
    llm_server.script("gpt-test-mini", ok(verdict("weather")), ok(verdict("weather")))
    assert await classifier.classify("is it raining", []) is None


async def test_out_of_range_confidence_is_invalid(llm_server, classifier):
    llm_server.script("gpt-test-mini", ok(verdict("refund", 7)), ok(verdict("refund", 1.5)))
    assert await classifier.classify("refund", []) is None


async def test_tier_down_is_unsure_not_an_error(llm_server, http_client, db_sessions):
    clf = LLMClassifier(make_router(llm_server, http_client, db_sessions, env={}), INTENTS)
    assert await clf.classify("refund", []) is None and llm_server.requests == []


async def test_answer_is_grounded_and_reports_confidence(llm_server, http_client, db_sessions):
    router = make_router(llm_server, http_client, db_sessions)
    llm_server.script("gpt-test-big", ok(json.dumps({
        "answer": "Refunds are paid within 14 days: https://acme.test/kb/refunds", "confidence": 0.93})))
    spend = Spend()
    d = await generate_answer(router, "strong", system_prompt="You are Acme's assistant.", articles=ARTICLES,
                              history=HISTORY, text="When do I get my refund?", message_id=None, spend=spend)
    assert d.text.startswith("Refunds are paid within 14 days") and d.confidence == 0.93 and d.model == "oa-big"
    assert d.cost_usd > 0 and d.counterfactual_usd == pytest.approx(d.cost_usd) and spend.cost_usd == d.cost_usd
    (rec,) = llm_server.requests
    system = rec.body["messages"][0]["content"]
    assert system.startswith("You are Acme's assistant.")
    for title, url, body in ARTICLES:
        assert title in system and url in system and body in system
    assert "ONLY from the knowledge-base articles" in system and "Cite the URL" in system
    assert [m["role"] for m in rec.body["messages"]] == ["system", "user", "assistant", "user"]
    assert rec.body["messages"][-1]["content"] == "When do I get my refund?"
    assert rec.body["response_format"]["json_schema"]["name"] == "support_answer"


async def test_answer_without_json_goes_to_review(llm_server, http_client, db_sessions):
    router = make_router(llm_server, http_client, db_sessions)
    llm_server.script("gpt-test-mini", ok("Orders ship in 2 business days."))
    d = await generate_answer(router, "cheap", system_prompt="Be brief.", articles=ARTICLES, history=[],
                              text="how long is shipping")
    assert d.text == "Orders ship in 2 business days." and d.confidence == 0.0 and d.model == "oa-mini"
    assert d.counterfactual_usd > d.cost_usd  # the same tokens on the strong model cost more


async def test_answer_over_anthropic_asks_for_json_in_the_prompt(llm_server, http_client, db_sessions):
    router = make_router(llm_server, http_client, db_sessions)
    llm_server.script("gpt-test-mini", "401")
    llm_server.script("claude-test", ok('{"answer": "Within 14 days.", "confidence": 0.7}'))
    d = await generate_answer(router, "cheap", system_prompt="Be brief.", articles=[], history=HISTORY,
                              text="refund when?")
    assert (d.text, d.confidence, d.model) == ("Within 14 days.", 0.7, "claude-small")
    rec = llm_server.requests_for("claude-test")[0]
    assert '"confidence"' in rec.body["system"] and "No knowledge-base article matched" in rec.body["system"]


async def test_answer_propagates_tier_unavailable(llm_server, http_client, db_sessions):
    router = make_router(llm_server, http_client, db_sessions, env={})
    with pytest.raises(TierUnavailable):
        await generate_answer(router, "strong", system_prompt="x", articles=ARTICLES, history=[], text="hi")
