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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.classify.base import sparse_features
from bot.settings import ConfigError

INTENT_BONUS = 0.35
FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.S)


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    url: str
    body: str
    intents: tuple[str, ...] = ()

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


def parse_article(path: Path, known_intents: set[str] | None = None) -> Article:
    text = path.read_text(encoding="utf-8")
    m = FRONT.match(text)
    if not m:
        raise ConfigError(path, "", "expected front matter between '---' lines with title and url")
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as e:
        raise ConfigError(path, "front matter", f"invalid YAML: {e}") from None
    for key in ("title", "url"):
        if not isinstance(meta.get(key), str) or not meta[key].strip():
            raise ConfigError(path, key, "required in the front matter")
    intents = tuple(meta.get("intents") or ())
    for name in intents:
        if known_intents is not None and name not in known_intents:
            raise ConfigError(path, "intents", f"unknown intent {name!r}")
    return Article(slug=path.stem, title=meta["title"].strip(), url=meta["url"].strip(),
                   body=m.group(2).strip(), intents=intents)


class KnowledgeBase:
    def __init__(self, articles: list[Article]):
        self.articles = articles
        self._vectorizer: TfidfVectorizer | None = None
        if articles:
            self._vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english",
                                               strip_accents="unicode")
            docs = [f"{a.title} {a.title} {a.body}" for a in articles]
            # (terms x articles), dense: a query's few terms pick rows, one small product scores all
            self._by_term = np.ascontiguousarray(self._vectorizer.fit_transform(docs).T.toarray())
            self._features = sparse_features(self._vectorizer)

    @classmethod
    def load(cls, folder: Path, known_intents: set[str] | None = None) -> "KnowledgeBase":
        if not folder.is_dir():
            raise ConfigError(folder, "knowledge.path", "folder not found")
        return cls([parse_article(p, known_intents) for p in sorted(folder.glob("*.md"))])

    def search(self, text: str, intent: str | None = None, top_k: int = 3) -> list[Hit]:
        if not self._vectorizer or not text.strip():
            return []
        cols, vals = self._features(text)
        sims = vals @ self._by_term[cols] if len(cols) else np.zeros(len(self.articles))
        hits = []
        for article, sim in zip(self.articles, sims):
            score = float(sim) + (INTENT_BONUS if intent and intent in article.intents else 0.0)
            if score > 0:
                hits.append(Hit(article, round(min(1.0, score), 4)))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:top_k]


def answer_from(hit: Hit) -> str:
    """The knowledge route's reply: the article's gist and where to read more."""
    a = hit.article
    return f"{a.gist}\n\nMore in our help centre: {a.title} - {a.url}"
