"""Issue 19: a model without structured output answers in plain text; the cascade's confidence is used
and the decision row says so (the fake answers plain text, as a local server often does)."""

from __future__ import annotations

from bot.db import models as m
from tests.fakes.llm_servers import llm_server, ok  # noqa: F401 - fixture
from tests.harness.pipeline import rows, say
from tests.harness.llm_app import app, verdict  # noqa: F401 - fixture


async def test_a_plain_text_answer_is_sent_with_the_cascades_confidence(app):  # noqa: F811
    app.llm.script("small", verdict(confidence=0.95), ok("We don't forecast the weather, sorry!"))
    r = await say(app, "what's the weather?", "e1")
    assert r.decision.route.value == "cheap_llm"
    assert "plain-text answer, confidence 0.95 from the classifier" in r.decision.reason
    assert app.out.sent[-1].text == "We don't forecast the weather, sorry!"
    [d] = await rows(app, m.RouteDecision)
    assert "plain-text answer" in d.reason


async def test_a_plain_text_answer_under_the_review_threshold_is_held(app):  # noqa: F811
    app.llm.script("small", verdict(confidence=0.5), ok("Maybe it rains."))
    r = await say(app, "what's the weather?", "e1")
    assert r.decision.route.value == "human" and "held for review: draft confidence 0.50 < 0.90" in r.decision.reason
