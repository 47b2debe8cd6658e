"""The classification cascade: the local model first, a cheap LLM only when it is unsure."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from bot.classify import thread as model_thread
from bot.messages import Classification

if TYPE_CHECKING:
    from bot.llm.types import ChatTurn, Spend


class LocalModel(Protocol):
    def classify(self, text: str) -> Classification: ...


class RemoteModel(Protocol):
    async def classify(self, text: str, history: list[ChatTurn], *, conversation_id: int | None = None,
                       message_id: int | None = None, spend: Spend | None = None) -> Classification | None: ...


class Cascade:
    def __init__(self, local: LocalModel, remote: RemoteModel | None = None, threshold: float = 0.90) -> None:
        self.local = local
        self.remote = remote
        self.threshold = threshold

    async def classify(self, text: str, redacted: str, history: list[ChatTurn] | None = None, *,
                       conversation_id: int | None = None, message_id: int | None = None,
                       spend: Spend | None = None) -> Classification:
        """`text` feeds the local model; only `redacted` (PII removed) may leave the process."""
        first = await model_thread.run(self.local.classify, text)
        if self.remote is None or first.confidence >= self.threshold:
            return first
        second = await self.remote.classify(redacted, history or [], conversation_id=conversation_id,
                                            message_id=message_id, spend=spend)
        if second is None:  # the LLM was unsure, invalid or unavailable: keep the local view
            return first
        return replace(second, truncated=first.truncated, latency_ms=first.latency_ms + second.latency_ms)
