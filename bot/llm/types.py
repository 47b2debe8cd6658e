"""What flows between callers, the router and the providers: requests, responses, errors.

Token counts are normalised across APIs so pricing has one meaning:
- ``input_tokens`` is every prompt token, cached ones included; ``cached_tokens`` is the
  subset read from the provider's prompt cache (OpenAI ``prompt_tokens_details.cached_tokens``
  and Gemini ``cachedContentTokenCount`` already count this way; Anthropic reports
  ``input_tokens`` *without* its cache, so its provider adds the cache tokens back in);
- ``output_tokens`` is every billed output token, reasoning included; ``reasoning_tokens``
  is the subset spent thinking (OpenAI counts this way; Gemini's ``thoughtsTokenCount`` is
  reported apart from ``candidatesTokenCount``, so its provider adds them up).
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass
from typing import Any, Literal, Mapping

import httpx

Role = Literal["user", "assistant"]
ErrorKind = Literal["rate_limited", "server", "timeout", "auth", "bad_request", "malformed", "connection"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call (a shop action): sent in each API's own format (OpenAI tools, Anthropic
    tools, Gemini functionDeclarations)."""

    name: str
    description: str
    parameters: dict[str, Any]  # a JSON Schema object


@dataclass(frozen=True)
class ToolCall:
    """The model asked for a tool: `id` ties the result to the call (Gemini has none: made up)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn: the tools the model asked for
    tool_results: tuple[tuple[ToolCall, dict[str, Any]], ...] = ()  # a user turn: what those calls gave

    @property
    def has_tools(self) -> bool:
        return bool(self.tool_calls or self.tool_results)


@dataclass(frozen=True)
class OutputSchema:
    """The JSON object a caller wants back, as a JSON Schema (every property required, no others):
    sent as the API's structured output where the model entry says it has one
    (settings.models[*].structured_output), always described in the prompt as well."""

    name: str  # a short identifier: the OpenAI schema name, the Anthropic tool name
    description: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class LLMRequest:
    system: str
    messages: list[ChatTurn]
    max_tokens: int
    temperature: float = 0.2
    json_output: bool = False  # ask the API for a JSON object where it has such a switch
    schema: OutputSchema | None = None  # ...of this shape, where the API can hold the model to one
    tools: tuple[ToolSpec, ...] = ()  # tools the model may call instead of answering


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0  # all prompt tokens, cached included
    output_tokens: int = 0  # all output tokens, reasoning included
    cached_tokens: int = 0  # subset of input_tokens
    reasoning_tokens: int = 0  # subset of output_tokens

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens,
                     self.cached_tokens + other.cached_tokens, self.reasoning_tokens + other.reasoning_tokens)


@dataclass(frozen=True)
class LLMResponse:
    text: str
    usage: Usage
    model: str  # the model id the API reports
    provider: str
    latency_ms: float
    tool_calls: tuple[ToolCall, ...] = ()  # the model called tools instead of (or before) answering


@dataclass(frozen=True)
class RoutedResponse(LLMResponse):
    """A provider's answer as the router hands it back: which catalog model, what it cost."""

    tier: str = ""
    cost_usd: float = 0.0
    counterfactual_usd: float = 0.0  # the same tokens priced on the strong tier's first model
    attempts: int = 1  # HTTP attempts made in this routed call, over all models
    provider_model: str = ""  # the id the API reported (``model`` is the catalog name)


@dataclass
class Spend:
    """An accumulator a caller passes through to add up what one message cost."""

    cost_usd: float = 0.0
    counterfactual_usd: float = 0.0
    calls: int = 0
    customer: int | str | None = None  # whose message: the router caps model calls per customer

    def add(self, r: RoutedResponse) -> None:
        self.cost_usd += r.cost_usd
        self.counterfactual_usd += r.counterfactual_usd
        self.calls += 1


_RETRYABLE: dict[str, bool] = {"rate_limited": True, "server": True, "timeout": True, "connection": True,
                               "malformed": True, "auth": False, "bad_request": False}


class ProviderError(Exception):
    """One failed call. The message never contains the API key or the request headers."""

    def __init__(self, message: str, *, kind: ErrorKind, status: int | None = None,
                 retry_after: float | None = None, retryable: bool | None = None):
        super().__init__(message)
        self.kind, self.status, self.retry_after = kind, status, retry_after
        self.retryable = _RETRYABLE[kind] if retryable is None else retryable


