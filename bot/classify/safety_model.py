"""The learned half of the safety detector: harm and money cases recognised by what a message means.

The concept frames in bot/classify/safety.py find the wordings someone thought of; customers describe the
same events in words nobody listed ("the lamp bit me when I plugged it in", "came up in red
blotches after the serum", "I've been made redundant and can't make the instalment"). This model
reads the sentence embedding the default classifier already computes (all-MiniLM-L6-v2, see
bot/classify/minilm.py) and was trained on

* positives: bot/classify/safety_examples.yaml, a few dozen varied phrasings per category, and
* negatives: the shop's own routine intent examples, its off-topic examples and the alarming-
  sounding routine messages in the same file ("is the heater safe overnight?", "battery won't charge").

It is a multinomial logistic regression over the categories plus ``none``; ``p_harm`` is
1 - P(none). Training costs a few seconds of encoding, so the fitted weights are kept in the model
cache (classifier.cache_dir) under a hash of the examples, and in memory for the process.
Without the encoder package (the tfidf classifier kind on a light install) there is no model and
the frames work alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

NONE = "none"
# a reading by meaning needs a sentence to read: "lol ok" and "." gave the anger head 0.9 and the safety
# head a possible distress 0.35 on a held-out set; the word cues still read short outbursts ("WTF!!!")
MEANING_MIN_WORDS = 3
RECIPE = "safety-meaning-v1"  # change when the features or the fit change, so caches are rebuilt
Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Reading:
    p_harm: float  # 1 - P(none)
    category: str  # the most probable harm category
    p_category: float


class MeaningModel:
    """Weights of the fitted head; `read` takes one embedding (or encodes the text)."""

    def __init__(self, categories: Sequence[str], coef: np.ndarray, intercept: np.ndarray, encoder: Encoder) -> None:
        self.classes = list(categories) + [NONE]
        self.coef = np.asarray(coef, dtype=np.float64)  # (dim, classes)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.encoder = encoder

    def read(self, text: str, embedding: np.ndarray | None = None) -> Reading:
        emb = embedding if embedding is not None else self.encoder([text])[0]
        return self._reading(emb)

    def read_all(self, texts: Sequence[str]) -> list[Reading]:
        """One reading per text, encoded together (the encoder packs a batch side by side)."""
        return [self._reading(e) for e in self.encoder(list(texts))] if texts else []

    def _reading(self, emb: np.ndarray) -> Reading:
        z = np.asarray(emb, dtype=np.float64) @ self.coef + self.intercept
        e = np.exp(z - z.max())
        p = e / e.sum()
        harm = p[:-1]
        best = int(harm.argmax())
        return Reading(round(float(1.0 - p[-1]), 4), self.classes[best], round(float(harm[best]), 4))

    # --- fitting ----------------------------------------------------------------------------
    @classmethod
    def train(cls, positives: dict[str, list[str]], negatives: Sequence[str], encoder: Encoder,
              cache_dir: str | Path | None = None, fixed: Sequence[str] = ()) -> "MeaningModel":
        """fixed: the texts that come with supportbot (not the shop's): their vectors are kept on disk
        in cache_dir, so a shop with a new config encodes only its own examples."""
        cats = sorted(c for c, ex in positives.items() if ex)
        pos = [(t, c) for c in cats for t in dict.fromkeys(positives[c])]
        seen = {t for t, _ in pos}
        negs = [n for n in dict.fromkeys(str(x) for x in negatives) if n.strip() and n not in seen]
        key = _hash(pos, negs)
        if key in _MEMORY:
            coef, intercept = _MEMORY[key]
            return cls(cats, coef, intercept, encoder)
        path = Path(cache_dir) / f"safety-{key[:16]}.npz" if cache_dir else None
        if path is not None and path.exists():
            try:
                with np.load(path) as z:
                    if list(z["classes"]) == cats + [NONE]:
                        _MEMORY[key] = (z["coef"], z["intercept"])
                        return cls(cats, z["coef"], z["intercept"], encoder)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("safety model cache %s unreadable (%s): training again", path, exc)
        texts = [t for t, _ in pos] + negs
        x = _embeddings(texts, encoder, cache_dir, fixed)
        coef, intercept = _fit(x, [c for _, c in pos] + [NONE] * len(negs), cats)
        _MEMORY[key] = (coef, intercept)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, coef=coef, intercept=intercept, classes=np.array(cats + [NONE]))
                tmp.replace(path)
            except OSError as exc:  # a read-only cache is not fatal: the model is in memory
                log.warning("could not keep the safety model in %s: %s", path, exc)
        return cls(cats, coef, intercept, encoder)


_MEMORY: dict[str, tuple[np.ndarray, np.ndarray]] = {}

# The fit: L2 logistic regression. The `none` class carries as much total weight as all harm
# categories together, so a category with 40 examples is not drowned by 2,000 routine ones, and
# the harm side is not 16 times louder than the routine side either.
C = 16.0


def _embeddings(texts: list[str], encoder: Encoder, cache_dir: str | Path | None, fixed: Sequence[str]) -> np.ndarray:
    """Vectors for texts; those in `fixed` from (or into) one file in cache_dir keyed by their hash."""
    keep = list(dict.fromkeys(fixed))
    known: dict[str, np.ndarray] = {}
    if cache_dir and keep:
        h = hashlib.sha256((RECIPE + "\n" + "\n".join(keep)).encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"safety-vectors-{h}.npy"
        vecs = None
        if path.exists():
            try:
                vecs = np.load(path)
                if vecs.shape[0] != len(keep):
                    vecs = None
            except (OSError, ValueError) as exc:
                log.warning("safety vectors %s unreadable (%s): encoding again", path, exc)
        if vecs is None:
            vecs = np.asarray(encoder(keep), dtype=np.float32)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, vecs)
                tmp.replace(path)
            except OSError as exc:
                log.warning("could not keep the safety vectors in %s: %s", path, exc)
        known = dict(zip(keep, vecs))
    rest = [t for t in dict.fromkeys(texts) if t not in known]
    if rest:
        known.update(zip(rest, np.asarray(encoder(rest), dtype=np.float32)))
    return np.stack([known[t] for t in texts]).astype(np.float64)


def _fit(x: np.ndarray, labels: list[str], cats: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    y = np.array([cats.index(c) if c != NONE else len(cats) for c in labels])
    n_pos = int((y < len(cats)).sum())
    n_neg = int((y == len(cats)).sum())
    w = np.where(y == len(cats), n_pos / max(n_neg, 1), 1.0)
    clf = LogisticRegression(C=C, max_iter=2000)
    clf.fit(x, y, sample_weight=w)
    coef = np.zeros((x.shape[1], len(cats) + 1))
    intercept = np.full(len(cats) + 1, -1e3)  # a class with no examples never wins
    if len(clf.classes_) == 2:  # binary: sklearn keeps one row, the log-odds of classes_[1]
        low, high = clf.classes_
        coef[:, high], intercept[high] = clf.coef_[0], clf.intercept_[0]
        intercept[low] = 0.0
    else:
        for j, cls_ in enumerate(clf.classes_):
            coef[:, cls_] = clf.coef_[j]
            intercept[cls_] = clf.intercept_[j]
    return coef, intercept


def _hash(pos: list[tuple[str, str]], negs: list[str]) -> str:
    h = hashlib.sha256(RECIPE.encode())
    h.update(json.dumps([pos, negs], ensure_ascii=False).encode())
    h.update(str(C).encode())
    return h.hexdigest()


def encoder_or_none() -> Encoder | None:
    """The shared MiniLM encoder when its package is installed, else None (the frames work alone)."""
    from bot.classify import minilm

    if minilm.extra_problem() is not None:
        return None
    return lambda texts: minilm.shared_encoder().encode(list(texts))


# ------------------------------------------------------------------- without the encoder: words

def _tokens(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9£$€']+", text.lower())
    return words + [a + " " + b for a, b in zip(words, words[1:])]


@dataclass
class WordModel:
    """The light install's stand-in for MeaningModel (no encoder package): binary logistic regression
    (a safety case vs routine) over word uni+bigrams with sublinear TF-IDF, scored in plain Python with the fitted idf and weights (sklearn's per-call overhead is ~ms)."""
    idf: dict[str, float]
    coef: dict[str, float]
    intercept: float

    def probability(self, text: str) -> float:
        counts: dict[str, int] = {}
        for tok in _tokens(text):
            if tok in self.idf:
                counts[tok] = counts.get(tok, 0) + 1
        if not counts:
            return 0.0
        weights = {t: (1 + math.log(c)) * self.idf[t] for t, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in weights.values())) or 1.0
        z = self.intercept + sum(self.coef.get(t, 0.0) * v for t, v in weights.items()) / norm
        return 1.0 / (1.0 + math.exp(-z))


def train_words(positives: dict[str, list[str]], negatives: Sequence[str]) -> WordModel | None:
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return None
    texts = [e for examples in positives.values() for e in examples]
    labels = [1] * len(texts)
    negs = [n for n in dict.fromkeys(negatives) if n.strip() and n not in set(texts)]
    texts += negs
    labels += [0] * len(negs)
    if not negs or not any(labels):
        return None
    vec = TfidfVectorizer(analyzer=_tokens, sublinear_tf=True)
    x = vec.fit_transform(texts)
    clf = LogisticRegression(C=4.0, solver="liblinear", class_weight="balanced")
    clf.fit(x, labels)
    row = clf.coef_[0]
    coef = {tok: float(row[i]) for tok, i in vec.vocabulary_.items() if row[i]}
    idf = {tok: float(vec.idf_[i]) for tok, i in vec.vocabulary_.items()}
    return WordModel(idf, coef, float(clf.intercept_[0]))
