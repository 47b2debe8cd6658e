"""The `language:` section of supportbot.yaml: which languages customers write in, the canned answers and
the actions' words in each (bot/settings_actions_language.py), and what the bot says before a reply it has
only in the default language (bot/language.py reads the messages; bot/pipeline/respond.py picks the answer)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from bot.settings_policy import Strict

CODE = re.compile(r"[a-z]{2,3}")
# the bot's own words a customer meets in a conversation, which `language.texts` may give per language
TEXT_KEYS = ("clarify.prompt", "clarify.prompt_one", "clarify.something_else", "rephrase.prompt", "rephrase.off_topic",
             "resolution.helped", "resolution.more_help", "resolution.helped_reply", "resolution.more_help_reply",
             "handoff.rating_prompt", "handoff.rating_thanks", "handoff.rating_comment_thanks", "handoff.returned_text",
             "handoff.passing_on", "handoff.reviewing", "handoff.added_to_request", "handoff.waiting_approval",
             "handoff.usual_wait", "handoff.offline", "handoff.back", "handoff.today", "handoff.tomorrow",
             "handoff.on_day", "handoff.weekdays", "handoff.email_us", "handoff.during_hours", "company.support_hours",
             "knowledge.more")


class LanguageCfg(Strict):
    default: str = "en"  # the language of answers_file, the knowledge base and the bot's own texts
    detect: list[str] = []  # the languages to tell apart (ISO 639-1, the default among them); fewer than two: off
    min_probability: float = Field(0.9, ge=0.5, le=1)  # the detector's probability that switches the conversation
    answers: dict[str, str] = {}  # language -> its canned answers file (relative to the config), same intents
    # language -> its actions file (actions.de.yaml): the actions' questions, confirmations and replies in it
    # (bot/settings_actions_language.py)
    actions: dict[str, str] = {}
    unavailable: dict[str, str] = {}  # language -> said before a reply the bot has only in the default language
    texts: dict[str, dict[str, str]] = {}  # language -> {"resolution.helped": "Das hat geholfen", ...} (TEXT_KEYS)
    labels: dict[str, dict[str, str]] = {}  # language -> intent -> its "did you mean" button label

    @field_validator("detect")
    @classmethod
    def _codes(cls, v: list[str]) -> list[str]:
        for code in v:
            if not CODE.fullmatch(code):
                raise ValueError(f"{code!r} is not a language code (two or three lower-case letters, ISO 639: en, de, fr)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "LanguageCfg":
        if self.detect and self.default not in self.detect:
            raise ValueError(f"default {self.default!r} must be one of detect: {', '.join(self.detect)}")
        for code, texts in self.texts.items():
            if unknown := sorted(set(texts) - set(TEXT_KEYS)):
                raise ValueError(f"texts.{code}.{unknown[0]}: not one of the bot's texts ({', '.join(TEXT_KEYS)})")
        for key in ("answers", "actions", "unavailable", "texts", "labels"):
            for code in getattr(self, key):
                if code not in self.detect or code == self.default:
                    raise ValueError(f"{key}.{code}: not one of the other languages in detect ({', '.join(self.detect) or 'none'})")
        return self

    @property
    def on(self) -> bool:
        return len(self.detect) >= 2
