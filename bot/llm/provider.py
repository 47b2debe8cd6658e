"""The interface of an LLM provider: one module per API (bot/llm/openai.py, anthropic.py, gemini.py).

The router (bot/llm/router.py) builds a provider per model entry with `cls(name, entry, client,
api_key, base_url)` and calls `complete`; a new API is one module whose class satisfies
`ProviderClass`, listed in `provider_classes()`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import httpx

from bot.llm.types import LLMRequest, LLMResponse

if TYPE_CHECKING:
    from bot.settings import ModelEntry


class Provider(Protocol):
    """A ready client for one model of one API."""

    name: str  # the model entry's name in settings.models
    model: str  # the model id sent to the API
    label: str  # "openai gpt-4o-mini": for logs and error messages, never the key

    async def complete(self, req: LLMRequest, timeout: httpx.Timeout) -> LLMResponse: ...


class ProviderClass(Protocol):
    """The class itself: where its key and base URL come from, and how it is built."""

    provider: str  # settings.models[*].provider names it
    default_base_url: str
    base_url_env: str  # an environment variable that overrides default_base_url

    def __call__(self, name: str, entry: ModelEntry, client: httpx.AsyncClient, api_key: str,
                 base_url: str) -> Provider: ...


def provider_classes() -> dict[str, ProviderClass]:
    """The APIs the router can call, by the name `settings.models[*].provider` gives them. A new API is
    one module whose class satisfies ProviderClass, and one entry here (mypy holds each to the interface)."""
    from bot.llm.anthropic import AnthropicProvider
    from bot.llm.gemini import GeminiProvider
    from bot.llm.openai import OpenAIProvider

    built_in: tuple[ProviderClass, ...] = (OpenAIProvider, AnthropicProvider, GeminiProvider)
    return {cls.provider: cls for cls in built_in}
