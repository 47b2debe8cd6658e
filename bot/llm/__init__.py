"""LLM providers over httpx, the router that picks among them, pricing and answers."""

from bot.llm.answer import Draft, generate_answer
from bot.llm.pricing import check_catalog, cost_usd, counterfactual_usd
from bot.llm.router import LLMRouter
from bot.llm.types import (
    ChatTurn, LLMRequest, LLMResponse, ProviderError, RoutedResponse, Spend, TierUnavailable, Usage,
)

__all__ = [
    "ChatTurn", "Draft", "LLMRequest", "LLMResponse", "LLMRouter", "ProviderError", "RoutedResponse",
    "Spend", "TierUnavailable", "Usage", "check_catalog", "cost_usd", "counterfactual_usd", "generate_answer",
]
