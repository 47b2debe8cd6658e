"""OpenAI-compatible chat completions: OpenAI itself, and vLLM, Ollama, DeepSeek, OpenRouter...

POST {base}/chat/completions with ``Authorization: Bearer <key>``; the base URL includes
the version path (``https://api.openai.com/v1``, ``http://localhost:11434/v1``).
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlparse

import httpx

from bot.llm.base import HTTPProvider
from bot.llm.types import ChatTurn, LLMRequest, LLMResponse, ToolCall, Usage, as_int, malformed, post_json


class OpenAIProvider(HTTPProvider):
    provider = "openai"
    default_base_url = "https://api.openai.com/v1"
    base_url_env = "OPENAI_BASE_URL"

    def build_body(self, req: LLMRequest) -> dict[str, Any]:
        messages = [{"role": "system", "content": req.system}] if req.system else []
        for t in req.messages:
            messages += self._turn(t)
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": req.temperature}
        if req.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                               "parameters": t.parameters}} for t in req.tools]
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

    @staticmethod
    def _turn(t: ChatTurn) -> list[dict[str, Any]]:
        """A turn as chat messages: the model's tool calls on its message, each result a `tool` message."""
        if t.tool_results:
            return [{"role": "tool", "tool_call_id": call.id, "content": json.dumps(result)}
                    for call, result in t.tool_results]
        if t.tool_calls:
            return [{"role": "assistant", "content": t.content or None, "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                for c in t.tool_calls]}]
        return [{"role": t.role, "content": t.content}]

    def _tool_calls(self, message: dict[str, Any]) -> tuple[ToolCall, ...]:
        calls = message.get("tool_calls") or []
        if not isinstance(calls, list):
            raise malformed(self.label, "tool_calls is not a list")
        out: list[ToolCall] = []
        for c in calls:
            fn = c.get("function") if isinstance(c, dict) else None
            try:
                args = json.loads(fn.get("arguments") or "{}") if isinstance(fn, dict) else None
            except (ValueError, RecursionError):
                args = None
            if not isinstance(fn, dict) or not isinstance(args, dict) or not isinstance(fn.get("name"), str):
                raise malformed(self.label, "a tool call without a name or JSON object arguments")
            out.append(ToolCall(str(c.get("id") or f"call_{len(out)}"), fn["name"], args))
        return tuple(out)

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
        if not isinstance(text, str) or not isinstance(message, dict):
            raise malformed(self.label, "message content is not text")
        return LLMResponse(text=text, usage=self.parse_usage(data.get("usage") or {}),
                           model=str(data.get("model") or self.model), provider=self.provider, latency_ms=latency_ms,
                           tool_calls=self._tool_calls(message))

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
