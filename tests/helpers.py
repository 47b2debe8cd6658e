"""Small builders shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

from bot.messages import Classification, Signals
from bot.settings import Settings, load_settings

MINI = Path(__file__).resolve().parent / "data" / "mini" / "supportbot.yaml"


def mini_settings() -> Settings:
    return load_settings(MINI)


def cls(intent: str, confidence: float, *top: tuple[str, float]) -> Classification:
    return Classification(intent=intent, confidence=confidence, top=((intent, confidence), *top))


def calm() -> Signals:
    return Signals()
