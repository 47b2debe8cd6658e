"""Versioned classifier models on disk: `<models_dir>/<version>/` plus an `active` pointer file.

    .supportbot/trained/
      3f2a1b9c8d7e-sk1.9.1/     meta.json, model.joblib (or head.joblib), calibration.json?,
                                 training.json (what it was trained on), heldout.csv?
      emb-9a0b.../
      active                     one line: the version the bot serves

`supportbot train` (without --out) adds a version; only `--activate` (or
`supportbot models activate VERSION`) moves the pointer, atomically, after checking that
the version loads. The bot (bot.pipeline.builders.build_classifier) serves, in this order: --model DIR,
classifier.model_dir, the active version here, else a model trained from the intents file.
Every classifications row records the model_version that classified the message.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.classify import OOS_THRESHOLD_BY_KIND
from bot.classify.base import DEFAULT_MAX_CHARS, META_FILE
from bot.classify.local import LocalClassifier

if TYPE_CHECKING:
    from bot.classify.protocol import Classifier
    from bot.settings import Settings

ACTIVE_FILE = "active"
TRAINING_FILE = "training.json"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def read_meta(directory: str | Path) -> dict[str, Any]:
    try:
        meta = json.loads((Path(directory) / META_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{Path(directory) / META_FILE}: unreadable model metadata: {e}") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{Path(directory) / META_FILE}: not a JSON object")
    return meta


def load_classifier(directory: str | Path, *, oos_threshold: float | None = None,
                    max_chars: int = DEFAULT_MAX_CHARS) -> Classifier:
    """A saved model of either kind (meta.json says which); ValueError when unusable.
    oos_threshold None: the default of the stored model's kind (OOS_THRESHOLD_BY_KIND)."""
    kind = read_meta(directory).get("kind", "tfidf")
    if kind not in OOS_THRESHOLD_BY_KIND:
        raise ValueError(f"{directory}: unknown model kind {kind!r}")
    threshold = OOS_THRESHOLD_BY_KIND[kind] if oos_threshold is None else oos_threshold
    if kind == "embeddings":
        from bot.classify.embeddings import EmbeddingsClassifier

        return EmbeddingsClassifier.load(directory, oos_threshold=threshold, max_chars=max_chars)
    return LocalClassifier.load(directory, oos_threshold=threshold, max_chars=max_chars)


class ModelStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    @classmethod
    def for_settings(cls, settings: Settings) -> ModelStore:
        return cls(settings.classifier.models_dir)

    def path(self, version: str) -> Path:
        if not _SAFE.match(version):
            raise ValueError(f"{version!r} is not a model version name")
        return self.root / version

    def versions(self) -> list[dict[str, Any]]:
        """Every stored version's metadata (plus `path` and `active`), oldest first."""
        if not self.root.is_dir():
            return []
        active = self.active()
        out: list[dict[str, Any]] = []
        for d in self.root.iterdir():
            if d.is_dir() and not d.name.startswith(".") and (d / META_FILE).exists():
                try:
                    meta = read_meta(d)
                except ValueError:
                    continue
                training = {}
                if (d / TRAINING_FILE).exists():
                    try:
                        training = json.loads((d / TRAINING_FILE).read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        training = {}
                out.append({**meta, "path": str(d), "name": d.name, "active": d.name == active,
                            "training": training})
        return sorted(out, key=lambda m: (str(m.get("created_at", "")), m["name"]))

    def add(self, clf: Classifier, training: dict[str, Any] | None = None) -> Path:
        """Save a trained model as a new version (same data and recipe = same version: kept as is)."""
        final = self.path(clf.model_version)
        if final.exists() and (final / META_FILE).exists():
            if training:
                (final / TRAINING_FILE).write_text(json.dumps(training, indent=2) + "\n", encoding="utf-8")
            return final
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name[:16]}-", dir=self.root))
        try:
            clf.save(tmp)
            if training:
                (tmp / TRAINING_FILE).write_text(json.dumps(training, indent=2) + "\n", encoding="utf-8")
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not final.exists():
                raise
        return final

    def active(self) -> str | None:
        try:
            name = (self.root / ACTIVE_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return name or None

    def active_path(self) -> Path | None:
        name = self.active()
        if name is None:
            return None
        p = self.path(name)
        if not p.is_dir():
            raise ValueError(f"{self.root / ACTIVE_FILE} names version {name!r}, which is not in {self.root}")
        return p

    def activate(self, version: str) -> Path:
        """Point `active` at a version, after checking it loads (atomic: a reader never sees half a name)."""
        p = self.path(version)
        if not p.is_dir():
            raise ValueError(f"no model version {version!r} in {self.root}")
        load_classifier(p)  # raises ValueError when it is not usable
        tmp = self.root / f".{ACTIVE_FILE}.tmp"
        tmp.write_text(version + "\n", encoding="utf-8")
        os.replace(tmp, self.root / ACTIVE_FILE)
        return p

    def resolve(self, name_or_path: str | Path) -> Path:
        """A model folder from a path, or a version name in this store."""
        p = Path(name_or_path).expanduser()
        if (p / META_FILE).exists():
            return p
        if isinstance(name_or_path, str) and _SAFE.match(name_or_path) and (self.root / name_or_path / META_FILE).exists():
            return self.root / name_or_path
        raise ValueError(f"{name_or_path}: no model there (and no version of that name in {self.root})")


def serving_folder(settings: Settings, classifier: Classifier, explicit: str | Path | None = None) -> Path:
    """The folder the served model was loaded from (or cached in), where calibration.json goes."""
    cfg = settings.classifier
    if explicit:
        return Path(explicit)
    if cfg.model_dir:
        return settings.path(cfg.model_dir)
    active = ModelStore.for_settings(settings).active_path()
    if active is not None:
        return active
    digest = str(classifier.meta.get("data_hash", ""))
    if not digest:
        raise ValueError("the model has no data hash: pass --model DIR")
    prefix = "emb-" if classifier.meta.get("kind") == "embeddings" else ""
    return Path(cfg.cache_dir).expanduser() / f"{prefix}{digest}"
