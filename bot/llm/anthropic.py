"""Anthropic Messages API: POST {base}/v1/messages with x-api-key and anthropic-version."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bot.llm.types import LLMRequest, LLMResponse, Usage, alternating_turns, as_int, malformed, post_json
from bot.settings import ModelEntry

API_VERSION = "2023-06-01"


class AnthropicProvider:
    provider = "anthropic"
    default_base_url = "https://api.anthropic.com"
    base_url_env = "ANTHROPIC_BASE_URL"

    def __init__(self, name: str, entry: ModelEntry, client: httpx.AsyncClient, api_key: str, base_url: str):
        self.name, self.entry, self.client = name, entry, client
        self.model = entry.model or name
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.label = f"anthropic {self.model}"

    def __repr__(self) -> str:  # never the key
        return f"AnthropicProvider({self.name!r}, base_url={self.base_url!r})"

    def build_body(self, req: LLMRequest) -> dict[str, Any]:
        # no JSON switch in this API: a schema becomes the one tool the model must call (its input is
        # the object); without one, callers ask for JSON in the prompt and parse leniently
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "messages": [{"role": t.role, "content": t.content} for t in alternating_turns(req.messages)],
        }
        if req.system:
            body["system"] = req.system
        if req.schema is not None and self.entry.structured_output == "schema":
            body["tools"] = [{"name": req.schema.name, "description": req.schema.description,
                              "input_schema": req.schema.schema}]
            body["tool_choice"] = {"type": "tool", "name": req.schema.name}
        return body

    async def complete(self, req: LLMRequest, timeout: httpx.Timeout) -> LLMResponse:
        started = time.perf_counter()
        data = await post_json(
            self.client, self.label, f"{self.base_url}/v1/messages",
            headers={"x-api-key": self._key, "anthropic-version": API_VERSION},
            body=self.build_body(req), timeout=timeout, secret=self._key,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        content = data.get("content")
        if not isinstance(content, list):
            raise malformed(self.label, "no content list")
        tool = next((b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"), None)
        if tool is not None:  # the schema's tool was called: its input is the JSON object asked for
            if not isinstance(tool.get("input"), dict):
                raise malformed(self.label, "tool_use input is not an object")
            text = json.dumps(tool["input"])
        else:
            text = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        return LLMResponse(text=text, usage=self.parse_usage(data.get("usage") or {}),
                           model=str(data.get("model") or self.model), provider=self.provider, latency_ms=latency_ms)

    @staticmethod
    def parse_usage(u: dict[str, Any]) -> Usage:
        """Anthropic's input_tokens leaves out the cache: add cache reads and writes back in
        so input_tokens means every prompt token. Cache writes are priced as plain input."""
        cache_read = as_int(u.get("cache_read_input_tokens"))
        cache_write = as_int(u.get("cache_creation_input_tokens"))
        return Usage(
            input_tokens=as_int(u.get("input_tokens")) + cache_read + cache_write,
            output_tokens=as_int(u.get("output_tokens")),  # thinking is billed inside output_tokens
            cached_tokens=cache_read,
        )
