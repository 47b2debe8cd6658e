"""The one small interface through which channels plug into the core.

A channel adapter (channels/*.py) turns platform events into InboundMessage, hands them to
`Inbox.accept`, and delivers Reply objects when the outbox asks. The core never imports a
platform SDK; it only knows this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
import asyncio
from typing import TYPE_CHECKING, Any, Mapping, Protocol, runtime_checkable

from bot.messages import Reply

if TYPE_CHECKING:  # types only: the service builds these and hands them over
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from bot.handoff.escalations import Handoff
    from bot.runtime.inbox import Inbox
    from bot.settings import Settings


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


@dataclass
class ChannelContext:
    """What the core gives a channel plugin when the service starts."""

    settings: Settings  # (the platform adapters' own tests pass None where they need no settings)
    inbox: Inbox  # store events here *before* acknowledging the platform
    sessions: async_sessionmaker[AsyncSession]  # for channel-specific lookups
    env: Mapping[str, str]  # where tokens come from (os.environ in production)
    outbox_wake: asyncio.Event | None = None  # set it to make the outbox look for work now
    handoff: Handoff | None = None  # a channel that hosts agents adds its AgentDesk here


@runtime_checkable
class ChannelRuntime(Channel, Protocol):
    """A long-lived channel inside `supportbot serve`.

    A plugin module exposes `create(ctx: ChannelContext) -> ChannelRuntime | None`
    (None when its settings are absent). The service calls mount() before the web server
    starts, start() after, and stop() on shutdown: stop taking updates, keep nothing
    un-stored.
    """

    def mount(self, web: Any) -> None:  # aiohttp.web.Application: add webhook routes
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None:  # stop taking updates; delivery must still work
        ...

    async def close(self) -> None:  # after the outbox's last flush: release sessions
        ...

    def state(self) -> dict[str, Any]:  # for /healthz: {"state": "polling" | "webhook" | "error", ...}
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


PLUGIN_GROUP = "supportbot.channels"


def load_plugin(name: str) -> Any:
    """A channel module registered under the `supportbot.channels` entry-point group.

    This is how the core finds channels without importing them: each channel package
    declares itself in its pyproject (see [project.entry-points."supportbot.channels"]).
    """
    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.name == name:
            return ep.load()
    raise LookupError(f"no channel {name!r} is installed (entry-point group {PLUGIN_GROUP})")


def plugin_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=PLUGIN_GROUP))
