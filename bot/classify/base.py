"""What the local intent classifiers share (tfidf, bot/classify/local.py; embeddings, bot/classify/embeddings.py).

A new kind is one module whose class subclasses `TrainedClassifier` (which satisfies most of the
`Classifier` interface, bot/classify/protocol.py) and writes `train`, `load`, `predict_proba`
and `_probabilities` (one message's). Here: the TF-IDF feature recipe and its fast per-message scoring (`tfidf_union`,
`sparse_features`, `softmax`), one message's probabilities to a Classification with the
out-of-scope rule (`TrainedClassifier.classify`), the training data's hash and metadata, and the files of a
model folder: saving, reading back (`read_meta`, `read_joblib`, `check_intents`, `with_calibration`) and the cache `load_or_train` fills
(`cached`).
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence, TypeVar

import joblib
import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion

from bot.classify.calibration import Calibrator, load_calibrator
from bot.messages import OUT_OF_SCOPE, Classification

log = logging.getLogger(__name__)

META_FILE = "meta.json"
DEFAULT_MAX_CHARS = 4000
TOP_K = 3

T = TypeVar("T")


def tfidf_union() -> FeatureUnion:
    """The TF-IDF feature recipe of both kinds: word 1-2-grams and char_wb 2-5-grams (see
    bench/classifier.py for what was tried and measured)."""
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True, strip_accents="unicode")
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True,
                            lowercase=True, strip_accents="unicode", min_df=2)
    return FeatureUnion([("words", words), ("chars", chars)], n_jobs=1)


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


def softmax(z: np.ndarray) -> npt.NDArray[np.float64]:
    """A logistic regression's probabilities from its decision values (the last axis): the softmax,
    or for two classes (one decision value) the sigmoid, as sklearn computes them."""
    if z.shape[-1] == 1:  # binary: one decision value
        p1 = 1.0 / (1.0 + np.exp(-z[..., 0]))
        return np.stack([1.0 - p1, p1], axis=-1)
    e = np.exp(z - z.max(-1, keepdims=True))
    probs: npt.NDArray[np.float64] = e / e.sum(-1, keepdims=True)
    return probs


def oos_index(classes: Sequence[str]) -> int | None:
    """The column of the explicit out_of_scope class (trained on off-topic examples), if any."""
    return list(classes).index(OUT_OF_SCOPE) if OUT_OF_SCOPE in classes else None


def data_hash(texts: Sequence[str], labels: Sequence[str], recipe: str) -> str:
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


def training_intents(texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    """The sorted intents of a training set; ValueError when it cannot train a classifier."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    intents = sorted(set(labels))
    if len(intents) < 2:
        raise ValueError(f"need at least 2 intents to train, got {len(intents)}")
    return intents


def training_meta(version_prefix: str, digest: str, n_examples: int, intents: list[str], recipe: str,
                  **extra: Any) -> dict[str, Any]:
    """meta.json of a freshly trained model: the version (from the data hash), when, on what, how."""
    return {"version": f"{version_prefix}{digest[:12]}-sk{sklearn.__version__}",
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "n_examples": n_examples, "intents": intents, "data_hash": digest, "recipe": recipe,
            **extra, "sklearn": sklearn.__version__}


def read_meta(directory: Path) -> Any:
    """The parsed meta.json of a model folder (the caller checks what it holds); ValueError if unreadable."""
    try:
        return json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{directory / META_FILE}: unreadable model metadata: {e}") from e


def read_joblib(path: Path, unpack: Callable[[Any], T]) -> T:
    """A saved model file, unpacked; ValueError when it is not what `unpack` expects."""
    try:
        return unpack(joblib.load(path))
    except Exception as e:  # a truncated or foreign pickle raises many kinds of errors
        raise ValueError(f"{path}: unreadable model: {type(e).__name__}: {e}") from e


def check_intents(directory: Path, classes: Sequence[Any], intents: Sequence[str] | None) -> None:
    """ValueError when a loaded model's classes are not the intents its meta.json names (None: not checked)."""
    if intents is not None and sorted(str(c) for c in classes) != sorted(intents):
        raise ValueError(f"{directory}: the model's intents do not match {META_FILE}")


