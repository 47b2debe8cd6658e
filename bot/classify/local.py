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
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from bot.classify import OOS_THRESHOLD_BY_KIND, base
from bot.classify.base import DEFAULT_MAX_CHARS, META_FILE, TrainedClassifier, cached, softmax, sparse_features
from bot.csvfile import open_csv

# Bump when the features or the model change: it is part of data_hash, so cached models
# trained with an older recipe are not reused.
RECIPE = "tfidf-w12-cwb25md2-lr-c20-f32-v1"
MODEL_FILE = "model.joblib"
DEFAULT_OOS_THRESHOLD = OOS_THRESHOLD_BY_KIND["tfidf"]


def build_pipeline(c: float = 20.0) -> Pipeline:
    """The TF-IDF features (bot/classify/base.py tfidf_union) into a logistic regression."""
    return Pipeline([("features", base.tfidf_union()), ("model", LogisticRegression(C=c, max_iter=3000))])


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
        return softmax(z)  # (the sigmoid of the one decision value for two classes)

    return score


def data_hash(texts: Sequence[str], labels: Sequence[str], recipe: str = RECIPE) -> str:
    """A stable sha256 of the sorted (text, label) pairs and the feature recipe (this kind's by default)."""
    return base.data_hash(texts, labels, recipe)


class LocalClassifier(TrainedClassifier):
    MODEL_FILE = MODEL_FILE

    def __init__(self, pipeline: Pipeline, meta: dict[str, Any], *,
                 oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS):
        super().__init__(pipeline.classes_, meta, oos_threshold=oos_threshold, max_chars=max_chars)
        self.pipeline = pipeline
        self._fast = _fast_path(pipeline)

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *,
              oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS,
              c: float = 20.0, calibrate: bool = False) -> "LocalClassifier":
        """calibrate: with a temperature fitted on 3-fold cross-validated probabilities of these
        examples (bot.classify.calibration.cross_validated; off-topic ones should be among them)."""
        texts, labels = [str(t) for t in texts], [str(lb) for lb in labels]
        intents = base.training_intents(texts, labels)
        pipeline = build_pipeline(c)
        pipeline.fit(texts, labels)
        model = pipeline.named_steps["model"]
        # float32 weights: half the size on disk and in memory, same predictions to ~1e-7
        model.coef_ = model.coef_.astype(np.float32)
        model.intercept_ = model.intercept_.astype(np.float32)
        digest = data_hash(texts, labels)
        meta = base.training_meta("", digest, len(texts), intents, RECIPE)
        clf = cls(pipeline, meta, oos_threshold=oos_threshold, max_chars=max_chars)
        if calibrate:
            from bot.classify.calibration import cross_validated

            def fit_predict(train: np.ndarray, test: np.ndarray) -> tuple[list[str], np.ndarray]:
                m = cls.train([texts[i] for i in train], [labels[i] for i in train], max_chars=max_chars, c=c)
                return m.predict_proba([texts[i] for i in test])

            clf.calibrator = cross_validated(fit_predict, labels)
        return clf

    def predict_proba(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
        """Class labels and an (n_texts, n_labels) probability matrix, for batch evaluation."""
        return self._labelled(self.pipeline.predict_proba([str(t)[: self.max_chars] for t in texts]))

    def _probabilities(self, text: str) -> npt.NDArray[np.float64]:
        if self._fast is not None:
            return self._fast(text)
        probs: npt.NDArray[np.float64] = self.pipeline.predict_proba([text])[0]
        return probs

    def _model_parts(self) -> Pipeline:
        return self.pipeline

    @classmethod
    def load(cls, directory: str | Path, *, oos_threshold: float = DEFAULT_OOS_THRESHOLD,
             max_chars: int = DEFAULT_MAX_CHARS) -> "LocalClassifier":
        """Load a saved model; ValueError when the folder does not hold a usable one."""
        d = Path(directory)
        meta = base.read_meta(d)
        if not isinstance(meta, dict) or not meta.get("version"):
            raise ValueError(f"{d / META_FILE}: no model version")
        pipeline = base.read_joblib(d / MODEL_FILE, lambda p: p)
        if not hasattr(pipeline, "predict_proba") or not hasattr(pipeline, "classes_"):
            raise ValueError(f"{d / MODEL_FILE}: not a trained classifier")
        base.check_intents(d, pipeline.classes_, meta.get("intents"))
        return base.with_calibration(cls(pipeline, meta, oos_threshold=oos_threshold, max_chars=max_chars), d)

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
    final = Path(cache_dir) / data_hash(texts, labels, RECIPE + ("-cvT3" if calibrate else ""))
    return cached(final, lambda d: LocalClassifier.load(d, oos_threshold=oos_threshold, max_chars=max_chars),
                  lambda: LocalClassifier.train(texts, labels, oos_threshold=oos_threshold, max_chars=max_chars,
                                                calibrate=calibrate))


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
