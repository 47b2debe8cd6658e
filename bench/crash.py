"""`bench/load.py --crash`: kill -9 one of two PostgreSQL `serve` processes mid-run and restart it.

The load runs as usual over two processes. Once 40% of the messages are answered, process 0 is
killed with SIGKILL and started again at once on its port (with the same `--name`, so a serve
that keeps a stable worker identity takes back what its previous life held). Customers whose
POST finds the process gone post the same update again to the other one, as Telegram and Slack
redeliver an unacknowledged update (the inbox dedupe absorbs what was already stored).

Printed: recovered_s = from the kill until every message that was in flight at the kill (posted,
not yet answered) was answered; the restart time; and lost / doubled over the whole run.
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, select

from bench.serve_procs import Servers
from bot.db.models import OutboxMessage


class Crash:
    def __init__(self, servers: Servers, total: int, at: float = 0.4):
        self.servers, self.total, self.at = servers, total, at
        self.started: dict[str, float] = {}  # ext -> when its customer first posted it
        self.kill_t: float | None = None
        self.in_flight: set[str] = set()
        self.restart_s = float("nan")
        self.window = 0  # replies being sent at the kill: the documented window where one may double

    async def run(self, sent: dict, stop: asyncio.Event, sessions) -> None:  # noqa: ANN001
        """Wait for the kill point, kill process 0, note what was in flight, restart it."""
        while sum(len(v) == 3 for v in sent.values()) < self.total * self.at:
            if stop.is_set():
                return
            await asyncio.sleep(0.05)  # the bench's own pacing, not a test
        await self.servers.kill9(0)
        self.kill_t = time.perf_counter()
        self.in_flight = {ext for ext in self.started if len(sent.get(ext, ())) != 3}
        async with sessions() as s:  # process 1 still sends too; this bounds what the kill may double
            self.window = int(await s.scalar(select(func.count()).select_from(OutboxMessage)
                                             .where(OutboxMessage.status == "sending")) or 0)
        await self.servers.restart(0)
        self.restart_s = time.perf_counter() - self.kill_t

    def result(self, sent: dict) -> dict:
        if self.kill_t is None:
            return dict(recovered_s=float("nan"), in_flight_at_kill=0, restart_s=self.restart_s, named=False,
                        sending_at_kill=0)
        answered = [sent[e][2] for e in self.in_flight if len(sent.get(e, ())) == 3]
        recovered = max(answered, default=self.kill_t) - self.kill_t
        if len(answered) < len(self.in_flight):
            recovered = float("inf")  # some were never answered within the run
        return dict(recovered_s=recovered, in_flight_at_kill=len(self.in_flight), restart_s=self.restart_s,
                    named=self.servers.named, sending_at_kill=self.window)


def report(r: dict) -> str:
    return (f"  crash             kill -9 of process 0 at 40%: {r['in_flight_at_kill']} messages in flight, "
            f"all answered {r['recovered_s']:.1f} s after the kill (restart took {r['restart_s']:.1f} s; "
            f"stable name: {'yes' if r['named'] else 'no'}); lost {r['lost']}, doubled {r['doubled']} "
            f"(replies being sent at the kill, the window where one may double: {r['sending_at_kill']})")
