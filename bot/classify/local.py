"""The local intent classifier: TF-IDF word + char_wb n-grams and a logistic regression.

The `tfidf` kind (the default is `embeddings`, bot/classify/embeddings.py, which builds on
these features). About 0.3 ms per message on one core. The intent is OUT_OF_SCOPE when the
model's out_of_scope class wins (trained on off-topic examples labelled out_of_scope) or the
best real intent's probability is under `oos_threshold`; confidence and `top` still show the
real candidates for the next stage of the cascade. Models are saved with joblib (a pickle:
load only models you wrote) plus meta.json; `load_or_train` caches them under
cache_dir/<data_hash>/ so unchanged training data is not retrained on restart.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import joblib
import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from bot.classify import OOS_THRESHOLD_BY_KIND
from bot.classify.calibration import Calibrator
from bot.messages import OUT_OF_SCOPE, Classification
from bot.csvfile import open_csv

log = logging.getLogger(__name__)

# Bump when the features or the model change: it is part of data_hash, so cached models
# trained with an older recipe are not reused.
RECIPE = "tfidf-w12-cwb25md2-lr-c20-f32-v1"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
DEFAULT_OOS_THRESHOLD = OOS_THRESHOLD_BY_KIND["tfidf"]
DEFAULT_MAX_CHARS = 4000
TOP_K = 3


def build_pipeline(c: float = 20.0) -> Pipeline:
    """The feature recipe (see bench/classifier.py for what was tried and measured)."""
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True, strip_accents="unicode")
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                            lowercase=True, strip_accents="unicode", min_df=2)
    return Pipeline([
        ("features", FeatureUnion([("words", words), ("chars", chars)], n_jobs=1)),
        ("model", LogisticRegression(C=c, max_iter=3000)),
    ])


def sparse_features(union: FeatureUnion | TfidfVectorizer) -> Callable[[str], tuple[np.ndarray, np.ndarray]]:
    """One text -> (column indices, values) of the fitted union's (or vectorizer's) output, without
    sklearn's per-call overhead: per vectorizer the sublinear tf * idf, L2-normed, stacked."""
    blocks, offset = [], 0
    vectorizers = [v for _, v in union.transformer_list] if isinstance(union, FeatureUnion) else [union]
    for vec in vectorizers:
        if not (vec.sublinear_tf and vec.norm == "l2" and vec.use_idf):
            raise ValueError("sparse_features needs sublinear_tf, use_idf and l2 norm")
        blocks.append((vec.build_analyzer(), vec.vocabulary_, vec.idf_, offset))
        offset += len(vec.vocabulary_)

    def features(text: str) -> tuple[np.ndarray, np.ndarray]:
        cols, vals = [], []
        for analyze, vocab, idf, off in blocks:
            counts: dict[int, int] = {}
            for tok in analyze(text):
                j = vocab.get(tok)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if counts:
                idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
                w = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))) * idf[idx]
                norm = np.sqrt(w @ w)
                cols.append(idx + off)
                vals.append(w / norm if norm > 0 else w)
        if not cols:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        return np.concatenate(cols), np.concatenate(vals)

    return features


def _fast_path(pipeline: Pipeline) -> Callable[[str], npt.NDArray[np.float64]] | None:
    """Single-message scoring without sklearn's per-call validation (about 5x faster).

    Computes what the pipeline computes: the sparse features above, then the logistic
    regression's softmax (or sigmoid for 2 classes). Returns None for a pipeline of another
    shape; tests check it against pipeline.predict_proba.
    """
    try:
        union, model = pipeline.named_steps["features"], pipeline.named_steps["model"]
        width = 0
        for _, vec in union.transformer_list:
            if not (isinstance(vec, TfidfVectorizer) and vec.sublinear_tf and vec.norm == "l2"
                    and vec.use_idf and not vec.binary):
                return None
            width += len(vec.vocabulary_)
        if not isinstance(model, LogisticRegression) or model.coef_.shape[1] != width:
            return None
    except (AttributeError, KeyError, TypeError):
        return None
    features = sparse_features(union)
    coef_t = np.ascontiguousarray(model.coef_.T)  # (n_features, n_rows), float32
    intercept = np.asarray(model.intercept_, dtype=np.float64)

    def score(text: str) -> npt.NDArray[np.float64]:
        cols, vals = features(text)
        z = intercept.copy()
        if cols.size:
            z += vals @ coef_t[cols]
        if z.shape[0] == 1:  # binary: sigmoid of the one decision value
            p1 = 1.0 / (1.0 + np.exp(-z[0]))
            return np.array([1.0 - p1, p1])
        e = np.exp(z - z.max())
        probs: npt.NDArray[np.float64] = e / e.sum()
        return probs

    return score


def oos_index(classes: Sequence[str]) -> int | None:
    """The column of the explicit out_of_scope class (trained on off-topic examples), if any."""
    return list(classes).index(OUT_OF_SCOPE) if OUT_OF_SCOPE in classes else None


