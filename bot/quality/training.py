"""`supportbot train`: a new classifier version from the intents (or a CSV) plus what people taught it.

    data        DATA.csv (text,intent) or, without one, the intents file's examples
    feedback    --include-feedback: bot.quality.labelling.feedback_examples (agents' review intents,
                approved drafts, `supportbot label`). With 5 or more of them, a fifth (at least
                one) is held out: the new model trains on the rest, and the old model (the one
                the bot serves now) and the new one are both scored on the held-out part, which
                is saved as heldout.csv next to the new model (`supportbot eval` reads it).
    where       --out DIR: a plain folder, as before; else a new version in the model store
                (classifier.models_dir), activated only with --activate.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Coroutine, Protocol

from bot.classify.build import training_examples
from bot.quality.labelling import Example, feedback_examples
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.classify.embeddings import EmbeddingsClassifier
    from bot.classify.local import LocalClassifier
    from bot.messages import Classification

MIN_FEEDBACK_FOR_HOLDOUT = 5
HOLDOUT_SHARE = 0.2


class _Scored(Protocol):
    """What score() needs of a model: the served one (bot.classify.protocol.Classifier) or a new one."""

    def classify(self, text: str) -> Classification: ...


class TrainError(Exception):
    def __init__(self, title: str, message: str):
        self.title = title
        super().__init__(message)


def split_holdout(examples: list[Example], share: float = HOLDOUT_SHARE, seed: int = 0) -> tuple[list[Example], list[Example]]:
    """(train, held out): deterministic; nothing held out under MIN_FEEDBACK_FOR_HOLDOUT examples."""
    if len(examples) < MIN_FEEDBACK_FOR_HOLDOUT:
        return list(examples), []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    k = max(1, round(len(examples) * share))
    held = set(order[:k])
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


def _train(kind: str, texts: list[str], labels: list[str], settings: Settings) -> EmbeddingsClassifier | LocalClassifier:
    cfg = settings.classifier
    if kind == "embeddings":
        from bot.classify.embeddings import EmbeddingsClassifier
        from bot.classify.minilm import ExtraMissing

        try:
            return EmbeddingsClassifier.train(texts, labels, oos_threshold=cfg.threshold(kind),
                                              max_chars=cfg.max_chars, calibrate=cfg.calibrate)
        except ExtraMissing as e:
            raise TrainError("cannot train", str(e)) from None
    from bot.classify.local import LocalClassifier

    return LocalClassifier.train(texts, labels, oos_threshold=cfg.threshold(kind), max_chars=cfg.max_chars,
                                 calibrate=cfg.calibrate)


def score(classifier: _Scored, examples: list[Example]) -> dict[str, Any]:
    from bot.quality.evaluate import intent_figures

    pred = [classifier.classify(e.text).intent for e in examples]
    return intent_figures([e.intent for e in examples], pred)


def write_heldout(path: Path, examples: list[Example]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "intent", "source"])
        for e in examples:
            w.writerow([e.text, "oos" if e.intent == "out_of_scope" else e.intent, e.source])


def train_command(settings: Settings, data: Path | None, out: Path | None, *, include_feedback: bool,
                  activate: bool, kind: str | None, run: Callable[[Coroutine[Any, Any, object]], None]) -> list[str]:
    from bot.pipeline.builders import build_classifier
    from bot.classify.local import read_training_csv
    from bot.classify.models_store import ModelStore

    kind = kind or settings.classifier.kind
    if kind not in ("tfidf", "embeddings"):
        raise TrainError("bad --kind", f"{kind!r}; use tfidf or embeddings")
    if activate and out is not None:
        raise TrainError("bad options", "--activate works on the model store; leave out --out "
                                        "(or point classifier.model_dir at the folder)")
    if data is not None:
        try:
            texts, labels = read_training_csv(data)
        except (ValueError, OSError) as e:
            raise TrainError("bad training data", f"{data}: {e}") from None
        source = str(data)
    else:
        texts, labels = training_examples(settings)  # as a model built at start: the off-topic class too
        source = str(settings.path(settings.intents_file))
    lines: list[str] = []
    train_fb: list[Example] = []
    held: list[Example] = []
    if include_feedback:
        found: list[tuple[list[Example], int]] = []  # (feedback examples, how many were left out)

        async def collect() -> None:
            from bot.db.engine import check_migrated, make_engine, session_factory

            engine = make_engine(settings.database.url)
            try:
                await check_migrated(engine)
                found.append(await feedback_examples(session_factory(engine), set(settings.intents)))
            finally:
                await engine.dispose()

        run(collect())
        feedback, dropped = found[0]
        train_fb, held = split_holdout(feedback)
        by_source: dict[str, int] = {}
        for ex in feedback:
            by_source[ex.source] = by_source.get(ex.source, 0) + 1
        lines.append(f"feedback: {len(feedback)} examples ({', '.join(f'{k} {v}' for k, v in sorted(by_source.items())) or 'none yet'})"
                     + (f"; {dropped} left out (intent no longer in the intents file)" if dropped else "")
                     + (f"; {len(held)} held out for the comparison" if held else ""))
    all_texts = texts + [e.text for e in train_fb]
    all_labels = labels + [e.intent for e in train_fb]
    if len(set(all_labels)) < 2:
        raise TrainError("bad training data", "need at least 2 intents to train")
    old = None
    if held:
        try:
            old = build_classifier(settings)
        except Exception as e:  # noqa: BLE001 - the comparison is informative, not required
            lines.append(f"(no comparison: the current model does not load: {e})")
    clf = _train(kind, all_texts, all_labels, settings)
    training = {"data": source, "base_examples": len(texts), "feedback_examples": len(train_fb),
                "heldout_examples": len(held), "kind": kind}
    if out is not None:
        folder = clf.save(out)
        import json

        (folder / "training.json").write_text(json.dumps(training, indent=2) + "\n", encoding="utf-8")
    else:
        store = ModelStore.for_settings(settings)
        try:
            folder = store.add(clf, training)
        except OSError as e:
            raise TrainError("cannot save the model", f"{store.root}: {e}") from None
    if held:
        write_heldout(folder / "heldout.csv", held)
    lines.append(f"trained {kind} on {len(all_texts)} examples ({len(train_fb)} from feedback), "
                 f"{len(set(all_labels))} intents -> {folder} (version {clf.model_version})")
    if held:
        new_s = score(clf, held)
        lines.append(f"held-out comparison on {len(held)} feedback examples ({folder / 'heldout.csv'}):")
        if old is not None:
            old_s = score(old, held)
            lines.append(f"  old {old.model_version:<34} accuracy {old_s['accuracy']:.1%}  macro-F1 {old_s['macro_f1']:.1%}")
        lines.append(f"  new {clf.model_version:<34} accuracy {new_s['accuracy']:.1%}  macro-F1 {new_s['macro_f1']:.1%}")
    if out is None:
        if activate:
            try:
                ModelStore.for_settings(settings).activate(clf.model_version)
            except ValueError as e:
                raise TrainError("cannot activate", str(e)) from None
            lines.append(f"activated {clf.model_version}: the bot serves it from its next start")
        else:
            lines.append(f"not activated: `supportbot models activate {clf.model_version}` (or train with --activate)")
    return lines
