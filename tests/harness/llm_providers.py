"""The three provider clients (OpenAI, Anthropic, Gemini) on the fake provider APIs: `make(kind, srv,
client)`, the request they are sent (`REQ`), the model each fake names (`MODEL`), `PROVIDERS` and
the client `TIMEOUT`."""

from __future__ import annotations

import httpx

from bot.llm.anthropic import AnthropicProvider
from bot.llm.gemini import GeminiProvider
from bot.llm.openai import OpenAIProvider
from bot.llm.types import ChatTurn, LLMRequest
from bot.settings import ModelEntry
from tests.fakes.llm_servers import KEYS


TIMEOUT = httpx.Timeout(5.0, connect=2.0)
REQ = LLMRequest(
    system="You are Acme support.",
    messages=[ChatTurn("user", "hi"), ChatTurn("assistant", "Hello!"), ChatTurn("user", "Where is my order?"),
              ChatTurn("user", "It is late.")],
    max_tokens=300, temperature=0.1,
)


def entry(provider: str, model: str) -> ModelEntry:
    return ModelEntry(provider=provider, model=model, api_key_env="X", input_per_mtok=1, output_per_mtok=2)


def make(kind: str, srv, client, key: str | None = None):
    if kind == "openai":
        return OpenAIProvider("oa", entry("openai", "gpt-t"), client, key or KEYS["openai"], srv.url + "/v1")
    if kind == "anthropic":
        return AnthropicProvider("cl", entry("anthropic", "claude-t"), client, key or KEYS["anthropic"], srv.url)
    return GeminiProvider("gm", entry("gemini", "gemini-t"), client, key or KEYS["gemini"], srv.url)


MODEL = {"openai": "gpt-t", "anthropic": "claude-t", "gemini": "gemini-t"}
PROVIDERS = ["openai", "anthropic", "gemini"]
