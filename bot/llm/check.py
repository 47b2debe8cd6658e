"""`supportbot models check`: call each configured model once with a tiny prompt and say what came back.

For each model of the catalog (in the tiers first, then the rest): whether its key is set, whether
it answered, the latency, the tokens and what the call cost at the catalog's prices, and whether
the structured output the entry asks for (`structured_output`) worked: the JSON object came back
("yes"), the model answered in plain text ("plain text: confidence from the cascade", as its answers
will be), or the API refused the schema
("refused": the entry wants `structured_output: json` or `none`). The provider is called directly:
no budget is spent and no model_calls row written, so a check never shows up in the reports.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Mapping

import httpx

from bot.llm.answer import ANSWER_SCHEMA, parse_structured
from bot.llm.pricing import cost_usd
from bot.llm.provider import provider_classes
from bot.llm.types import ChatTurn, LLMRequest, ProviderError
from bot.settings import ModelEntry, Settings

PROMPT = LLMRequest(
    system='You are a health check. Reply with the JSON object {"answer": "ok", "confidence": 1}.',
    messages=[ChatTurn("user", "ping")], max_tokens=40, temperature=0.0, json_output=True, schema=ANSWER_SCHEMA,
)


@dataclass(frozen=True)
class ModelCheck:
    name: str
    tiers: tuple[str, ...]
    label: str  # "openai gpt-4o-mini"
    ok: bool
    detail: str  # "answered", or why not ("no key: $OPENAI_API_KEY is empty", "HTTP 401: ...")
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    # "yes", "plain text: confidence from the cascade", "refused: ...", "off (structured_output: none)"
    structured: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__, tiers=list(self.tiers))


def _tiers_of(settings: Settings, name: str) -> tuple[str, ...]:
    return tuple(tier for tier, names in settings.tiers.items() if name in names)


def _key(entry: ModelEntry, env: Mapping[str, str]) -> str | None:
    if entry.api_key_env is None:
        return ""
    return (env.get(entry.api_key_env) or "").strip() or None


async def check_model(settings: Settings, name: str, client: httpx.AsyncClient,
                      env: Mapping[str, str] = os.environ) -> ModelCheck:
    entry = settings.models[name]
    cls = provider_classes()[entry.provider]
    tiers, label = _tiers_of(settings, name), f"{entry.provider} {entry.model or name}"
    key = _key(entry, env)
    if key is None:
        return ModelCheck(name, tiers, label, False, f"no key: ${entry.api_key_env} is not set")
    base = entry.base_url or (env.get(cls.base_url_env) or "").strip() or cls.default_base_url
    provider = cls(name, entry, client, key, base)
    timeout = httpx.Timeout(settings.llm.timeout_s, connect=settings.llm.connect_timeout_s)
    started = time.perf_counter()
    try:
        resp = await provider.complete(PROMPT, timeout)
    except ProviderError as e:
        if e.kind == "bad_request" and entry.structured_output == "schema":
            # perhaps the schema: try once more with JSON mode to tell the two apart
            plain = await _without_schema(settings, name, client, env)
            if plain is not None and plain.ok:
                return ModelCheck(name, tiers, label, True, plain.detail, plain.latency_ms, plain.input_tokens,
                                  plain.output_tokens, plain.cost_usd,
                                  f"refused: {str(e)[:120]} (set structured_output: json)")
        return ModelCheck(name, tiers, label, False, str(e)[:200], (time.perf_counter() - started) * 1000)
    if entry.structured_output == "none":
        structured = "off (structured_output: none)"
    else:
        structured = "yes" if parse_structured(resp.text)[2] else "plain text: confidence from the cascade"
    return ModelCheck(name, tiers, label, True, "answered", resp.latency_ms, resp.usage.input_tokens,
                      resp.usage.output_tokens, cost_usd(entry, resp.usage), structured)


async def _without_schema(settings: Settings, name: str, client: httpx.AsyncClient,
                          env: Mapping[str, str]) -> ModelCheck | None:
    relaxed = settings.model_copy(deep=True)
    relaxed.models[name] = relaxed.models[name].model_copy(update={"structured_output": "json"})
    return await check_model(relaxed, name, client, env)


def ordered_names(settings: Settings) -> list[str]:
    """The models of the tiers in tier order, then the catalog's others."""
    seen: list[str] = []
    for names in settings.tiers.values():
        seen += [n for n in names if n not in seen and n in settings.models]
    return seen + [n for n in settings.models if n not in seen]


async def check_models(settings: Settings, env: Mapping[str, str] = os.environ,
                       client: httpx.AsyncClient | None = None) -> list[ModelCheck]:
    own = client is None
    http = client or httpx.AsyncClient()
    try:
        return [await check_model(settings, name, http, env) for name in ordered_names(settings)]
    finally:
        if own:
            await http.aclose()


def render(checks: list[ModelCheck]) -> str:
    """The table `models check` prints."""
    if not checks:
        return "no models in the catalog (settings `models:`): the LLM routes degrade as policy.degrade_to says"
    lines = [f"{'model':<20} {'tiers':<13} {'status':<7} {'latency':>9} {'tokens in/out':>14} {'$ per call':>11}  "
             f"structured output"]
    for c in checks:
        latency = f"{c.latency_ms:.0f} ms" if c.latency_ms is not None else "-"
        tokens = f"{c.input_tokens}/{c.output_tokens}" if c.input_tokens is not None else "-"
        price = f"{c.cost_usd:.6f}" if c.cost_usd is not None else "-"
        status = "ok" if c.ok else "no key" if c.detail.startswith("no key") else "FAILED"
        lines.append(f"{c.name:<20} {','.join(c.tiers) or '-':<13} {status:<7} {latency:>9} {tokens:>14} {price:>11}  "
                     f"{c.structured or '-'}")
        if not c.ok or c.detail != "answered":
            lines.append(f"  {c.label}: {c.detail}")
    return "\n".join(lines)