class TrainedClassifier(abc.ABC):
    """A trained model's classes, thresholds and calibrator, the interface's properties, classify
    (with the out-of-scope rule) and save; `MODEL_FILE` holds what `_model_parts` returns."""

    MODEL_FILE: ClassVar[str]

    def __init__(self, classes: Sequence[Any], meta: dict[str, Any], *, oos_threshold: float, max_chars: int):
        if not 0.0 <= oos_threshold <= 1.0:
            raise ValueError(f"oos_threshold must be within 0..1, got {oos_threshold}")
        if max_chars < 1:
            raise ValueError(f"max_chars must be positive, got {max_chars}")
        self.meta = meta
        self.oos_threshold, self.max_chars = oos_threshold, max_chars
        self.calibrator: Calibrator | None = None  # calibration.json in the model folder
        self._classes: list[str] = [str(c) for c in classes]
        self._oos = oos_index(self._classes)  # the out_of_scope column, when trained with one
        self._real_classes = [c for c in self._classes if c != OUT_OF_SCOPE]  # in column order

    @property
    def model_version(self) -> str:
        return str(self.meta.get("version", ""))

    @property
    def intents(self) -> list[str]:
        return list(self._classes)

    @abc.abstractmethod
    def _probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """One message's (already cut to max_chars) raw probabilities, a column per class."""

    @abc.abstractmethod
    def _model_parts(self) -> object:
        """What MODEL_FILE holds (joblib)."""

    def _labelled(self, probs: np.ndarray) -> tuple[list[str], np.ndarray]:
        """predict_proba's answer: the class labels and the probabilities, calibrated when fitted."""
        if self.calibrator is not None:
            probs = self.calibrator.apply(probs)
        return list(self._classes), probs

    def classify(self, text: str) -> Classification:
        """The first max_chars characters' probabilities as a Classification. The intent is
        OUT_OF_SCOPE when the model's out_of_scope class (if it has one) wins, or when the best real
        intent's own (uncalibrated) probability is under the model's threshold: a calibrator changes
        the confidence the policy sees, never what is out of scope. `top` holds the best TOP_K real
        intents (never out_of_scope), calibrated, and the confidence is the best one's: for an
        off-topic message it is low, since the out_of_scope class holds the probability."""
        started = time.perf_counter()
        text = str(text)
        probs: npt.NDArray[np.floating[Any]] = self._probabilities(text[: self.max_chars])
        oos, classes = self._oos, self._classes
        out = oos is not None and int(probs.argmax()) == oos
        cal: npt.NDArray[np.floating[Any]]
        if self.calibrator is not None:
            cal = self.calibrator.apply(probs)
        else:
            cal = probs
        if oos is not None:
            probs, cal = np.delete(probs, oos), np.delete(cal, oos)
            classes = self._real_classes
        k = min(TOP_K, len(cal))
        best = np.argpartition(-cal, k - 1)[:k]
        best = best[np.argsort(-cal[best], kind="stable")]
        top = tuple((classes[i], float(cal[i])) for i in best)
        intent, confidence = top[0]
        if out or float(probs.max()) < self.oos_threshold:
            intent = OUT_OF_SCOPE
        return Classification(intent=intent, confidence=confidence, top=top, stage="local",
                              model_version=self.model_version, truncated=len(text) > self.max_chars,
                              latency_ms=(time.perf_counter() - started) * 1000.0)

    def save(self, directory: str | Path) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        joblib.dump(self._model_parts(), d / self.MODEL_FILE)
        (d / META_FILE).write_text(json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if self.calibrator is not None:
            self.calibrator.save(d)
        return d


C = TypeVar("C", bound=TrainedClassifier)


def with_calibration(clf: C, directory: Path) -> C:
    """A loaded model with the calibration.json saved beside it, when there is one."""
    clf.calibrator = load_calibrator(directory)
    return clf


def cached(final: Path, load: Callable[[Path], C], train: Callable[[], C]) -> C:
    """The model saved in `final` (a folder named by its training data's hash), else `train()`'s,
    saved there for the next start (written beside it, then renamed: atomic on one file system)."""
    if final.exists():
        try:
            return load(final)
        except ValueError as e:
            log.warning("cached model unusable, retraining: %s", e)
    clf = train()
    cache = final.parent
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name[:12]}-", dir=cache))
        try:
            clf.save(tmp)
            if final.exists():
                shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)  # fails if another process won
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not final.exists():
                raise
    except OSError as e:  # a read-only or full disk must not stop the bot: serve from memory
        log.warning("could not cache the model under %s: %s", cache, e)
    return clf
