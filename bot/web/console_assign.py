"""The console's side of assignment (bot/handoff/assign.py): the available / away switch in every page's
header (POST /agent/availability) and the hand-over of a conversation the agent holds to another agent or
to a team (POST /agent/escalations/{id}/transfer, `to` = "agent:NAME" or "team:NAME").

A bad `to` or a switch value outside on / off is a 400; a hand-over the state forbids (not yours, the
colleague is away) comes back as the conversation page with the reason (409), like the other actions.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.handoff.assign import Assigner
from bot.handoff.escalations import EscalationView, Handoff
from bot.web.auth import AGENT, Agent, read_form
from bot.web.console_view import safe_next


class Assignment:
    def __init__(self, handoff: Handoff) -> None:
        self.assigner = Assigner(handoff)

    async def header(self, agent: Agent, here: str) -> dict[str, Any]:
        """What the header shows: the agent's state, the mode, the page to come back to after the switch."""
        return {"available": await self.assigner.is_available(agent["id"]),
                "mode": self.assigner.config.mode, "next": safe_next(here)}

    async def transfer_options(self, v: EscalationView, agent: Agent) -> dict[str, Any] | None:
        """The hand-over form of a conversation the agent holds: available colleagues, then the teams."""
        if v.status != "claimed" or v.agent_id != agent["id"]:
            return None
        colleagues = [a for a in await self.assigner.agents() if a.id != agent["id"]]
        return {"agents": [(a.name, f"{a.name} ({'available' if a.available else 'away'}, holds {a.holds})",
                            a.available) for a in colleagues],
                "teams": list(self.assigner.handoff.settings.handoff.teams)}

    async def availability(self, request: web.Request) -> web.Response:
        form = await read_form(request)
        value = form.get("available")
        if value not in ("on", "off"):
            raise web.HTTPBadRequest(text="available: on or off")
        await self.assigner.set_available(request[AGENT]["id"], value == "on")
        raise web.HTTPSeeOther(safe_next(form.get("next")))


def parse_to(value: object) -> tuple[str | None, str | None]:
    """("agent name", None) or (None, "team name") from a hand-over form's `to`; a 400 otherwise."""
    kind, _, name = (value if isinstance(value, str) else "").partition(":")
    if kind not in ("agent", "team") or not name.strip() or len(name) > 100:
        raise web.HTTPBadRequest(text="to: agent:NAME or team:NAME")
    return (name, None) if kind == "agent" else (None, name)