class TierUnavailable(Exception):
    """No model of a tier could answer: no key, circuits open, failures, or a budget cap."""

    def __init__(self, tier: str, reasons: list[str], *, budget_blocked: bool = False, rate_limited: bool = False):
        self.tier, self.reasons, self.budget_blocked = tier, list(reasons), budget_blocked
        self.rate_limited = rate_limited  # this customer's model calls reached rate_limits.llm_calls_per_customer
        super().__init__(f"tier {tier!r} unavailable: " + ("; ".join(reasons) or "no models"))


# --- the wire: shared by the three providers ---------------------------------------------

def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def error_from_status(label: str, status: int, headers: Mapping[str, str], body: str,
                      secret: str) -> ProviderError:
    """Map an HTTP error response to a ProviderError (the body is shortened and scrubbed)."""
    retry_after = parse_retry_after(headers)
    if status in (401, 403):
        return ProviderError(f"{label}: HTTP {status}: authentication failed", kind="auth", status=status)
    snippet = " ".join(body.split())[:200].replace(secret, "***") if secret else " ".join(body.split())[:200]
    where = f"{label}: HTTP {status}"
    wait = f" (retry after {retry_after:g}s)" if retry_after is not None else ""
    if status == 429:
        return ProviderError(f"{where}: rate limited{wait}", kind="rate_limited", status=status, retry_after=retry_after)
    if status == 408:
        return ProviderError(f"{where}: request timeout", kind="timeout", status=status, retry_after=retry_after)
    if status >= 500 or status == 409:
        return ProviderError(f"{where}: server error{wait}: {snippet}", kind="server", status=status,
                             retry_after=retry_after)
    return ProviderError(f"{where}: {snippet}", kind="bad_request", status=status)


async def post_json(client: httpx.AsyncClient, label: str, url: str, *, headers: dict[str, str],
                    body: dict[str, Any], timeout: httpx.Timeout, secret: str,
                    error_hook: Any = None) -> dict[str, Any]:
    """POST a JSON body and return the JSON object answered, or raise ProviderError.

    ``error_hook(status, data) -> ProviderError | None`` lets a provider read its own error
    body (e.g. Gemini's RetryInfo) before the generic mapping applies.
    """
    try:
        resp = await client.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as e:
        raise ProviderError(f"{label}: timed out ({type(e).__name__})", kind="timeout") from None
    except httpx.HTTPError as e:
        raise ProviderError(f"{label}: connection failed ({type(e).__name__})", kind="connection") from None
    text = resp.text
    if resp.status_code >= 400:
        if error_hook is not None:
            hooked = error_hook(resp.status_code, parse_json_object(text))
            if hooked is not None:
                raise hooked
        raise error_from_status(label, resp.status_code, resp.headers, text, secret)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply ([[[[...]]]]), as bad as invalid
        data = None
    if not isinstance(data, dict):
        raise ProviderError(f"{label}: HTTP {resp.status_code}: response is not a JSON object",
                            kind="malformed", status=resp.status_code)
    return data


def malformed(label: str, what: str) -> ProviderError:
    return ProviderError(f"{label}: unexpected response shape: {what}", kind="malformed")


def as_int(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


# --- model output ---------------------------------------------------------------------

_FENCE = re.compile(r"^```(?:json|JSON)?\s*(.*?)\s*```$", re.S)


def parse_json_object(text: str | None) -> dict[str, Any] | None:
    """The JSON object in a model's answer: tolerates code fences and prose around it."""
    if not text:
        return None
    s = text.strip()
    m = _FENCE.match(s)
    if m:
        s = m.group(1)
    for candidate in (s, s[s.find("{"): s.rfind("}") + 1] if "{" in s else ""):
        if not candidate:
            continue
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):  # a model's deeply nested JSON is no answer, not a crash
            continue
        if isinstance(value, dict):
            return value
    return None


def alternating_turns(messages: list[ChatTurn]) -> list[ChatTurn]:
    """Turns that start with the user and alternate, as Anthropic and Gemini want them:
    consecutive turns of one role are joined, a leading assistant turn gets a user turn before it."""
    out: list[ChatTurn] = [ChatTurn("user", "(conversation so far)")] if messages and messages[0].role == "assistant" else []
    for t in messages:
        if out and out[-1].role == t.role and not (t.has_tools or out[-1].has_tools):
            out[-1] = ChatTurn(t.role, out[-1].content + "\n\n" + t.content)
        else:
            out.append(t)
    return out


__all__ = ["ChatTurn", "ToolSpec", "ToolCall", "LLMRequest", "OutputSchema", "Usage", "LLMResponse", "RoutedResponse", "Spend", "ProviderError",
           "TierUnavailable", "parse_json_object"]
