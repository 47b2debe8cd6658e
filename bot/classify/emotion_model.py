"""Anger by meaning: customers so fed up that a person should take over, in words no lexicon lists.

bot/pipeline/signals.py's lexicon finds "furious", "ridiculous", "!!!" and shouting; customers also say
"this is the fourth time I'm asking" or "promised a callback three times, never happened. I am
done." This reader is the same kind of model as the safety model by meaning (bot/classify/safety_model.py:
a logistic head on the sentence encoder's vectors, kept in the model cache), trained on
bot/classify/emotion_examples.yaml (`angry` against `calm`, which holds mild and polite complaints the bot
can answer) and the shop's own routine and off-topic examples. Its probability raises the
emotion signal to anger when it reaches signals.anger_by_meaning (0.8; 0 turns it off).
Without the encoder package there is no reader and the lexicon works alone.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Callable, Sequence

from bot.classify.safety_model import Encoder, MeaningModel

AngerCheck = Callable[[str], float]


@lru_cache(maxsize=1)
def load_examples() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(angry, calm) from bot/classify/emotion_examples.yaml."""
    import yaml

    raw = yaml.safe_load(resources.files("bot.classify").joinpath("emotion_examples.yaml").read_text(encoding="utf-8")) or {}
    return tuple(str(e) for e in raw.get("angry") or ()), tuple(str(e) for e in raw.get("calm") or ())


class AngerReader:
    def __init__(self, model: MeaningModel) -> None:
        self.model = model

    @classmethod
    def build(cls, negatives: Sequence[str], encoder: Encoder, cache_dir: str | None = None) -> "AngerReader":
        """negatives: the shop's routine and off-topic examples."""
        angry, calm = load_examples()
        model = MeaningModel.train({"angry": list(angry)}, list(calm) + list(negatives), encoder, cache_dir,
                                   fixed=list(angry) + list(calm))
        return cls(model)

    def __call__(self, text: str) -> float:
        """P(angry), 0..1."""
        return self.model.read(text[:4000]).p_harm
