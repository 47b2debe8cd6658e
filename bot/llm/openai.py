"""OpenAI-compatible chat completions: OpenAI itself, and vLLM, Ollama, DeepSeek, OpenRouter...

POST {base}/chat/completions with ``Authorization: Bearer <key>``; the base URL includes
the version path (``https://api.openai.com/v1``, ``http://localhost:11434/v1``).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlparse

import httpx

from bot.llm.types import LLMRequest, LLMResponse, Usage, as_int, malformed, post_json
from bot.settings import ModelEntry


class OpenAIProvider:
    provider = "openai"
    default_base_url = "https://api.openai.com/v1"
    base_url_env = "OPENAI_BASE_URL"

    def __init__(self, name: str, entry: ModelEntry, client: httpx.AsyncClient, api_key: str, base_url: str):
        self.name, self.entry, self.client = name, entry, client
        self.model = entry.model or name
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.label = f"openai {self.model}"

    def __repr__(self) -> str:  # never the key
        return f"OpenAIProvider({self.name!r}, base_url={self.base_url!r})"

    def build_body(self, req: LLMRequest) -> dict[str, Any]:
        messages = [{"role": "system", "content": req.system}] if req.system else []
        messages += [{"role": t.role, "content": t.content} for t in req.messages]
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": req.temperature}
        # api.openai.com deprecated max_tokens (its reasoning models reject it); compatible
        # servers (vLLM, Ollama, DeepSeek) know max_tokens best
        host = urlparse(self.base_url).hostname or ""
        body["max_completion_tokens" if host == "api.openai.com" else "max_tokens"] = req.max_tokens
        mode = self.entry.structured_output
        if req.schema is not None and mode == "schema":
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": req.schema.name, "description": req.schema.description, "schema": req.schema.schema,
                "strict": True}}
        elif (req.json_output or req.schema is not None) and mode != "none":
            body["response_format"] = {"type": "json_object"}
        return body

    async def complete(self, req: LLMRequest, timeout: httpx.Timeout) -> LLMResponse:
        started = time.perf_counter()
        data = await post_json(
            self.client, self.label, f"{self.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {self._key}"} if self._key else {}, body=self.build_body(req),
            timeout=timeout, secret=self._key,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise malformed(self.label, "no choices")
        message = choices[0].get("message") or {}
        text = message.get("content")
        if text is None:
            text = message.get("refusal") or ""
        if not isinstance(text, str):
            raise malformed(self.label, "message content is not text")
        return LLMResponse(text=text, usage=self.parse_usage(data.get("usage") or {}),
                           model=str(data.get("model") or self.model), provider=self.provider, latency_ms=latency_ms)

    @staticmethod
    def parse_usage(u: dict[str, Any]) -> Usage:
        """prompt_tokens includes the cached ones; completion_tokens includes reasoning."""
        prompt_details = u.get("prompt_tokens_details") or {}
        completion_details = u.get("completion_tokens_details") or {}
        cached = as_int(prompt_details.get("cached_tokens")) or as_int(u.get("prompt_cache_hit_tokens"))  # DeepSeek
        return Usage(
            input_tokens=as_int(u.get("prompt_tokens")),
            output_tokens=as_int(u.get("completion_tokens")),
            cached_tokens=cached,
            reasoning_tokens=as_int(completion_details.get("reasoning_tokens")),
        )
