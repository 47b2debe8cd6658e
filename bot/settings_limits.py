"""The `rate_limits:` section of supportbot.yaml (kept apart from bot/settings.py to keep both small).

Rates are written the `limits` way ("10/minute", "30/hour"); null turns a limit off.
"""

from __future__ import annotations

from limits import RateLimitItem
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.ratelimit import rate


class RateLimits(BaseModel):
    """Abuse limits: posts and event streams of the browser chat, LLM calls per customer."""

    model_config = ConfigDict(extra="forbid")
    chat_posts_per_visitor: str | None = "10/minute"  # POST /chat/messages for one visitor id
    chat_posts_per_address: str | None = "60/minute"  # ... from one client address (many visitors, one attacker)
    chat_streams_per_visitor: int = Field(3, ge=1)  # open /chat/events streams of one visitor (tabs)
    chat_streams_total: int = Field(500, ge=1)  # open /chat/events streams in this process
    chat_history_per_address: str | None = "60/minute"  # GET /chat/history (a database read) from one address
    llm_calls_per_customer: str | None = "30/hour"  # model calls for one customer, any channel; then no model

    @field_validator("chat_posts_per_visitor", "chat_posts_per_address", "chat_history_per_address",
                     "llm_calls_per_customer")
    @classmethod
    def _a_rate(cls, v: str | None) -> str | None:
        if v is not None:
            rate(v)
        return v

    def item(self, name: str) -> RateLimitItem | None:
        value = getattr(self, name)
        return rate(value) if value is not None else None
