"""Readers by meaning: one yes/no question asked of a message's sentence embedding.

Each reader is the same kind of model as the safety model by meaning (bot/classify/safety_model.py: a
logistic head on the sentence encoder's vectors, kept in the model cache), trained on a YAML file of
examples that ships with supportbot (a `yes` list against a `no` list) and the shop's own routine and
off-topic examples as more of the `no` side. Without the encoder package there is no reader and the
word cues in bot/pipeline/signals.py work alone.

* anger (bot/classify/emotion_examples.yaml, `angry` against `calm`): customers so fed up that a person
  should take over, in words no lexicon lists ("this is the fourth time I'm asking");
* complexity (bot/classify/complex_examples.yaml, `complex` against `simple`): a story with several
  troubles in one, a dispute or an exception to a policy, which a canned answer or an article would
  settle only in part, however it is worded;
* a person (bot/classify/person_examples.yaml, `person` against `bot_ok`): the customer asks for a human in
  words the phrase list lacks ("could a colleague ring me tomorrow", "no more automatic answers"), not
  "are you a bot?" asked in passing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Sequence

from bot.classify.safety_model import Encoder, MeaningModel

MeaningCheck = Callable[[str], float]  # P(yes), 0..1


@dataclass(frozen=True)
class Question:
    file: str  # in the bot.classify package
    yes: str  # the key of the list the reader says yes to
    no: str  # the key of the list of look-alikes it says no to
    yes_intents: tuple[str, ...] = ()  # the shop's intents whose examples are on the yes side, not the no side


ANGER = Question("emotion_examples.yaml", "angry", "calm")
COMPLEXITY = Question("complex_examples.yaml", "complex", "simple")
PERSON = Question("person_examples.yaml", "person", "bot_ok", yes_intents=("talk_to_human",))


@lru_cache(maxsize=None)
def load_examples(question: Question) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(yes, no) from the question's file."""
    import yaml

    raw = yaml.safe_load(resources.files("bot.classify").joinpath(question.file).read_text(encoding="utf-8")) or {}
    return tuple(str(e) for e in raw.get(question.yes) or ()), tuple(str(e) for e in raw.get(question.no) or ())


class MeaningReader:
    def __init__(self, model: MeaningModel) -> None:
        self.model = model

    @classmethod
    def build(cls, question: Question, negatives: Sequence[str], encoder: Encoder,
              cache_dir: str | None = None, shop_yes: Sequence[str] = ()) -> "MeaningReader":
        """negatives: the shop's routine and off-topic examples; shop_yes: its examples of question.yes_intents."""
        yes, no = load_examples(question)
        model = MeaningModel.train({question.yes: list(yes) + list(shop_yes)}, list(no) + list(negatives), encoder,
                                   cache_dir, fixed=list(yes) + list(no))
        return cls(model)

    def __call__(self, text: str) -> float:
        """P(yes), 0..1."""
        return self.model.read(text[:4000]).p_harm
