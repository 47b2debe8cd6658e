"""Routing rules: first match wins, and the reason says why with figures."""

from __future__ import annotations

from bot.messages import OUT_OF_SCOPE, Route, Signals
from bot.pipeline.policy import Facts, decide
from tests.helpers import cls, mini_settings

S = mini_settings()


def facts(c, s=Signals(), has_answer=None, article=0.0):  # noqa: ANN001
    if has_answer is None:
        has_answer = c.intent in S.answers
    return Facts(c, s, "console", has_answer=has_answer, article_score=article)


def test_confident_with_answer_goes_template():
    d = decide(facts(cls("order_status", 0.97)), S)
    assert d.route is Route.TEMPLATE and d.rule == "canned" and d.reason == "canned answer"


def test_low_confidence_goes_human_with_figures():
    d = decide(facts(cls("order_status", 0.62)), S)
    assert d.route is Route.HUMAN and d.rule == "low_confidence"
    assert d.reason == "confidence 0.62 < 0.90"


def test_critical_beats_everything():
    d = decide(facts(cls("fraud_report", 0.99), Signals(critical=True)), S)
    assert (d.route, d.rule) == (Route.HUMAN, "critical")
    assert "critical intent fraud_report" in d.reason


def test_anger_signal_reason():
    d = decide(facts(cls("order_status", 0.99), Signals(emotion=0.8, emotion_label="anger")), S)
    assert d.rule == "emotional" and d.reason == "signal: anger 0.80"


def test_frustration_is_not_anger():
    d = decide(facts(cls("order_status", 0.99), Signals(emotion=0.7, emotion_label="frustration")), S)
    assert d.route is Route.TEMPLATE


def test_out_of_scope_to_cheap_llm():
    d = decide(facts(cls(OUT_OF_SCOPE, 0.1)), S)
    assert d.route is Route.CHEAP_LLM and d.rule == "out_of_scope"


def test_complex_to_strong():
    d = decide(facts(cls("return_item", 0.95), Signals(complexity=0.7)), S)
    assert d.route is Route.STRONG_LLM and "complexity 0.70" in d.reason


def test_knowledge_when_article_scores():
    d = decide(facts(cls("return_item", 0.95), article=0.5), S)
    assert d.route is Route.KNOWLEDGE and d.reason == "article score 0.50"


def test_fallback_rule():
    d = decide(facts(cls("return_item", 0.95), article=0.1), S)
    assert d.route is Route.CHEAP_LLM and d.rule == "fallback" and d.reason == "default rule"


def test_no_rule_matches_is_human():
    s = mini_settings()
    s.policy.rules = s.policy.rules[:1]
    d = decide(facts(cls("order_status", 0.99)), s)
    assert d.route is Route.HUMAN and d.rule == "(none)"


def test_amount_over_sends_a_large_money_problem_to_a_person():
    from bot.settings_policy import Rule, When

    s = mini_settings()
    s.policy.rules = [Rule(name="large_sum", when=When(intent_in=["double_charged"], amount_over=200), route=Route.HUMAN),
                      *s.policy.rules]
    d = decide(facts(cls("double_charged", 0.97), Signals(amount=530.0)), s)
    assert (d.route, d.rule) == (Route.HUMAN, "large_sum") and "a sum of 530.00 > 200.00" in d.reason
    assert decide(facts(cls("double_charged", 0.97), Signals(amount=18.0)), s).rule != "large_sum"
    assert decide(facts(cls("payment_methods", 0.97), Signals(amount=1299.0)), s).rule != "large_sum"
