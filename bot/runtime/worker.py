"""The worker: claims inbox events and hands them to the orchestrator, several at once.

A worker handles up to `concurrency` events at the same time (mostly they wait on model
calls). They always belong to different conversations: the inbox hands out a conversation's
next message only when the previous one is finished, so each conversation is still answered
one message at a time, in order.

Leases: every event in hand is leased to the worker's name for `lease_seconds` (15 s by default)
and one heartbeat per worker renews all of them in one statement every `heartbeat_seconds` (a
third of the lease), so a slow message keeps its event while a killed process's events are free
again seconds later. `serve` names its workers after a stable process identity
(`worker_identity`: host + `serve --name` / `worker.name` / the port), so a restarted process
takes back at once what its previous life held instead of waiting for the lease.

Hand-overs (issue 16): while `run` is on, the worker takes events a channel just stored in this
process by id (bot/runtime/inbox.py `accept`: stored already leased to it), and its finished replies
go to the local outbox stored leased to it (`Outbox.hand`): no claim round trip either way. It
claims only when woken by an event that may have made something ready (an event stored pending
here because every slot was busy, one handed back for a retry, a finish whose conversation has a
later event waiting, a claim that filled every slot), and every `idle` seconds for what other
processes stored and for leases that ran out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from bot.db.store import AlreadyHandled, Handling, reset_handling, set_handling, write_held_calls
from bot.handoff.escalations import Handoff
from bot.messages import utcnow
from bot.runtime.inbox import LEASE_SECONDS, ClaimedEvent, Inbox, from_payload
from bot.runtime.outbox import ClaimedReply, Outbox
from bot.messages import HandleResult
from bot.pipeline.orchestrator import Orchestrator

log = logging.getLogger("supportbot.worker")


def worker_identity(name: str | None, port: int) -> str:
    """The stable identity of a `serve` process: host name + its name (else the port it listens on).

    Two processes alive at the same time must not share it (a start takes back what the identity
    held); the port default guarantees that on one host."""
    return f"{socket.gethostname()}:{name or port}"


class Worker:
    def __init__(self, inbox: Inbox, orchestrator: Orchestrator, *, name: str | None = None,
                 lease_seconds: float = LEASE_SECONDS, replies_queued: asyncio.Event | None = None,
                 handoff: Handoff | None = None, concurrency: int = 1, heartbeat_seconds: float | None = None,
                 outbox: Outbox | None = None):
        self.inbox = inbox
        self.orchestrator = orchestrator
        self.handoff = handoff
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.replies_queued = replies_queued or asyncio.Event()
        self.concurrency = max(1, concurrency)
        self.heartbeat_seconds = heartbeat_seconds or lease_seconds / 3
        self.held: set[int] = set()  # events in hand, their leases renewed by the heartbeat
        self._heartbeat: asyncio.Task[None] | None = None
        self._beating = False  # a renewal statement is running (not cancelled mid-transaction)
        self.outbox = outbox  # the local sender its replies are handed to (serve sets it)
        self.running: set[asyncio.Task[None]] = set()  # events being handled by run()
        self.reserved = 0  # slots promised to events an accept is storing leased to this worker
        self._freed = asyncio.Event()

    # --- the hand-over (bot/runtime/inbox.py Taker) -------------------------------------------------
    def free_slots(self) -> int:
        return self.concurrency - len(self.running) - self.reserved

    def reserve(self) -> None:
        self.reserved += 1

    def unreserve(self) -> None:
        self.reserved -= 1
        self._freed.set()

    def take(self, event: ClaimedEvent) -> None:
        """An event stored leased to this worker (an accept of this process): handle it now."""
        self.reserved -= 1
        self._start(event)

    def _start(self, event: ClaimedEvent) -> None:
        task = asyncio.create_task(self._safe_handle(event), name=f"event-{event.id}")
        self.running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.running.discard(task)
        self._freed.set()

    async def process_next(self) -> tuple[int, HandleResult | None] | None:
        """Handle the next ready event. None when nothing is ready; (id, None) when it failed."""
        event = await self.inbox.claim(self.name, self.lease_seconds)
        if event is None:
            return None
        return event.id, await self.handle(event)

    async def handle(self, event: ClaimedEvent) -> HandleResult | None:
        """Handle one claimed event; None when it failed (it goes back to the inbox, nothing is lost).

        The heartbeat renews the lease while the message is handled, so a slow message (model calls
        retrying, a provider timing out) is not taken over by another worker.
        """
        self.held.add(event.id)
        self.inbox.in_hand[event.thread_key] += 1
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat_while_held(), name=f"heartbeat-{self.name}")
        handling = Handling()
        if self.outbox is not None and self.outbox.taking:  # its reply is stored leased to the local sender
            handling = Handling(sender=self.outbox.name, lease_until=utcnow() + self.outbox.lease,
                                channels=frozenset(self.outbox.channels.names()))
        token = set_handling(handling)
        try:
            result = await self.orchestrator.handle(from_payload(event.payload), event_id=event.id)
        except AlreadyHandled:  # its lease ran out and another worker answered it: nothing was written
            log.warning("worker %s: event %s was finished by another worker; dropped this outcome",
                        self.name, event.id)
            await self._record_held_calls(event.id)
            return None
        except Exception as e:
            log.exception("worker %s: event %s failed (attempt %s)", self.name, event.id, event.attempts)
            await self._record_held_calls(event.id)
            await self.inbox.fail(event.id, f"{type(e).__name__}: {e}", event.attempts, worker=self.name)
            return None
        finally:
            reset_handling(token)
            self.held.discard(event.id)
            self.inbox.let_go(event.thread_key)
            if not self.held and self._heartbeat is not None and not self._beating:
                self._heartbeat.cancel()  # asleep: nothing left to renew (mid-beat it ends by itself)
        if handling.next_waiting:
            self.inbox.arrived.set()  # the conversation's next message is ready now: claim it
        handed = handling.handed_reply
        if handed is not None and self.outbox is not None:
            if not self.outbox.hand(ClaimedReply(**handed)):  # else: sent now by the local sender, no claim
                await self.outbox.hand_back(handed["id"])  # the sender stopped meanwhile: pending again
                self.replies_queued.set()
        elif result.reply is not None:
            self.replies_queued.set()  # stored pending: the sender claims it
        await self._tell_agents(result)
        return result

    async def _record_held_calls(self, event_id: int) -> None:
        """The model calls of an outcome that was not written are still spend: record them alone."""
        try:
            await write_held_calls(self.inbox.sessions)
        except Exception:  # the database is away: those rows are lost (the retry records its own)
            log.exception("worker %s: could not record the model calls of event %s", self.name, event_id)

    async def beat(self) -> set[int]:
        """Renew the leases of every event in hand (one statement); the ids this worker still holds.

        An event it no longer holds (its lease ran out and another worker took it) is not renewed
        again; finishing it will find it taken (AlreadyHandled) and write nothing."""
        ids = sorted(self.held)
        kept = await self.inbox.extend_many(ids, self.name, self.lease_seconds)
        for lost in set(ids) - kept:
            if lost in self.held:  # not just finished: taken over
                log.warning("worker %s: lost the lease of event %s", self.name, lost)
                self.held.discard(lost)
        return kept

    async def _beat_while_held(self) -> None:
        while self.held:
            await asyncio.sleep(self.heartbeat_seconds)
            self._beating = True
            try:
                await self.beat()
            except Exception:  # the database is away: try again at the next beat, the lease still runs
                log.exception("worker %s: could not renew the leases of events %s", self.name, sorted(self.held))
            finally:
                self._beating = False

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
        """Handle events until stop is set, up to `concurrency` at once; then finish those in hand.

        Takes the events this process stores by id while it has a free slot (`take`), and claims
        when woken by `inbox.arrived` (an event that may be ready) with a slot free, or every `idle`
        seconds (other processes' events, leases that ran out)."""
        loop = asyncio.get_running_loop()
        poll_at = loop.time()  # the first pass claims at once: what was stored before the start
        self.inbox.takers.append(self)
        try:
            while not stop.is_set():
                free = self.free_slots()
                if free > 0 and (self.inbox.arrived.is_set() or loop.time() >= poll_at):
                    self.inbox.arrived.clear()
                    stored = self.inbox.stored_pending
                    claimed: list[ClaimedEvent] | None = None
                    self.reserved += free  # the claim's slots: no hand-over takes them meanwhile
                    try:
                        claimed = await self.inbox.claim_many(self.name, free, self.lease_seconds)
                    except Exception:  # the database went away mid-claim: keep the worker alive, retry
                        log.exception("worker %s: could not reach the inbox; retrying", self.name)
                    finally:
                        self.reserved -= free
                    poll_at = loop.time() + idle
                    if claimed is None:
                        claimed = []
                    elif len(claimed) < free and self.inbox.stored_pending == stored:
                        self.inbox.queueing = False  # nothing stored here waits for a slot: hand over again
                    for event in claimed:
                        self._start(event)
                    if claimed and len(claimed) >= free:
                        self.inbox.arrived.set()  # there may be more ready: claim again once a slot frees
                    continue
                self._freed.clear()
                wake = self.inbox.arrived if free > 0 else self._freed
                waiters = [asyncio.ensure_future(e.wait()) for e in (stop, wake)]
                timeout = max(0.0, poll_at - loop.time()) if free > 0 else None
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()
        finally:
            self.inbox.takers.remove(self)
        while self.running:  # stopping: the events in hand are finished, not abandoned to their leases
            await asyncio.gather(*list(self.running), return_exceptions=True)

    async def _safe_handle(self, event: ClaimedEvent) -> None:
        try:
            await self.handle(event)
        except Exception:  # recording the failure itself failed (database gone): the lease expires
            log.exception("worker %s: event %s could not be handed back", self.name, event.id)
