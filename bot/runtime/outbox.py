"""The outbox: replies are persisted first, then delivered by their channel with retries.

A row is claimed (status "sending", locked by this process under a short lease that a heartbeat
renews while the send is in flight), handed to the channel adapter, then marked sent with the
platform's message id. A process restarted under the same identity takes back at once the rows
its previous life was sending (`take_back`); another process takes them when the lease expires.
Sent-marks are batched: each round of concurrent deliveries is marked sent in one statement
(executemany) once the round is over. A delivered row stays in `sending` (its lease renewed) until
its mark is committed; a mark that cannot be written (the database is away) is kept and written
before the next claim, so no mark is lost and the row is not sent again by this process.
A reply a local worker just finished comes stored already leased to this sender (bot/db/store.py
queue_reply) and is handed over by `hand`: delivered at once, without a claim, under the same
heartbeat, and marked sent in a batch with the other marks written meanwhile.
Failures are retried with backoff (or after the platform's Retry-After); a permanent failure (the
customer blocked the bot) marks the row failed and the customer unreachable instead of retrying
forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, FromClause, Update, and_, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.monitor import metrics
from bot.runtime.channel import ChannelRegistry, DeliveryError
from bot.db.engine import retry_on_disconnect, rows_affected
from bot.db.models import Conversation, Customer, JsonObject, OutboxMessage, table
from bot.runtime.inbox import held_by
from bot.messages import Reply, utcnow

log = logging.getLogger("supportbot.outbox")
MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=15)  # the default; serve uses worker.lease_seconds


ROWS = table(OutboxMessage)
MARK_SENT = update(ROWS).where(ROWS.c.id == bindparam("row_id")).values(
    status="sent", sent_at=bindparam("now", type_=ROWS.c.sent_at.type), external_id=bindparam("external_id"),
    error=None)
EXTEND = (update(ROWS)
          .where(ROWS.c.id.in_(bindparam("ids", expanding=True)), ROWS.c.status == "sending",
                 ROWS.c.locked_by == bindparam("sender"))
          .values(next_attempt_at=bindparam("until", type_=ROWS.c.next_attempt_at.type)))


@functools.cache
def _claim_statement(dialect: str) -> Update:
    """UPDATE ... RETURNING leasing due rows on the running channels, one per conversation.

    A row waits while an earlier row of its conversation is unsent (pending or being sent), so
    replies reach the customer in order even with several senders or processes; SKIP LOCKED on
    PostgreSQL keeps concurrent senders apart. Built once (see bot/db/statements.py for why).
    """
    now = bindparam("now", type_=ROWS.c.next_attempt_at.type)

    def ready(t: FromClause) -> ColumnElement[bool]:  # the table or an alias of it
        return and_(t.c.status.in_(("pending", "sending")), t.c.next_attempt_at <= now)

    cand, earlier = ROWS.alias("cand"), ROWS.alias("earlier")
    blocked = exists().where(earlier.c.conversation_id == cand.c.conversation_id, earlier.c.id < cand.c.id,
                             earlier.c.status.in_(("pending", "sending")))
    candidates = (select(cand.c.id).where(ready(cand), ~blocked, cand.c.channel.in_(bindparam("channels",
                                                                                              expanding=True)))
                  .order_by(cand.c.id).limit(bindparam("limit")))
    if dialect == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    chosen = candidates.cte("chosen").prefix_with("MATERIALIZED")
    return (update(ROWS).where(ROWS.c.id == chosen.c.id, ready(ROWS))
            .values(status="sending", attempts=ROWS.c.attempts + 1, locked_by=bindparam("sender"),
                    next_attempt_at=bindparam("lease_until", type_=ROWS.c.next_attempt_at.type))
            .returning(*(ROWS.c[name] for name in ClaimedReply._fields)))


class ClaimedReply(NamedTuple):
    """An outbox row leased for delivery (the columns the sender reads, from the claim's RETURNING)."""

    id: int
    channel: str
    conversation_id: int | None
    recipient: JsonObject  # customer_id, conversation_key, reply_to, sender (bot/db/store.py queue_reply)
    text: str
    buttons: list[str] | None
    idempotency_key: str
    attempts: int  # this claim included


class SentMark(NamedTuple):
    """A delivered row's sent-mark, waiting to be written (MARK_SENT's parameters)."""

    row_id: int
    now: datetime
    external_id: str | None


def backoff(attempt: int, base: float = 1.0, cap: float = 300.0) -> float:
    return min(cap, base * 2.0 ** max(0, attempt - 1))


class Outbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], channels: ChannelRegistry, *,
                 name: str | None = None, lease_seconds: float | None = None, heartbeat_seconds: float | None = None):
        self.sessions = sessions
        self.channels = channels
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"  # serve: the process identity
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.sending: set[int] = set()  # rows being delivered now, their leases renewed by the heartbeat
        self.unmarked: dict[int, SentMark] = {}  # delivered rows whose sent-mark is not committed yet
        self.taking = False  # run() is on: local workers hand their replies over (store them leased to us)
        self._direct: set[asyncio.Task[None]] = set()  # handed-over replies being delivered
        self._heartbeat: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()  # set when nothing is being sent: the heartbeat ends
        self._marker: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None  # run()'s wake: set to claim again
        self._recheck = False  # a claim found nothing while handed-over rows were in flight
        self._settled = 0  # rows whose send was settled (marked sent, or its failure recorded): a counter

    @property
    def lease(self) -> timedelta:
        return LEASE if self.lease_seconds is None else timedelta(seconds=self.lease_seconds)

    async def _claim(self, limit: int) -> list[ClaimedReply]:
        """Lease up to `limit` due rows, at most one per conversation (the earliest unsent)."""
        async def claim() -> list[ClaimedReply]:
            now = utcnow()
            async with self.sessions.begin() as s:
                rows = (await s.execute(_claim_statement(s.get_bind().dialect.name), dict(
                    now=now, limit=limit, channels=list(self.channels.names()), lease_until=now + self.lease,
                    sender=self.name))).all()
            return [ClaimedReply(*row) for row in rows]

        return await retry_on_disconnect(claim)

    async def beat(self) -> int:
        """Renew the leases of the rows being delivered now (one statement); how many are still ours."""
        if not self.sending:
            return 0
        async with self.sessions.begin() as s:
            done = await s.execute(EXTEND, dict(ids=sorted(self.sending), sender=self.name,
                                                until=utcnow() + self.lease))
        return rows_affected(done)

    def _keep_leased(self) -> None:
        """Renew the leases of the rows in `sending` until it is empty (one heartbeat per outbox)."""
        self._quiet.clear()
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat_while_sending(), name="outbox-heartbeat")

    def _settle(self) -> None:
        if not self.sending:
            self._quiet.set()

    async def _beat_while_sending(self) -> None:
        interval = self.heartbeat_seconds or self.lease.total_seconds() / 3
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while self.sending:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), max(0.0, due - loop.time()))
            if not self.sending:
                return  # never cancelled in the middle of a renewal's transaction
            if loop.time() < due:
                continue  # it went quiet and busy again: the lease still runs
            due = loop.time() + interval
            try:
                await self.beat()
            except Exception:  # the database is away: try again at the next beat, the lease still runs
                log.exception("outbox: could not renew the leases of rows %s", sorted(self.sending))

    def hand(self, row: ClaimedReply) -> bool:
        """Deliver a reply stored leased to this sender now, without a claim (a local worker just finished it).

        False when the outbox is not running (any more): then `hand_back` makes the row pending."""
        if not self.taking:
            return False
        self.sending.add(row.id)
        self._keep_leased()
        task = asyncio.create_task(self._send_handed(row), name=f"outbox-{row.id}")
        self._direct.add(task)
        task.add_done_callback(self._direct.discard)
        return True

    async def hand_back(self, row_id: int) -> None:
        """A row stored leased to this sender that it will not send (it stopped): pending again, due now.

        When that fails too (the database is away), the next start takes it back, another process
        once the lease ends."""
        try:
            async with self.sessions.begin() as s:
                await s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.status == "sending",
                                                            OutboxMessage.locked_by == self.name)
                                .values(status="pending", locked_by=None, next_attempt_at=utcnow()))
        except Exception:
            log.exception("outbox: reply #%s could not be handed back; its lease will run out", row_id)

    async def _send_handed(self, row: ClaimedReply) -> None:
        try:
            await self._delivered(row)
        except Exception:  # recording the failure failed (database away): its lease runs out, it is retried
            log.exception("outbox: reply #%s could not be handed back", row.id)
            self.sending.discard(row.id)
            self._settle()
        if row.id not in self.unmarked:  # it failed: rescheduled (or given up)
            self._settled += 1
            self._claim_again()
        if self.unmarked and (self._marker is None or self._marker.done()):
            self._marker = asyncio.create_task(self._write_marks(), name="outbox-marks")

    async def _write_marks(self) -> None:
        """Write the marks of handed-over deliveries, each batch holding all that were waiting."""
        while self.unmarked:
            if not await self._mark_sent():
                return  # the database is away: the next flush writes them (the rows stay leased to us)
            self._claim_again()

    def _claim_again(self) -> None:
        """A reply queued behind a handed-over one was not ready for the claim then: it may be now."""
        if self._recheck and self._wake is not None:
            self._recheck = False
            self._wake.set()
    async def take_back(self, identity: str) -> int:
        """At start: rows this process identity's previous life was sending are due again now."""
        async with self.sessions.begin() as s:
            done = await s.execute(update(OutboxMessage).where(OutboxMessage.status == "sending",
                                                               held_by(OutboxMessage.locked_by, identity))
                                   .values(status="pending", locked_by=None, next_attempt_at=utcnow()))
        return rows_affected(done)

    async def release_all(self) -> int:
        """Make rows left "sending" by a dead process due now (only safe with one process: SQLite)."""
        async with self.sessions.begin() as s:
            done = await s.execute(update(OutboxMessage).where(OutboxMessage.status == "sending")
                                   .values(status="pending", next_attempt_at=utcnow()))
        return rows_affected(done)

    async def flush(self, limit: int = 64) -> int:
        """Deliver what is due now; returns how many were sent.

        Different conversations' replies go out concurrently; one conversation's replies go out
        one after the other, in order (a claim takes only the earliest unsent row of each).
        """
        sent = 0
        await self._mark_sent()  # marks a previous flush could not write go first
        while rows := await self._claim_or_note(limit):
            self.sending.update(row.id for row in rows)
            rows = [row for row in rows if row.id not in self.unmarked]  # delivered already: only its mark waits
            self._keep_leased()
            try:
                delivered = sum(await asyncio.gather(*(self._delivered(row) for row in rows)))
                await self._mark_sent()  # one statement for the round, under the still-running heartbeat
            finally:
                self.sending.difference_update(row.id for row in rows if row.id not in self.unmarked)
                self._settle()
            sent += delivered
            if self.unmarked:
                break  # the database is away: the kept marks are written at the next flush
            if not delivered:
                break  # everything claimed failed: retry at its scheduled time, not in a tight loop
        return sent

    async def _claim_or_note(self, limit: int) -> list[ClaimedReply]:
        in_flight, settled = bool(self._direct or self.unmarked), self._settled
        self._recheck = False
        rows = await self._claim(limit)
        if not rows and in_flight:
            # what waits behind a handed-over row is claimed once that one is settled (perhaps meanwhile)
            self._recheck = True
            if self._settled != settled:
                self._claim_again()
        return rows

    async def _delivered(self, row: ClaimedReply) -> int:
        try:
            return await self._deliver(row)
        finally:
            if row.id not in self.unmarked:
                self.sending.discard(row.id)  # done with it: no more renewals
                self._settle()

    async def _mark_sent(self) -> int:
        """Write every pending sent-mark in one transaction; kept for the next try when it fails."""
        if not self.unmarked:
            return 0
        marks = dict(self.unmarked)

        async def write() -> None:
            async with self.sessions.begin() as s:
                await s.execute(MARK_SENT, [mark._asdict() for mark in marks.values()])

        try:
            await retry_on_disconnect(write)
        except Exception:  # kept: written before the next claim, the rows' leases renewed meanwhile
            log.exception("outbox: could not mark %s sent; will retry", sorted(marks))
            return 0
        for row_id in marks:
            self.unmarked.pop(row_id, None)
            self.sending.discard(row_id)
        self._settled += len(marks)
        self._settle()
        return len(marks)

    async def _deliver(self, row: ClaimedReply) -> int:
        channel = self.channels.get(row.channel)
        r = row.recipient or {}
        reply = Reply(text=row.text, channel=row.channel, customer_id=r.get("customer_id", ""),
                      conversation_key=r.get("conversation_key", ""), reply_to=r.get("reply_to"),
                      buttons=tuple(row.buttons or ()), sender=str(r.get("sender") or ""))
        try:
            if channel is None:
                raise DeliveryError(f"no channel {row.channel!r} is running")
            external_id = await channel.deliver(reply, row.idempotency_key)
        except DeliveryError as e:
            await self._failed(row, e)
            return 0
        except Exception as e:  # an adapter bug must not stop the outbox; retry later
            log.exception("outbox: channel %s raised while delivering #%s", row.channel, row.id)
            await self._failed(row, DeliveryError(f"{type(e).__name__}: {e}"))
            return 0
        self.unmarked[row.id] = SentMark(row_id=row.id, now=utcnow(), external_id=external_id)
        metrics.observe_delivery(row.channel, "sent")
        log.info("delivered", extra={"conversation_id": row.conversation_id, "outbox_id": row.id,
                                     "channel": row.channel, "attempts": row.attempts})
        return 1

    async def _failed(self, row: ClaimedReply, e: DeliveryError) -> None:
        give_up = e.permanent or row.attempts >= MAX_ATTEMPTS
        metrics.observe_delivery(row.channel, "failed" if give_up else "retry")
        delay = e.retry_after if e.retry_after is not None else backoff(row.attempts)
        log.warning("outbox: delivery of #%s on %s failed (attempt %s%s): %s", row.id, row.channel,
                    row.attempts, ", giving up" if give_up else f", retry in {delay:.1f}s", e,
                    extra={"conversation_id": row.conversation_id, "outbox_id": row.id})
        async with self.sessions.begin() as s:  # only while still ours: a row another process took over stays
            await s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id, OutboxMessage.status == "sending",
                                                        OutboxMessage.locked_by == self.name).values(
                status="failed" if give_up else "pending", error=str(e)[:2000], locked_by=None,
                next_attempt_at=utcnow() + timedelta(seconds=delay)))
            if e.unreachable and row.conversation_id:
                customer_id = await s.scalar(select(Conversation.customer_id)
                                             .where(Conversation.id == row.conversation_id))
                await s.execute(update(Customer).where(Customer.id == customer_id).values(unreachable=True))

    async def next_due_in(self) -> float | None:
        """Seconds until the next pending row is due (None when nothing waits)."""
        async with self.sessions() as s:
            when = await s.scalar(select(OutboxMessage.next_attempt_at)
                                  .where(OutboxMessage.status.in_(("pending", "sending")))
                                  .order_by(OutboxMessage.next_attempt_at).limit(1))
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=utcnow().tzinfo)
        return max(0.0, (when - utcnow()).total_seconds())

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, idle: float = 1.0) -> None:
        """Deliver until stop is set; wake is set whenever a reply is queued pending.

        While it runs, local workers hand their replies over (`hand`); stopping, it finishes those
        deliveries, flushes what is due and writes every mark it can."""
        self.taking, self._wake = True, wake
        try:
            await self._run(stop, wake, idle)
        finally:
            self.taking, self._wake = False, None
            if self._direct:
                await asyncio.gather(*self._direct, return_exceptions=True)
        await self.flush()
        if self._marker is not None:
            await self._marker
        if self._heartbeat is not None and not self.sending:
            await self._heartbeat

    async def _run(self, stop: asyncio.Event, wake: asyncio.Event, idle: float) -> None:
        while not stop.is_set():
            try:
                await self.flush()
                due = await self.next_due_in()
            except Exception:  # the database went away: keep the sender alive, retry after idle
                log.exception("outbox: could not reach the database; retrying")
                due = None
            wake.clear()
            if self._recheck:  # what is due waits behind a handed-over send: woken once that is settled
                due = None
            timeout = idle if due is None else min(idle, due)
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
