"""Knowledge-base loading and retrieval."""

from __future__ import annotations

import pytest

from bot.pipeline.knowledge import KnowledgeBase, answer_from, parse_article
from bot.settings import ConfigError
from tests.helpers import mini_settings

S = mini_settings()


def kb() -> KnowledgeBase:
    return KnowledgeBase.load(S.path(S.knowledge.path), set(S.intents))


def test_retrieves_by_text():
    hits = kb().search("how long does express delivery take")
    assert hits[0].article.slug == "delivery" and hits[0].score > 0


def test_intent_bonus():
    hits = kb().search("send it back", intent="return_item")
    assert hits[0].article.slug == "returns" and hits[0].score >= 0.35


def test_answer_has_gist_and_link():
    text = answer_from(kb().search("returns", intent="return_item")[0])
    assert "within 30 days" in text and "https://shop.test/help/returns" in text and "## Details" not in text


def test_bad_front_matter(tmp_path):
    p = tmp_path / "x.md"
    p.write_text("no front matter")
    with pytest.raises(ConfigError, match="front matter"):
        parse_article(p)
    p.write_text("---\ntitle: T\n---\nbody")
    with pytest.raises(ConfigError) as e:
        parse_article(p)
    assert e.value.key == "url"


def test_unknown_intent_in_article(tmp_path):
    p = tmp_path / "x.md"
    p.write_text("---\ntitle: T\nurl: http://x\nintents: [nope]\n---\nbody")
    with pytest.raises(ConfigError, match="unknown intent 'nope'"):
        parse_article(p, {"a"})
