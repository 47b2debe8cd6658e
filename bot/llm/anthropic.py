"""Anthropic Messages API: POST {base}/v1/messages with x-api-key and anthropic-version."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from bot.llm.base import HTTPProvider
from bot.llm.types import ChatTurn, LLMRequest, LLMResponse, ToolCall, Usage, alternating_turns, as_int, malformed, post_json

API_VERSION = "2023-06-01"


class AnthropicProvider(HTTPProvider):
    provider = "anthropic"
    default_base_url = "https://api.anthropic.com"
    base_url_env = "ANTHROPIC_BASE_URL"

    def build_body(self, req: LLMRequest) -> dict[str, Any]:
        # no JSON switch in this API: a schema becomes the one tool the model must call (its input is
        # the object); without one, callers ask for JSON in the prompt and parse leniently
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": req.max_tokens,
            "temperature": req.temperature,
            "messages": [self._turn(t) for t in alternating_turns(req.messages)],
        }
        if req.system:
            body["system"] = req.system
        tools = [{"name": t.name, "description": t.description, "input_schema": t.parameters} for t in req.tools]
        if req.schema is not None and self.entry.structured_output == "schema":
            tools.append({"name": req.schema.name, "description": req.schema.description,
                          "input_schema": req.schema.schema})
            # the answer is a tool call too: with actions beside it, any tool (an action or the answer)
            body["tool_choice"] = {"type": "any"} if req.tools else {"type": "tool", "name": req.schema.name}
        if tools:
            body["tools"] = tools
        return body

    @staticmethod
    def _turn(t: ChatTurn) -> dict[str, Any]:
        """A turn as a message: the model's tool_use blocks, or the user's tool_result blocks."""
        if t.tool_results:
            return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                                 "content": json.dumps(result)} for call, result in t.tool_results]}
        if t.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": t.content}] if t.content else []
            blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in t.tool_calls]
            return {"role": "assistant", "content": blocks}
        return {"role": t.role, "content": t.content}

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
        uses = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
        if any(not isinstance(b.get("input"), dict) or not isinstance(b.get("name"), str) for b in uses):
            raise malformed(self.label, "tool_use without a name or an object input")
        answer = req.schema.name if req.schema is not None else None
        said = next((b for b in uses if b["name"] == answer), None)
        if said is not None:  # the schema's tool was called: its input is the JSON object asked for
            text = json.dumps(said["input"])
        else:
            text = "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        calls = tuple(ToolCall(str(b.get("id") or f"toolu_{i}"), b["name"], b["input"])
                      for i, b in enumerate(uses) if b["name"] != answer)
        return LLMResponse(text=text, usage=self.parse_usage(data.get("usage") or {}),
                           model=str(data.get("model") or self.model), provider=self.provider, latency_ms=latency_ms,
                           tool_calls=calls if said is None else ())

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
