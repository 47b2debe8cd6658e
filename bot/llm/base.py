"""What every HTTP provider class holds (bot/llm/openai.py, anthropic.py, gemini.py): the model entry,
the client, the base URL and the key, and a repr that never shows the key.

A provider module subclasses `HTTPProvider`, names its API in `provider`, `default_base_url` and
`base_url_env` (the `ProviderClass` interface, bot/llm/provider.py), and writes `complete`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from bot.settings import ModelEntry


class HTTPProvider:
    """A client for one model of one API; `label` ("openai gpt-4o-mini") is for logs and errors."""

    provider: str  # settings.models[*].provider names it
    default_base_url: str
    base_url_env: str  # an environment variable that overrides default_base_url

    def __init__(self, name: str, entry: ModelEntry, client: httpx.AsyncClient, api_key: str, base_url: str):
        self.name, self.entry, self.client = name, entry, client
        self.model = entry.model or name
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.label = f"{self.provider} {self.model}"

    def __repr__(self) -> str:  # never the key
        return f"{type(self).__name__}({self.name!r}, base_url={self.base_url!r})"
