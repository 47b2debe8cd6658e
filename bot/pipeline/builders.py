"""The classifier and the decision path, built from settings: what live handling serves and what
the offline tools (training, eval, replay) must build the same way.

Below the composition root (bot.app opens the database, the router and the workers around these),
so a quality tool builds the served classifier or the one decision path without importing the root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from bot.classify.build import resolved_kind, training_examples
from bot.classify.cascade import Cascade
from bot.classify.local import load_or_train
from bot.classify.protocol import Classifier
from bot.classify.readers import ANGER, COMPLEXITY, PERSON, MeaningCheck, MeaningReader, Question
from bot.pipeline.decide import Decider, Readers, vocabulary_of
from bot.pipeline.knowledge import KnowledgeBase
from bot.pipeline.signals import SafetyCheck
from bot.settings import ConfigError, Settings


def build_classifier(settings: Settings, model_dir: str | None = None) -> Classifier:
    """--model DIR, else classifier.model_dir, else the active version of `supportbot train`
    (bot.classify.models_store), else a model of classifier.kind trained (and cached) from the intents."""
    from bot.classify.minilm import ExtraMissing
    from bot.classify.models_store import ModelStore, load_classifier
    from bot.settings import ConfigError

    cfg = settings.classifier
    chosen = model_dir or cfg.model_dir
    path = (settings.path(chosen) if not model_dir else Path(chosen)) if chosen else \
        ModelStore.for_settings(settings).active_path()
    try:
        if path is not None:
            return load_classifier(path, oos_threshold=cfg.oos_threshold, max_chars=cfg.max_chars)  # None: by kind
        texts, labels = training_examples(settings)  # the intents' examples + the off-topic ones
        if resolved_kind(cfg) == "embeddings":
            from bot.classify.embeddings import EmbeddingsClassifier

            return EmbeddingsClassifier.load_or_train(texts, labels, cache_dir=Path(cfg.cache_dir).expanduser(),
                                                      oos_threshold=cfg.threshold("embeddings"),
                                                      max_chars=cfg.max_chars, calibrate=cfg.calibrate)
    except ExtraMissing as e:
        raise ConfigError(settings.source, "classifier.kind", str(e)) from None
    return load_or_train(texts, labels, cache_dir=Path(cfg.cache_dir).expanduser(),
                         oos_threshold=cfg.threshold("tfidf"), max_chars=cfg.max_chars, calibrate=cfg.calibrate)


def make_decider(settings: Settings, cascade: Cascade, kb: KnowledgeBase,
                 llm_available: Callable[[str], bool] | None = None, readers: Readers | None = None) -> Decider:
    """The one decision path (bot/pipeline/decide.py) with its readers: live handling, eval and replay build it here.
    readers: already built (build_readers), else they are built now."""
    return Decider(settings, cascade, kb, llm_available=llm_available or (lambda tier: False),
                   readers=readers if readers is not None else build_readers(settings),
                   vocabulary=vocabulary_of(settings, kb))


def build_readers(settings: Settings) -> Readers:
    """The safety check and the readers by meaning (all fitted on the sentence encoder; cached)."""
    return Readers(safety=build_safety(settings), anger=build_meaning(settings, ANGER, settings.signals.anger_by_meaning),
                   complexity=build_meaning(settings, COMPLEXITY, settings.signals.complex_by_meaning),
                   person=build_meaning(settings, PERSON, settings.signals.person_by_meaning),
                   language=build_language(settings))


def build_language(settings: Settings) -> Callable[[str], str | None] | None:
    """The language detector (bot/language.py) when `language.detect` names two languages or more."""
    from bot.language import LanguageDetector, known_codes

    cfg = settings.language
    if not cfg.on:
        return None
    if unknown := sorted(set(cfg.detect) - known_codes()):
        raise ConfigError(settings.source, "language.detect", f"the language detector does not know {', '.join(unknown)}")
    return LanguageDetector(cfg.detect, cfg.min_probability)


def _routine_examples(settings: Settings, plain: bool = False, without: tuple[str, ...] = ()) -> list[str]:
    """The shop's routine (not critical) intents' examples and its off-topic ones: the models by
    meaning learn these as what is *not* a case for a person. plain: without the intents flagged
    complex, whose examples are the readers' grey zone ("ABSOLUTELY DISGUSTING SERVICE!!!" is a complaint
    example; as a "no" it taught the anger reader that shouting is calm, and a polite hello angry).
    without: intents left out by name (a reader's own yes side)."""
    routine = [e for name, i in settings.intents.items() if not i.critical and not (plain and i.complex)
               and name not in without for e in i.examples]
    return _in_default_language(settings, routine + list(settings.classifier.out_of_scope_examples))


def _in_default_language(settings: Settings, examples: list[str]) -> list[str]:
    """The examples written in language.default: the readers by meaning read the default language (their own
    examples are English), so the German and French intent examples, there for the classifier, are left out."""
    if not settings.language.on:
        return examples
    from bot.language import LanguageDetector

    detect = LanguageDetector(settings.language.detect, settings.language.min_probability)
    return [e for e in examples if detect(e) in (None, settings.language.default)]


def build_meaning(settings: Settings, question: Question, threshold: float) -> MeaningCheck | None:
    """A reader by meaning (bot/classify/readers.py) when the encoder is installed and its setting
    (the threshold it is read at) is on."""
    from bot.classify.safety_model import encoder_or_none

    encoder = encoder_or_none()
    if encoder is None or not threshold:
        return None
    shop_yes = _in_default_language(settings, [e for name in question.yes_intents if name in settings.intents
                                               for e in settings.intents[name].examples])
    return MeaningReader.build(question, _routine_examples(settings, plain=True, without=question.yes_intents), encoder,
                               settings.classifier.cache_dir, shop_yes=shop_yes)


def build_anger(settings: Settings) -> MeaningCheck | None:
    """Anger by meaning, or None (no encoder, or signals.anger_by_meaning is 0)."""
    return build_meaning(settings, ANGER, settings.signals.anger_by_meaning)


def build_safety(settings: Settings) -> SafetyCheck:
    """The safety and money detector (bot/classify/safety.py): concept frames, and the model by meaning on the
    sentence encoder when its package is installed, its negatives the shop's routine and off-topic
    examples. The fitted model is kept in the model cache beside the classifier's."""
    from bot.classify.safety import SafetyDetector
    from bot.classify.safety_model import encoder_or_none

    detector = SafetyDetector.build(_routine_examples(settings), encoder=encoder_or_none(),
                                    cache_dir=settings.classifier.cache_dir)
    return lambda text: detector.check(text, weak=True)  # weak hits (score < 0.5) are a "safety_concern"
