"""The interface of a local intent classifier: what the cascade, eval, replay and training use.

Both kinds satisfy it, the tf-idf `LocalClassifier` (bot/classify/local.py) and the
`EmbeddingsClassifier` (bot/classify/embeddings.py); a new kind is one module whose class does,
most simply by subclassing `TrainedClassifier` (bot/classify/base.py: classify, save, the
properties), which both kinds do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, Sequence, runtime_checkable

from bot.messages import Classification

if TYPE_CHECKING:
    import numpy as np

    from bot.classify.calibration import Calibrator


@runtime_checkable
class Classifier(Protocol):
    """A trained local model: one message in, a Classification out (no I/O, CPU only)."""

    meta: dict[str, Any]  # training metadata (version, intents, data hash), saved beside the model
    calibrator: Calibrator | None  # maps raw probabilities to calibrated confidences, when fitted

    @property
    def model_version(self) -> str: ...

    @property
    def intents(self) -> list[str]: ...

    def classify(self, text: str) -> Classification: ...

    def predict_proba(self, texts: Sequence[str]) -> tuple[list[str], np.ndarray[Any, Any]]:
        """Class labels and an (n_texts, n_labels) probability matrix, for batch evaluation."""
        ...

    def save(self, directory: str | Path) -> Path: ...
