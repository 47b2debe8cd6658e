"""The worker: claims inbox events one at a time and hands them to the orchestrator."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from bot.handoff import Handoff
from bot.inbox import Inbox, from_payload
from bot.messages import HandleResult
from bot.orchestrator import Orchestrator

log = logging.getLogger("supportbot.worker")


class Worker:
    def __init__(self, inbox: Inbox, orchestrator: Orchestrator, *, name: str | None = None,
                 lease_seconds: float = 120.0, replies_queued: asyncio.Event | None = None,
                 handoff: Handoff | None = None):
        self.inbox = inbox
        self.orchestrator = orchestrator
        self.handoff = handoff
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.replies_queued = replies_queued or asyncio.Event()

    async def process_next(self) -> tuple[int, HandleResult | None] | None:
        """Handle the next ready event. None when nothing is ready; (id, None) when it failed."""
        event = await self.inbox.claim(self.name, self.lease_seconds)
        if event is None:
            return None
        try:
            result = await self.orchestrator.handle(from_payload(event.payload), event_id=event.id)
        except Exception as e:  # the event goes back to the inbox; nothing is lost
            log.exception("worker %s: event %s failed (attempt %s)", self.name, event.id, event.attempts)
            await self.inbox.fail(event.id, f"{type(e).__name__}: {e}", event.attempts)
            return event.id, None
        if result.reply is not None:
            self.replies_queued.set()
        await self._tell_agents(result)
        return event.id, result

    async def _tell_agents(self, result: HandleResult) -> None:
        """After the outcome is stored: agents hear of new escalations and of customer messages.

        Best effort: the SLA loop announces any escalation this misses (e.g. after a crash).
        """
        if self.handoff is None:
            return
        try:
            if result.new_escalation and result.escalation_id:
                await self.handoff.announce(result.escalation_id)
            elif result.relayed:
                await self.handoff.relay_customer(result.conversation_id, result.text)
        except Exception:
            log.exception("worker %s: could not tell the agents about conversation %s", self.name,
                          result.conversation_id)

    async def drain(self) -> dict[int, HandleResult | None]:
        """Handle everything that is ready now."""
        done: dict[int, HandleResult | None] = {}
        while (item := await self.process_next()) is not None:
            event_id, result = item
            if event_id in done and result is None:
                break  # it failed again right away; leave it for a later pass
            done[event_id] = result
        return done

    async def run(self, stop: asyncio.Event, idle: float = 1.0) -> None:
        """Drain until stop is set, waking when an event arrives (or every `idle` seconds)."""
        while not stop.is_set():
            self.inbox.arrived.clear()
            try:
                await self.drain()
            except Exception:  # the database went away mid-claim: keep the worker alive, retry after idle
                log.exception("worker %s: could not reach the inbox; retrying", self.name)
                self.inbox.arrived.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.inbox.arrived.wait())]
            await asyncio.wait(waiters, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
