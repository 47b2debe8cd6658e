"""What a call cost, from the model catalog in config, and what it would have cost on strong.

Usage follows bot.llm.types: cached tokens are a *subset* of input tokens (priced at
``cached_input_per_mtok`` when the catalog sets it, else at the input price), and output
tokens include reasoning tokens (all priced at the output price).
"""

from __future__ import annotations

import re

from bot.llm.types import Usage
from bot.settings import ConfigError, ModelEntry, Settings

STRONG_TIER = "strong"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def cost_usd(entry: ModelEntry, usage: Usage) -> float:
    cached = min(usage.cached_tokens, usage.input_tokens)
    cached_price = entry.cached_input_per_mtok if entry.cached_input_per_mtok is not None else entry.input_per_mtok
    return (
        (usage.input_tokens - cached) * entry.input_per_mtok
        + cached * cached_price
        + usage.output_tokens * entry.output_per_mtok
    ) / 1_000_000


def counterfactual_usd(settings: Settings, usage: Usage, actual: ModelEntry | None = None) -> float:
    """The same usage priced on the first model of the "strong" tier.

    Without a strong tier there is nothing cheaper-than to compare: the actual model's
    price is used (so the saving is zero), or 0.0 when no actual model is given.
    """
    names = settings.tiers.get(STRONG_TIER) or []
    entry = settings.models.get(names[0]) if names else None
    entry = entry or actual
    return cost_usd(entry, usage) if entry is not None else 0.0


CHARS_PER_TOKEN = 4
MIN_ANSWER_TOKENS = 120  # a strong model's answer is rarely shorter than this


def estimate_counterfactual_usd(settings: Settings, prompt_chars: int, reply_chars: int) -> float:
    """What the strong tier would have charged to answer a message no LLM answered.

    Tokens are estimated from the prompt the strong model would have been sent (system
    prompt, grounding articles, history, message) and the reply, at ~4 characters a token.
    """
    usage = Usage(input_tokens=-(-prompt_chars // CHARS_PER_TOKEN),
                  output_tokens=max(MIN_ANSWER_TOKENS, -(-reply_chars // CHARS_PER_TOKEN)))
    return counterfactual_usd(settings, usage)


def check_catalog(settings: Settings) -> None:
    """Fail at start-up on a catalog the router cannot serve; names the key and why."""
    src = settings.source
    from bot.llm.provider import provider_classes

    known = provider_classes()
    for name, entry in settings.models.items():
        if entry.provider not in known:
            raise ConfigError(src, f"models.{name}.provider",
                              f"unknown provider {entry.provider!r}; known: {', '.join(known)}")
        if entry.api_key_env is not None and not _ENV_NAME.match(entry.api_key_env):
            # never echo the value: it may be a key pasted in by mistake
            raise ConfigError(src, f"models.{name}.api_key_env",
                              "must name an environment variable (like OPENAI_API_KEY); keys never go in the file")
        if entry.base_url is not None and not entry.base_url.startswith(("http://", "https://")):
            raise ConfigError(src, f"models.{name}.base_url", "must start with http:// or https://")
        if entry.max_output_tokens > entry.context_tokens:
            raise ConfigError(src, f"models.{name}.max_output_tokens", "is larger than context_tokens")
    for tier, names in settings.tiers.items():
        if not names:
            raise ConfigError(src, f"tiers.{tier}", "lists no models")
        for i, name in enumerate(names):
            if name not in settings.models:
                raise ConfigError(src, f"tiers.{tier}.{i}", f"model {name!r} is not in the models catalog")
    if settings.tiers and settings.llm.classify_tier not in settings.tiers:
        raise ConfigError(src, "llm.classify_tier",
                          f"tier {settings.llm.classify_tier!r} is not defined; tiers: {', '.join(settings.tiers)}")