class Scored(Protocol):
    """What to_classification reads of the model that produced the probabilities (either kind)."""

    calibrator: Calibrator | None
    oos_threshold: float
    _real_classes: list[str]  # the classes without out_of_scope, in column order

    @property
    def model_version(self) -> str: ...


def to_classification(probs: npt.NDArray[np.floating[Any]], classes: Sequence[str], model: Scored, truncated: bool,
                      started: float) -> Classification:
    """Probabilities -> Classification, shared by every kind. The intent is OUT_OF_SCOPE when the
    model's out_of_scope class (if it has one) wins, or when the best real intent's own
    (uncalibrated) probability is under the model's threshold: a calibrator changes the confidence
    the policy sees, never what is out of scope. `top` holds the best TOP_K real intents (never
    out_of_scope), calibrated, and the confidence is the best one's: for an off-topic message it
    is low, since the out_of_scope class holds the probability."""
    oos: int | None = getattr(model, "_oos", None)  # the out_of_scope column, when trained with one
    out = oos is not None and int(probs.argmax()) == oos
    cal: npt.NDArray[np.floating[Any]]
    if model.calibrator is not None:
        cal = model.calibrator.apply(probs)
    else:
        cal = probs
    if oos is not None:
        probs, cal = np.delete(probs, oos), np.delete(cal, oos)
        classes = model._real_classes
    k = min(TOP_K, len(cal))
    best = np.argpartition(-cal, k - 1)[:k]
    best = best[np.argsort(-cal[best], kind="stable")]
    top = tuple((classes[i], float(cal[i])) for i in best)
    intent, confidence = top[0]
    if out or float(probs.max()) < model.oos_threshold:
        intent = OUT_OF_SCOPE
    return Classification(intent=intent, confidence=confidence, top=top, stage="local",
                          model_version=model.model_version, truncated=truncated,
                          latency_ms=(time.perf_counter() - started) * 1000.0)


