"""Who a Slack user is: the name their profile shows (users.info), looked up once per user and kept in a
bounded cache, so customers and agents read as people ("Tom Baker"), not ids ("T1:U0123ABC").

A lookup that fails (no users:read scope, Slack slow or down) gives None and is not retried for a
while; a customer's message is never held up for more than LOOKUP_S by it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("supportbot.slack")
LOOKUP_S = 1.0  # the longest a message waits for users.info
KEEP = 5000  # users remembered
RETRY_FAILED_S = 600.0  # a failed lookup is tried again after this


def profile_name(user: Any, handle: bool = True) -> str | None:
    """The first name a users.info `user` object has: display name, real name, then (`handle`) the user name."""
    if not isinstance(user, dict):
        return None
    raw = user.get("profile")
    profile: dict[str, Any] = raw if isinstance(raw, dict) else {}
    for found in (profile.get("display_name"), profile.get("real_name"), user.get("real_name"),
                  user.get("name") if handle else None):  # a handle ("tom.baker") names an agent, not a customer
        if isinstance(found, str) and found.strip():
            return found.strip()[:100]
    return None


class People:
    def __init__(self, client: AsyncWebClient, clock: Any = time.monotonic):
        self.client, self.clock = client, clock
        self._known: OrderedDict[str, tuple[str | None, float]] = OrderedDict()  # user -> (name, when looked up)

    async def name(self, user_id: str) -> str | None:
        seen = self._known.get(user_id)
        if seen is not None and (seen[0] is not None or self.clock() - seen[1] < RETRY_FAILED_S):
            self._known.move_to_end(user_id)
            return seen[0]
        found: str | None = None
        try:
            async with asyncio.timeout(LOOKUP_S):
                found = profile_name((await self.client.users_info(user=user_id)).get("user"), handle=False)
        except Exception as e:  # noqa: BLE001 - no users:read scope, Slack down or slow: the id will do
            log.info("slack: users.info %s failed (%s)", user_id, type(e).__name__)
        self._known[user_id] = (found, self.clock())
        self._known.move_to_end(user_id)
        while len(self._known) > KEEP:
            self._known.popitem(last=False)
        return found
