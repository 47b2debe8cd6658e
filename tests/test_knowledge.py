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


def _translated_kb(tmp_path, **extra: str):  # noqa: ANN202
    (tmp_path / "returns.md").write_text("---\ntitle: Returns\nurl: https://shop.test/help/returns\nintents: [return_item]\n"
                                         "---\nYou can return anything within 30 days.\n\n## Details\nFree.\n")
    (tmp_path / "returns.de.md").write_text("---\ntitle: Rücksendungen\nurl: https://shop.test/de/hilfe/ruecksendung\n---\n"
                                            "Sie können alles innerhalb von 30 Tagen zurücksenden.\n")
    (tmp_path / "returns.fr.md").write_text("---\ntitle: Retours\n---\nVous pouvez tout retourner sous 30 jours.\n")
    for name, text in extra.items():
        (tmp_path / name).write_text(text)
    return KnowledgeBase.load(tmp_path, {"return_item"}, {"de", "fr"})


def test_a_translation_sits_beside_its_article_and_keeps_its_intents(tmp_path):
    base = _translated_kb(tmp_path)
    (article,) = base.articles  # the translations are not articles of their own
    assert article.in_language("de").title == "Rücksendungen" and article.in_language("de").intents == ("return_item",)
    assert article.in_language("fr").url == "https://shop.test/help/returns"  # no url of its own: the article's
    assert article.in_language("es") is None
    hit = base.search("Ich möchte etwas zurücksenden")[0]  # the German words find it, no intent needed
    assert hit.article.slug == "returns"
    assert answer_from(hit, "Mehr in unserem Hilfe-Center", "de") == (
        "Sie können alles innerhalb von 30 Tagen zurücksenden.\n\n"
        "Mehr in unserem Hilfe-Center: Rücksendungen - https://shop.test/de/hilfe/ruecksendung")
    assert answer_from(hit, language="es").startswith("You can return anything within 30 days.")


@pytest.mark.parametrize("name,text,says", [
    ("delivery.de.md", "---\ntitle: Lieferung\n---\nBald.\n", "delivery.md, which is not in the folder"),
    ("returns.es.md", "---\ntitle: Devoluciones\n---\nSí.\n", "'es', which is not one of language.detect's other languages"),
    ("returns.it.md", "---\ntitle: Resi\nintents: [return_item]\n---\nSì.\n", "not one of language.detect"),
])
def test_a_bad_translation_names_its_file_and_why(tmp_path, name, text, says):
    with pytest.raises(ConfigError) as e:
        _translated_kb(tmp_path, **{name: text})
    assert name in str(e.value) and says in str(e.value)


def test_a_translation_may_not_list_intents_of_its_own(tmp_path):
    with pytest.raises(ConfigError) as e:
        _translated_kb(tmp_path, **{"returns.de.md": "---\ntitle: R\nintents: [return_item]\n---\nJa.\n"})
    assert "returns.de.md" in str(e.value) and "takes the intents of returns.md" in str(e.value)