def data_hash(texts: Sequence[str], labels: Sequence[str], recipe: str = RECIPE) -> str:
    """A stable sha256 of the sorted (text, label) pairs and the feature recipe."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    h = hashlib.sha256(recipe.encode())
    for text, label in sorted(zip(texts, labels)):
        for part in (text, label):
            b = part.encode("utf-8")
            h.update(len(b).to_bytes(8, "big"))  # length-prefixed: no ambiguity between fields
            h.update(b)
    return h.hexdigest()


class LocalClassifier:
    def __init__(self, pipeline: Pipeline, meta: dict[str, Any], *,
                 oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS):
        if not 0.0 <= oos_threshold <= 1.0:
            raise ValueError(f"oos_threshold must be within 0..1, got {oos_threshold}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        self.pipeline, self.meta = pipeline, meta
        self.oos_threshold, self.max_chars = oos_threshold, max_chars
        self._classes: list[str] = [str(c) for c in pipeline.classes_]
        self._oos = oos_index(self._classes)
        self._real_classes = [c for c in self._classes if c != OUT_OF_SCOPE]
        self._fast = _fast_path(pipeline)
        self.calibrator: Calibrator | None = None  # calibration.json in the model folder

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *,
              oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS,
              c: float = 20.0, calibrate: bool = False) -> "LocalClassifier":
        """calibrate: with a temperature fitted on 3-fold cross-validated probabilities of these
        examples (bot.classify.calibration.cross_validated; off-topic ones should be among them)."""
        texts, labels = [str(t) for t in texts], [str(lb) for lb in labels]
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        intents = sorted(set(labels))
        if len(intents) < 2:
            raise ValueError(f"need at least 2 intents to train, got {len(intents)}")
        pipeline = build_pipeline(c)
        pipeline.fit(texts, labels)
        model = pipeline.named_steps["model"]
        # float32 weights: half the size on disk and in memory, same predictions to ~1e-7
        model.coef_ = model.coef_.astype(np.float32)
        model.intercept_ = model.intercept_.astype(np.float32)
        digest = data_hash(texts, labels)
        meta = {"version": f"{digest[:12]}-sk{sklearn.__version__}",
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "n_examples": len(texts), "intents": intents, "data_hash": digest,
                "recipe": RECIPE, "sklearn": sklearn.__version__}
        clf = cls(pipeline, meta, oos_threshold=oos_threshold, max_chars=max_chars)
        if calibrate:
            from bot.classify.calibration import cross_validated

            def fit_predict(train: np.ndarray, test: np.ndarray) -> tuple[list[str], np.ndarray]:
                m = cls.train([texts[i] for i in train], [labels[i] for i in train], max_chars=max_chars, c=c)
                return m.predict_proba([texts[i] for i in test])

            clf.calibrator = cross_validated(fit_predict, labels)
        return clf

    @property
    def model_version(self) -> str:
        return str(self.meta.get("version", ""))

    @property
    def intents(self) -> list[str]:
        return list(self._classes)

    def predict_proba(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Class labels and an (n_texts, n_labels) probability matrix, for batch evaluation."""
        probs = self.pipeline.predict_proba([str(t)[: self.max_chars] for t in texts])
        if self.calibrator is not None:
            probs = self.calibrator.apply(probs)
        return list(self._classes), probs

    def classify(self, text: str) -> Classification:
        start = time.perf_counter()
        text = str(text)
        truncated = len(text) > self.max_chars
        if self._fast is not None:
            probs = self._fast(text[: self.max_chars])
        else:
            probs = self.pipeline.predict_proba([text[: self.max_chars]])[0]
        return to_classification(probs, self._classes, self, truncated, start)

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, d / MODEL_FILE)
        (d / META_FILE).write_text(json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if self.calibrator is not None:
            self.calibrator.save(d)
        return d

    @classmethod
    def load(cls, directory: str | Path, *, oos_threshold: float = DEFAULT_OOS_THRESHOLD,
             max_chars: int = DEFAULT_MAX_CHARS) -> "LocalClassifier":
        """Load a saved model; ValueError when the folder does not hold a usable one."""
        d = Path(directory)
        try:
            meta = json.loads((d / META_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{d / META_FILE}: unreadable model metadata: {e}") from e
        if not isinstance(meta, dict) or not meta.get("version"):
            raise ValueError(f"{d / META_FILE}: no model version")
        try:
            pipeline = joblib.load(d / MODEL_FILE)
        except Exception as e:  # a truncated or foreign pickle raises many kinds of errors
            raise ValueError(f"{d / MODEL_FILE}: unreadable model: {type(e).__name__}: {e}") from e
        if not hasattr(pipeline, "predict_proba") or not hasattr(pipeline, "classes_"):
            raise ValueError(f"{d / MODEL_FILE}: not a trained classifier")
        classes = sorted(str(c) for c in pipeline.classes_)
        if meta.get("intents") is not None and classes != sorted(meta["intents"]):
            raise ValueError(f"{d}: the model's intents do not match {META_FILE}")
        clf = cls(pipeline, meta, oos_threshold=oos_threshold, max_chars=max_chars)
        from bot.classify.calibration import load_calibrator  # optional calibration.json next to the model

        clf.calibrator = load_calibrator(d)
        return clf

    @classmethod
    def load_or_train(cls, texts: Sequence[str], labels: Sequence[str], cache_dir: str | Path,
                      oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS,
                      calibrate: bool = False) -> "LocalClassifier":
        return load_or_train(texts, labels, cache_dir, oos_threshold, max_chars, calibrate)

    data_hash = staticmethod(data_hash)


def load_or_train(texts: Sequence[str], labels: Sequence[str], cache_dir: str | Path,
                  oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS,
                  calibrate: bool = False) -> LocalClassifier:
    """The cached model for this training data, else a freshly trained (and cached) one.
    calibrate: with a temperature fitted on 3-fold cross-validated probabilities of these
    examples (bot.classify.calibration.cross_validated; off-topic ones should be among them)."""
    cache = Path(cache_dir)
    final = cache / data_hash(texts, labels, RECIPE + ("-cvT3" if calibrate else ""))
    if final.exists():
        try:
            return LocalClassifier.load(final, oos_threshold=oos_threshold, max_chars=max_chars)
        except ValueError as e:
            log.warning("cached model unusable, retraining: %s", e)
    clf = LocalClassifier.train(texts, labels, oos_threshold=oos_threshold, max_chars=max_chars, calibrate=calibrate)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name[:12]}-", dir=cache))
        try:
            clf.save(tmp)
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)  # atomic on one file system; fails if another process won
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not final.exists():
                raise
    except OSError as e:  # a read-only or full disk must not stop the bot: serve from memory
        log.warning("could not cache the model under %s: %s", cache, e)
    return clf


def read_training_csv(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and intents from a UTF-8 CSV with header columns `text,intent` (others ignored).

    Rows are numbered as in a spreadsheet: the header is row 1, the first example row 2.
    """
    p = Path(path)
    header, reader = open_csv(p, ValueError, "a header with columns text,intent")  # OSError propagates as is
    for col in ("text", "intent"):
        if col not in header:
            raise ValueError(f"{p}: row 1: missing column {col!r} in the header "
                             f"(found: {', '.join(header) or 'nothing'})")
    ti, ii = header.index("text"), header.index("intent")
    texts, labels, row = [], [], 1
    try:
        for row, rec in enumerate(reader, start=2):
            if not any(field.strip() for field in rec):
                continue  # blank line
            text = rec[ti].strip() if ti < len(rec) else ""
            intent = rec[ii].strip() if ii < len(rec) else ""
            if not text:
                raise ValueError(f"{p}: row {row}: empty text")
            if not intent:
                raise ValueError(f"{p}: row {row}: empty intent")
            texts.append(text)
            labels.append(intent)
    except csv.Error as e:
        raise ValueError(f"{p}: row {row + 1}: invalid CSV: {e}") from None
    intents = sorted(set(labels))
    if not intents:
        raise ValueError(f"{p}: row 2: no examples after the header; need at least 2 intents")
    if len(intents) < 2:
        raise ValueError(f"{p}: rows 2-{row}: need at least 2 intents to train, "
                         f"found only {intents[0]!r} in {len(texts)} examples")
    return texts, labels
