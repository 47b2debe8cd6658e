"""The one small interface through which channels plug into the core.

A channel adapter (channels/*.py) turns platform events into InboundMessage, hands them to
`Inbox.accept`, and delivers Reply objects when the outbox asks. The core never imports a
platform SDK; it only knows this protocol.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.messages import Reply


class DeliveryError(Exception):
    """Delivery failed. `permanent` means retrying cannot help (the bot was blocked)."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False,
                 unreachable: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent or unreachable
        self.unreachable = unreachable  # the customer cannot be reached on this channel any more


@runtime_checkable
class Channel(Protocol):
    name: str

    async def deliver(self, reply: Reply, idempotency_key: str) -> str | None:
        """Send one reply; return the platform's message id if it has one.

        Raise DeliveryError on failure. The idempotency key is stable across retries, so a
        channel whose platform supports deduplication can pass it along.
        """
        ...


class ChannelRegistry:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def register(self, channel: Channel) -> None:
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel | None:
        return self._channels.get(name)

    def names(self) -> list[str]:
        return sorted(self._channels)
