"""The language a customer writes in: py3langid (langid.py's naive Bayes model, numpy only) told to choose
among the shop's languages (`language.detect`), and the names the LLM prompt and the agents see.

A message too short to tell ("ok", "NW-51234", "hi": the model gives them a third to each of three languages)
or read below `language.min_probability` says nothing: the conversation keeps the language it had, and a new
one starts in `language.default`. Loading the model takes about a second; it is loaded once, when the first
message is read, on the caller's thread (the model thread in the pipeline).
"""

from __future__ import annotations

import copy
import re
import threading
from typing import Any, Sequence

NAMES = {
    "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish",
    "fi": "Finnish", "fr": "French", "hu": "Hungarian", "it": "Italian", "ja": "Japanese", "nb": "Norwegian",
    "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian", "ru": "Russian",
    "sv": "Swedish", "tr": "Turkish", "uk": "Ukrainian", "zh": "Chinese",
}
MIN_LETTERS = 8  # fewer letters than this ("hi", "ok", "danke") are not read: the model guesses
WORD = re.compile(r"[^\W\d_]+")


def name_of(code: str) -> str:
    """"German" for "de"; the code itself for one this table lacks."""
    return NAMES.get(code, code)


def known_codes() -> frozenset[str]:
    """The languages py3langid's model knows (ISO 639-1 codes)."""
    return frozenset(_identifier(()).nb_classes)  # the model itself, loaded once for every restriction of it


class LanguageDetector:
    def __init__(self, languages: Sequence[str], min_probability: float = 0.9) -> None:
        self.languages = tuple(languages)
        self.min_probability = min_probability

    def __call__(self, text: str) -> str | None:
        """The language of `text` when the model is sure enough, else None."""
        letters = sum(len(w) for w in WORD.findall(text))
        if len(self.languages) < 2 or letters < MIN_LETTERS:
            return None
        code, p = _identifier(self.languages).classify(text[:2000])
        return str(code) if p >= self.min_probability else None


_LOCK = threading.Lock()
_IDENTIFIERS: dict[tuple[str, ...], Any] = {}


def _identifier(languages: Sequence[str]) -> Any:
    """The model restricted to `languages` (all of them for none). The model file is read once (about a
    second); a restriction is a shallow copy whose set_languages assigns new, smaller arrays."""
    key = tuple(sorted(languages))
    with _LOCK:
        if () not in _IDENTIFIERS:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _IDENTIFIERS[()] = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        if key not in _IDENTIFIERS:
            ident = copy.copy(_IDENTIFIERS[()])
            ident.set_languages(list(key))
            _IDENTIFIERS[key] = ident
        return _IDENTIFIERS[key]
