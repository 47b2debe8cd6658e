"""Knowledge base: markdown articles with front matter, retrieved by TF-IDF cosine.

An article file looks like:

    ---
    title: Delivery times and costs
    url: https://help.example/delivery
    intents: [delivery_time]
    ---
    First paragraph: the gist, shown to the customer with the link.

    ## Details ...

Retrieval scores the message against title + body (cosine over word 1-2-grams); an article
that lists the classified intent gets a bonus, so a confident intent finds its article.

Translations sit beside the article as `<slug>.<language>.md` (delivery-times-and-costs.de.md), with a
title, optionally their own url, and the translated body; they inherit the article's intents. Their words
are indexed with the article's, so a German question finds it, and the customer gets the gist in their
language when the article has it (else the default one's, after language.unavailable).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.classify.base import sparse_features
from bot.settings import ConfigError, Settings

INTENT_BONUS = 0.35
FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.S)
TRANSLATION = re.compile(r"\A(?P<slug>.+)\.(?P<code>[a-z]{2,3})\Z")  # the stem of <slug>.<language>.md


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    url: str
    body: str
    intents: tuple[str, ...] = ()
    translations: tuple[tuple[str, "Article"], ...] = ()  # (language, the article in it)

    def in_language(self, code: str) -> "Article | None":
        """The article translated into `code`, if it has that translation."""
        return next((a for c, a in self.translations if c == code), None)

    @property
    def gist(self) -> str:
        """The first paragraph: written to answer the question on its own."""
        for block in re.split(r"\n\s*\n", self.body.strip()):
            block = block.strip()
            if block and not block.startswith("#"):
                return " ".join(line.strip() for line in block.splitlines())
        return self.title


@dataclass(frozen=True)
class Hit:
    article: Article
    score: float


def parse_article(path: Path, known_intents: set[str] | None = None, translating: Article | None = None) -> Article:
    """An article file; `translating`: the article this file translates (its url is the default, its intents
    are kept, and the file may not list its own)."""
    text = path.read_text(encoding="utf-8")
    m = FRONT.match(text)
    if not m:
        raise ConfigError(path, "", "expected front matter between '---' lines with title and url")
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as e:
        raise ConfigError(path, "front matter", f"invalid YAML: {e}") from None
    if translating is not None:
        if meta.get("intents"):
            raise ConfigError(path, "intents", f"a translation takes the intents of {translating.slug}.md; leave them out")
        meta.setdefault("url", translating.url)
    for key in ("title", "url"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise ConfigError(path, key, "required in the front matter")
    intents = translating.intents if translating is not None else tuple(meta.get("intents") or ())
    for name in intents:
        if known_intents is not None and name not in known_intents:
            raise ConfigError(path, "intents", f"unknown intent {name!r}")
    return Article(slug=translating.slug if translating is not None else path.stem, title=meta["title"].strip(),
                   url=meta["url"].strip(), body=m.group(2).strip(), intents=intents)


class KnowledgeBase:
    def __init__(self, articles: list[Article]):
        self.articles = articles
        self._vectorizer: TfidfVectorizer | None = None
        self._translated: tuple[Callable[[str], tuple[np.ndarray, np.ndarray]], np.ndarray, np.ndarray] | None = None
        # ^ the translations' (features, terms x translations, the article each translates)
        if articles:
            self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english",
                                               strip_accents="unicode")
            docs = [f"{a.title} {a.title} {a.body}" for a in articles]
            # (terms x articles), dense: a query's few terms pick rows, one small product scores all
            self._by_term = np.ascontiguousarray(self._vectorizer.fit_transform(docs).T.toarray())
            self._features = sparse_features(self._vectorizer)
        # the translations have an index of their own, so the default language's scores stay as they are
        owned = [(i, t) for i, a in enumerate(articles) for _, t in a.translations]
        if owned:
            words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode")
            matrix = words.fit_transform([f"{t.title} {t.title} {t.body}" for _, t in owned]).T.toarray()
            self._translated = (sparse_features(words), np.ascontiguousarray(matrix), np.array([i for i, _ in owned]))

    @classmethod
    def of(cls, settings: Settings) -> "KnowledgeBase":
        """The config's knowledge base: knowledge.path, its intents, translations into language.detect's others."""
        languages = set(settings.language.detect) - {settings.language.default}
        return cls.load(settings.path(settings.knowledge.path), set(settings.intents), languages)

    @classmethod
    def load(cls, folder: Path, known_intents: set[str] | None = None,
             languages: set[str] | None = None) -> "KnowledgeBase":
        """The folder's articles and their translations; languages: those a translation may be in (the
        config's other languages; None: any)."""
        if not folder.is_dir():
            raise ConfigError(folder, "knowledge.path", "folder not found")
        files = sorted(folder.glob("*.md"))
        split = {p: TRANSLATION.match(p.stem) for p in files}
        articles = {p.stem: parse_article(p, known_intents) for p in files if not split[p]}
        translations: dict[str, list[tuple[str, Article]]] = {}
        for p, m in split.items():
            if m is None:
                continue
            original = articles.get(m["slug"])
            if original is None:
                raise ConfigError(p, "", f"a translation of {m['slug']}.md, which is not in the folder")
            if languages is not None and m["code"] not in languages:
                raise ConfigError(p, "", f"a translation into {m['code']!r}, which is not one of language.detect's "
                                         f"other languages ({', '.join(sorted(languages)) or 'none'})")
            translations.setdefault(m["slug"], []).append((m["code"], parse_article(p, known_intents, original)))
        return cls([dataclasses.replace(a, translations=tuple(translations.get(slug, ()))) for slug, a in articles.items()])

    def search(self, text: str, intent: str | None = None, top_k: int = 3) -> list[Hit]:
        if not self._vectorizer or not text.strip():
            return []
        cols, vals = self._features(text)
        sims = vals @ self._by_term[cols] if len(cols) else np.zeros(len(self.articles))
        if self._translated is not None:  # an article scores as well as its best translation
            features, by_term, owner = self._translated
            tcols, tvals = features(text)
            if len(tcols):
                np.maximum.at(sims, owner, tvals @ by_term[tcols])
        hits = []
        for article, sim in zip(self.articles, sims):
            score = float(sim) + (INTENT_BONUS if intent and intent in article.intents else 0.0)
            if score > 0:
                hits.append(Hit(article, round(min(1.0, score), 4)))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:top_k]


def answer_from(hit: Hit, more: str = "More in our help centre", language: str = "") -> str:
    """The knowledge route's reply: the article's gist and where to read more (`more`), in `language` when the
    article has that translation (else in the default language)."""
    a = (hit.article.in_language(language) if language else None) or hit.article
    return f"{a.gist}\n\n{more}: {a.title} - {a.url}"
