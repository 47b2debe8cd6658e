"""The safety model by meaning (bot/classify/safety_model.py) inside the detector (bot/classify/safety.py), with the real
sentence encoder: cases described in words no frame lists, the cache, and how weak readings count."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bot.classify import safety_model
from bot.classify.safety import MEANING_STRONG, MEANING_WEAK, SafetyDetector, load_examples, load_routine
from bot.classify.safety_model import MeaningModel, Reading, encoder_or_none
from tests.harness.safety import routine_examples



@pytest.fixture(autouse=True)
def _encoder_installed() -> None:
    """Skips without the encoder package, except in CI (SUPPORTBOT_REQUIRE_EMBEDDINGS), where it fails."""
    if encoder_or_none() is None:
        if os.environ.get("SUPPORTBOT_REQUIRE_EMBEDDINGS"):
            pytest.fail("the encoder package is required (SUPPORTBOT_REQUIRE_EMBEDDINGS) but not installed")
        pytest.skip("the encoder package is not installed")


@pytest.fixture(scope="module")
def meaning(tmp_path_factory) -> SafetyDetector:
    return SafetyDetector.build(routine_examples(), encoder=encoder_or_none(),
                                cache_dir=str(tmp_path_factory.mktemp("safety-cache")))


# Written for this test, in none of the frames' words; not in bot/classify/safety_examples.yaml or bench/.
DESCRIBED = [
    "when I flicked the switch on the desk lamp my whole arm went tingly and numb",
    "the little one gnawed the teething ring and now a bit of it is missing and she's coughing",
    "after two nights with the new pillow spray my eyelids are puffy and I can barely open them",
    "my dad lost his job in the spring and we're behind on everything, the next klarna payment will bounce",
    "somebody got into my northwind login, there are three orders going to an address in leeds",
]


@pytest.mark.parametrize("text", DESCRIBED)
def test_cases_described_without_the_frames_words_are_found(meaning, text):
    hit = meaning.check(text)
    assert hit is not None and hit.score >= 0.55, (text, hit, meaning.meaning.read(text))


def test_the_shops_routine_examples_raise_almost_no_alarm(meaning):
    examples = routine_examples()
    alarms = [e for e in examples if meaning.check(e)]
    assert len(alarms) <= len(examples) * 0.01, alarms


@pytest.mark.parametrize("text", [
    "where is my order NW-20417?",
    "is the oil heater safe to leave on overnight?",
    "my phone battery won't charge with your cable",
    "one leg of the coffee table arrived snapped off, can you send a new one?",
    "hope you're having a good day! do you sell gift cards?",
])
def test_routine_messages_with_alarming_words_are_not_cases(meaning, text):
    assert meaning.check(text) is None, meaning.meaning.read(text)


class _Fixed:
    """A model whose reading the test sets: how the detector turns a probability into a hit."""

    def __init__(self, p: float, category: str = "distress") -> None:
        self.reading = Reading(p, category, p)

    def read(self, text, embedding=None):  # noqa: ANN001
        return self.reading


def test_a_reading_between_weak_and_strong_is_a_concern_not_a_case():
    det = SafetyDetector(meaning=_Fixed((MEANING_WEAK + MEANING_STRONG) / 2))
    assert det.check("a message with no cue at all") is None
    weak = det.check("a message with no cue at all", weak=True)
    assert weak is not None and weak.score < 0.5 and weak.category == "distress"
    assert "by meaning" in weak.why
    strong = SafetyDetector(meaning=_Fixed(MEANING_STRONG + 0.01, "fire")).check("a message with no cue at all")
    assert strong is not None and strong.score >= 0.55 and strong.category == "fire"
    assert SafetyDetector(meaning=_Fixed(MEANING_WEAK - 0.01)).check("a message with no cue at all", weak=True) is None


def test_a_weak_cue_and_a_weak_reading_of_the_same_family_make_a_case():
    """"I won't be around" alone is a concern (a delivery day, usually); with a reading by meaning of distress
    between weak and strong it is a case, since both say the same kind of thing. A reading of another family
    does not confirm it."""
    text = "cancel the rest of the order, I won't be around for the delivery anyway"
    assert SafetyDetector(meaning=_Fixed(MEANING_WEAK - 0.01)).check(text) is None
    hit = SafetyDetector(meaning=_Fixed(MEANING_WEAK + 0.05, "distress")).check(text)
    assert hit is not None and hit.category == "self_harm" and hit.score >= 0.55
    assert "won't be around" in hit.why and "by meaning" in hit.why
    assert SafetyDetector(meaning=_Fixed(MEANING_WEAK + 0.05, "fire")).check(text) is None


def test_a_frame_hit_stands_whatever_the_model_reads():
    det = SafetyDetector(meaning=_Fixed(0.0))
    hit = det.check("you billed me 900 instead of 90")
    assert hit is not None and hit.category == "large_overcharge"


def test_the_fitted_model_is_kept_on_disk_and_the_packages_vectors_too(tmp_path, monkeypatch):
    enc = encoder_or_none()
    calls: list[int] = []

    def counting(texts):  # noqa: ANN001, ANN202
        calls.append(len(texts))
        return enc(texts)

    negatives = routine_examples()[:40]
    fixed = [e for ex in load_examples().values() for e in ex] + list(load_routine())
    monkeypatch.setattr(safety_model, "_MEMORY", {})
    first = MeaningModel.train(load_examples(), negatives + list(load_routine()), counting, tmp_path, fixed=fixed)
    assert sum(calls) >= len(fixed)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.startswith("safety-vectors-") for n in names) and any(n.endswith(".npz") and "vectors" not in n for n in names)

    calls.clear()
    monkeypatch.setattr(safety_model, "_MEMORY", {})
    again = MeaningModel.train(load_examples(), negatives + list(load_routine()), counting, tmp_path, fixed=fixed)
    assert calls == []  # the fitted weights came from the file
    np.testing.assert_allclose(again.coef, first.coef)

    calls.clear()
    monkeypatch.setattr(safety_model, "_MEMORY", {})
    other_shop = ["do you sell patio heaters?", "can I change the delivery day?"]
    MeaningModel.train(load_examples(), other_shop + list(load_routine()), counting, tmp_path, fixed=fixed)
    assert sum(calls) <= len(other_shop)  # a new shop encodes only its own examples


def test_an_unreadable_cache_file_is_trained_again_with_a_warning(tmp_path, monkeypatch, caplog):
    enc = encoder_or_none()
    negatives = ["where is my parcel", "how do I return a lamp", "do you ship to Ireland"]
    monkeypatch.setattr(safety_model, "_MEMORY", {})
    MeaningModel.train(load_examples(), negatives, enc, tmp_path)
    for p in tmp_path.glob("safety-*.npz"):
        p.write_bytes(b"not a numpy file")
    monkeypatch.setattr(safety_model, "_MEMORY", {})
    model = MeaningModel.train(load_examples(), negatives, enc, tmp_path)
    assert "unreadable" in caplog.text
    assert model.read("the kettle caught fire on the worktop").p_harm > 0.5


def test_the_encoder_remembers_what_it_encoded():
    from bot.classify.minilm import shared_encoder

    enc = shared_encoder()
    text = "a sentence this test encodes twice, and the second time from memory"
    calls: list[int] = []
    real = enc._encode

    def counting(texts, *a, **kw):  # noqa: ANN001, ANN202
        calls.append(len(texts))
        return real(texts, *a, **kw)

    enc._encode = counting
    try:
        a = enc.encode([text])
        b = enc.encode([text, "and one new one"])
    finally:
        del enc._encode
    assert calls == [1, 1]
    np.testing.assert_allclose(a[0], b[0])


def test_a_reading_by_meaning_is_a_case_even_against_a_confident_routine_intent():
    """'the tablecloth went up a little' is a damaged_item too (0.96): a strong reading by meaning sends it
    to a person whatever the classifier says; a weak one is a concern, which a sure classifier answers."""
    from bot.messages import Classification
    from bot.settings import load_settings
    from bot.pipeline.signals import detect
    from tests.conftest import EXAMPLE_CONFIG

    settings = load_settings(EXAMPLE_CONFIG)
    text = "the candle jar cracked and the tablecloth went up a little before we smothered it"  # no cue
    sure_intent = Classification(intent="damaged_item", confidence=0.99, top=(("damaged_item", 0.99),))
    strong = SafetyDetector(meaning=_Fixed(0.6, "fire")).check(text)
    assert detect(text, sure_intent, settings, safety=strong).safety == "fire"
    weak = SafetyDetector(meaning=_Fixed(0.35, "fire")).check(text, weak=True)
    s = detect(text, sure_intent, settings, safety=weak)
    assert not s.safety and s.safety_concern == "fire"


def test_cosmetic_damage_in_an_injurys_words_is_not_a_case(meaning):
    """The routine negatives about scratched, cut or bent furniture keep 'a scratch on the arm' apart from a
    scratched arm."""
    for text in ("my sofa arrived with a big scratch on it", "the armchair has a cut in the leather on one arm"):
        hit = meaning.check(text)
        assert hit is None or hit.score < 0.5, (text, hit)
    hit = meaning.check("the broken table top scratched my arm open and it won't stop bleeding")
    assert hit is not None and hit.score >= 0.55


def test_a_message_of_under_three_words_is_not_read_by_meaning():
    """'lol ok' read as a possible distress (0.35) on a held-out set: two words are too few to read a meaning
    from; the word cues still catch a short case."""
    det = SafetyDetector(meaning=_Fixed(0.9, "distress"))
    assert det.check("lol ok", weak=True) is None
    # a few words are read, but only as a possible concern: "i dont have it on me" (an answer to "what is your
    # order number?") read 0.55-0.66 harm; a case by meaning alone needs a sentence of MEANING_CASE_WORDS
    few = det.check("ok then, fine, whatever", weak=True)
    assert few is not None and few.score < 0.5
    sentence = det.check("ok then, fine, whatever you say, it doesn't matter", weak=True)
    assert sentence is not None and sentence.score >= 0.5
    assert SafetyDetector(meaning=_Fixed(0.0, "distress")).check("kill myself") is not None


def test_a_crisis_tucked_into_a_routine_request_is_read_in_its_own_sentence(meaning):
    """The whole message's embedding dilutes one sentence of crisis in a routine request; its own sentence
    does not. A sentence of ordinary venting stays routine."""
    hit = meaning.check("I don't think anyone would care if I disappeared. Anyway, where is my parcel NW-41822 "
                        "at the moment?")
    assert hit is not None and hit.category == "self_harm" and hit.score >= 0.55, hit
    for text in ("It has been a long and tiring week for me. Anyway, where is my parcel NW-41822 at the moment?",
                 "We're away on holiday next month. Can I skip next month's box instead of cancelling it?"):
        hit = meaning.check(text)
        assert hit is None or hit.score < 0.5, (text, hit)
