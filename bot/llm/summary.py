"""A short summary for the agent who takes over an escalated conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.llm.types import ChatTurn, LLMRequest, Spend, TierUnavailable

if TYPE_CHECKING:
    from bot.llm.router import Completer

SYSTEM = ("You hand a customer-support conversation over to a human agent. Summarise it in at most 60 "
          "words, as 2-4 short bullet points: what the customer wants, what the bot already answered, anything urgent or "
          "emotional. Facts from the conversation only; never invent order numbers, amounts or promises. Write "
          "in {language} whatever language the customer used, and quote a key sentence of theirs in {language} too.")


async def summarise(router: Completer, tier: str, transcript: list[tuple[str, str]], text: str, *,
                    conversation_id: int | None = None, message_id: int | None = None,
                    spend: Spend | None = None, language: str = "English") -> str | None:
    """The cheap model's summary in the agents' `language`, or None when it can't be had (the caller falls back)."""
    lines = [f"{author}: {body}" for author, body in transcript[-12:]] + [f"customer: {text}"]
    req = LLMRequest(system=SYSTEM.replace("{language}", language), messages=[ChatTurn("user", "\n".join(lines))], max_tokens=120, temperature=0.0)
    try:
        routed = await router.complete(tier, req, purpose="summary", conversation_id=conversation_id,
                                       message_id=message_id, spend=spend)
    except TierUnavailable:
        return None
    return routed.text.strip() or None
