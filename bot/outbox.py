"""The outbox: replies are persisted first, then delivered by their channel with retries.

A row is claimed (status "sending" with a lease), handed to the channel adapter, then
marked sent with the platform's message id. Failures are retried with backoff (or after
the platform's Retry-After); a permanent failure (the customer blocked the bot) marks the
row failed and the customer unreachable instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.channel import ChannelRegistry, DeliveryError
from bot.db.models import Conversation, Customer, OutboxMessage
from bot.messages import Reply, utcnow

log = logging.getLogger("supportbot.outbox")
MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)


def backoff(attempt: int, base: float = 1.0, cap: float = 300.0) -> float:
    return min(cap, base * 2 ** max(0, attempt - 1))


class Outbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], channels: ChannelRegistry):
        self.sessions = sessions
        self.channels = channels

    async def _claim(self, limit: int) -> list[OutboxMessage]:
        now = utcnow()
        ready = or_(and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
                    and_(OutboxMessage.status == "sending", OutboxMessage.next_attempt_at <= now))
        claimed = []
        async with self.sessions.begin() as s:
            ids = (await s.scalars(select(OutboxMessage.id).where(
                ready, OutboxMessage.channel.in_(self.channels.names()))
                .order_by(OutboxMessage.id).limit(limit))).all()
            for row_id in ids:
                won = await s.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, ready).values(
                    status="sending", attempts=OutboxMessage.attempts + 1, next_attempt_at=now + LEASE))
                if won.rowcount == 1:
                    claimed.append(await s.get(OutboxMessage, row_id))
        return claimed

    async def release_all(self) -> int:
        """Make rows left "sending" by a dead process due now (only safe with one process: SQLite)."""
        async with self.sessions.begin() as s:
            done = await s.execute(update(OutboxMessage).where(OutboxMessage.status == "sending")
                                   .values(status="pending", next_attempt_at=utcnow()))
        return done.rowcount

    async def flush(self, limit: int = 100) -> int:
        """Deliver what is due now; returns how many were sent."""
        sent = 0
        for row in await self._claim(limit):
            sent += await self._deliver(row)
        return sent

    async def _deliver(self, row: OutboxMessage) -> int:
        channel = self.channels.get(row.channel)
        r = row.recipient or {}
        reply = Reply(text=row.text, channel=row.channel, customer_id=r.get("customer_id", ""),
                      conversation_key=r.get("conversation_key", ""), reply_to=r.get("reply_to"),
                      buttons=tuple(row.buttons or ()))
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
        async with self.sessions.begin() as s:
            await s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                status="sent", sent_at=utcnow(), external_id=external_id, error=None))
        metrics.observe_delivery(row.channel, "sent")
        log.info("delivered", extra={"conversation_id": row.conversation_id, "outbox_id": row.id,
                                     "channel": row.channel, "attempts": row.attempts})
        return 1

    async def _failed(self, row: OutboxMessage, e: DeliveryError) -> None:
        give_up = e.permanent or row.attempts >= MAX_ATTEMPTS
        metrics.observe_delivery(row.channel, "failed" if give_up else "retry")
        delay = e.retry_after if e.retry_after is not None else backoff(row.attempts)
        log.warning("outbox: delivery of #%s on %s failed (attempt %s%s): %s", row.id, row.channel,
                    row.attempts, ", giving up" if give_up else f", retry in {delay:.1f}s", e,
                    extra={"conversation_id": row.conversation_id, "outbox_id": row.id})
        async with self.sessions.begin() as s:
            await s.execute(update(OutboxMessage).where(OutboxMessage.id == row.id).values(
                status="failed" if give_up else "pending", error=str(e)[:2000],
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
        """Deliver until stop is set; wake is set whenever a reply is queued."""
        while not stop.is_set():
            try:
                await self.flush()
                due = await self.next_due_in()
            except Exception:  # the database went away: keep the sender alive, retry after idle
                log.exception("outbox: could not reach the database; retrying")
                due = None
            wake.clear()
            timeout = idle if due is None else min(idle, due)
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        await self.flush()
