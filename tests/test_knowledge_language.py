"""Articles in the customer's language (issue 19): the demo's German and French translations beside its
articles (examples/kb/<slug>.de.md, .fr.md), end to end with the demo's real classifier on both engines."""

from __future__ import annotations

from tests.helpers import say
from tests.harness.shop import app, settings, shop  # noqa: F401 - the demo app and its shop API


async def test_a_german_customer_gets_the_german_article_without_the_notice(app):  # noqa: F811
    r = await say(app, "Was ist der Unterschied zwischen dem Fjord 2 und dem Fjord 3 Zelt?")
    assert r.decision.route.value == "knowledge", r.decision
    text = r.reply.text
    assert "Mehr dazu in unserem Hilfe-Center:" in text and "More in our help centre" not in text, text
    assert not text.startswith(app.settings.language.unavailable["de"]), text


async def test_an_english_customer_still_gets_the_english_article(app):  # noqa: F811
    r = await say(app, "what's the difference between the Fjord 2 and the Fjord 3 tent?")
    assert r.decision.route.value == "knowledge", r.decision
    assert "More in our help centre:" in r.reply.text and "Hilfe-Center" not in r.reply.text


def test_the_demo_ships_every_article_in_german_and_french():
    from bot.pipeline.knowledge import KnowledgeBase
    from bot.settings import load_settings
    from tests.conftest import EXAMPLE_CONFIG

    base = KnowledgeBase.of(load_settings(EXAMPLE_CONFIG))
    missing = [(a.slug, code) for a in base.articles for code in ("de", "fr") if a.in_language(code) is None]
    assert base.articles and missing == []
