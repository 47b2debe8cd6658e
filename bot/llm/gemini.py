"""Google Gemini generateContent: POST {base}/v1beta/models/{model}:generateContent.

The key goes in the ``x-goog-api-key`` header, never in the URL (URLs end up in logs).
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from bot.llm.base import HTTPProvider
from bot.llm.types import (
    ChatTurn, LLMRequest, LLMResponse, ProviderError, ToolCall, Usage, alternating_turns, as_int, malformed, post_json,
)

_DELAY = re.compile(r"^\s*([0-9.]+)s\s*$")


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema in the OpenAPI subset responseSchema takes: upper-case type names, and no
    additionalProperties (the API rejects fields it does not know)."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "additionalProperties":
            continue
        if key == "type" and isinstance(value, str):
            out[key] = value.upper()
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: gemini_schema(sub) for name, sub in value.items()}
        elif key == "items" and isinstance(value, dict):
            out[key] = gemini_schema(value)
        else:
            out[key] = value
    return out


class GeminiProvider(HTTPProvider):
    provider = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com"
    base_url_env = "GEMINI_BASE_URL"

    def build_body(self, req: LLMRequest) -> dict[str, Any]:
        gen: dict[str, Any] = {"maxOutputTokens": req.max_tokens, "temperature": req.temperature}
        mode = self.entry.structured_output
        # function calling does not go with a JSON response type: with tools, the JSON is asked for in the prompt
        if (req.json_output or req.schema is not None) and mode != "none" and not req.tools:
            gen["responseMimeType"] = "application/json"
            if req.schema is not None and mode == "schema":
                gen["responseSchema"] = gemini_schema(req.schema.schema)
        body: dict[str, Any] = {
            "contents": [self._turn(t) for t in alternating_turns(req.messages)],
            "generationConfig": gen,
        }
        if req.tools:
            body["tools"] = [{"functionDeclarations": [
                {"name": t.name, "description": t.description, "parameters": gemini_schema(t.parameters)}
                for t in req.tools]}]
        if req.system:
            body["systemInstruction"] = {"parts": [{"text": req.system}]}
        return body

    @staticmethod
    def _turn(t: ChatTurn) -> dict[str, Any]:
        """A turn as content: the model's functionCall parts, or the user's functionResponse parts."""
        if t.tool_results:
            return {"role": "user", "parts": [{"functionResponse": {"name": call.name, "response": result}}
                                              for call, result in t.tool_results]}
        parts: list[dict[str, Any]] = [{"text": t.content}] if t.content or not t.tool_calls else []
        parts += [{"functionCall": {"name": c.name, "args": c.arguments}} for c in t.tool_calls]
        return {"role": "model" if t.role == "assistant" else "user", "parts": parts}

    def _error_hook(self, status: int, data: dict[str, Any] | None) -> ProviderError | None:
        err = (data or {}).get("error") or {}
        if not isinstance(err, dict):
            return None
        reasons = {d.get("reason") for d in err.get("details") or [] if isinstance(d, dict)}
        if status == 400 and "API_KEY_INVALID" in reasons:  # Gemini answers a bad key with 400
            return ProviderError(f"{self.label}: HTTP 400: authentication failed", kind="auth", status=status)
        if status == 429:
            for d in err.get("details") or []:
                m = _DELAY.match(str(d.get("retryDelay", ""))) if isinstance(d, dict) else None
                if m:
                    wait = float(m.group(1))
                    return ProviderError(f"{self.label}: HTTP 429: rate limited (retry after {wait:g}s)",
                                         kind="rate_limited", status=429, retry_after=wait)
        return None

    async def complete(self, req: LLMRequest, timeout: httpx.Timeout) -> LLMResponse:
        started = time.perf_counter()
        data = await post_json(
            self.client, self.label, f"{self.base_url}/v1beta/models/{self.model}:generateContent",
            headers={"x-goog-api-key": self._key}, body=self.build_body(req), timeout=timeout,
            secret=self._key, error_hook=self._error_hook,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        candidates = data.get("candidates")
        if not candidates:
            blocked = (data.get("promptFeedback") or {}).get("blockReason")
            if blocked:
                raise ProviderError(f"{self.label}: prompt blocked ({blocked})", kind="bad_request", status=200)
            raise malformed(self.label, "no candidates")
        first = candidates[0] if isinstance(candidates, list) and isinstance(candidates[0], dict) else None
        if first is None:
            raise malformed(self.label, "candidates is not a list of objects")
        parts = (first.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and not p.get("thought"))
        calls: list[ToolCall] = []
        for p in parts:
            fn = p.get("functionCall") if isinstance(p, dict) else None
            if fn is None:
                continue
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(fn.get("args", {}), dict):
                raise malformed(self.label, "a functionCall without a name or object args")
            calls.append(ToolCall(str(fn.get("id") or f"call_{len(calls)}"), fn["name"], fn.get("args") or {}))
        return LLMResponse(text=text, usage=self.parse_usage(data.get("usageMetadata") or {}),
                           model=str(data.get("modelVersion") or self.model), provider=self.provider,
                           latency_ms=latency_ms, tool_calls=tuple(calls))

    @staticmethod
    def parse_usage(u: dict[str, Any]) -> Usage:
        """promptTokenCount includes the cached ones; thoughts come apart from candidates
        and are billed as output, so output_tokens adds them up."""
        thoughts = as_int(u.get("thoughtsTokenCount"))
        return Usage(
            input_tokens=as_int(u.get("promptTokenCount")),
            output_tokens=as_int(u.get("candidatesTokenCount")) + thoughts,
            cached_tokens=as_int(u.get("cachedContentTokenCount")),
            reasoning_tokens=thoughts,
        )
