"""Transactions and SQL statements per message through the inbox, the worker and the outbox (issue 16).

    .venv/bin/python bench/sql_count.py [--db sqlite|postgresql] [--customers 50] [--messages 6]

In one process, as `serve` runs them: the worker (`run`) and the outbox sender (`run`), the local
outbox given to the worker, the test config (tests/fixtures) with the scripted classifier of the
tests (no LLM: the plumbing path), a channel that records replies. Two phases: one customer
sending --messages messages one after the other ("unloaded"), then --customers customers doing the
same at once ("loaded"), each waiting for the reply to its message before sending the next. Every
commit and every statement the app's engine runs from the first message to the last sent-mark is
counted, claims separately (inbox and outbox claim statements, and those that found nothing).
The worker and the sender poll once an hour here, so their idle polls do not count. The last line
is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import shutil
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import event, func, select  # noqa: E402

from bot.app import App  # noqa: E402
from bot.db import models as m  # noqa: E402
from bot.db.engine import make_engine, session_factory  # noqa: E402
from bot.messages import InboundMessage, Reply  # noqa: E402
from tests.fakes.doubles import Scripted  # noqa: E402
from tests.helpers import mini_settings  # noqa: E402

from bench.scratch_db import scratch_database  # noqa: E402

HOUR = 3600.0
TEXTS = ("where is my order", "how do I return an item", "hello", "my card was charged twice", "what's the weather")


class Seen:
    """A channel that records each reply and wakes whoever waits for that conversation."""

    name = "test"

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def deliver(self, reply: Reply, key: str) -> str:
        self.count[reply.conversation_key] += 1
        self.events[reply.conversation_key].set()
        return key


class Tally:
    def __init__(self, engine) -> None:  # noqa: ANN001
        self.on = False
        self.commits = self.statements = self.inbox_claims = self.outbox_claims = 0
        sync = engine.sync_engine

        @event.listens_for(sync, "commit")
        def _commit(_conn) -> None:  # noqa: ANN001
            self.commits += self.on

        @event.listens_for(sync, "before_cursor_execute")
        def _statement(_conn, _cursor, statement: str, *_a) -> None:  # noqa: ANN001, ANN002
            if not self.on:
                return
            self.statements += 1
            if "inbox_events AS cand" in statement:
                self.inbox_claims += 1
            elif "outbox_messages AS cand" in statement:
                self.outbox_claims += 1

    def take(self, messages: int) -> dict[str, float]:
        out = {"transactions_per_msg": self.commits / messages, "statements_per_msg": self.statements / messages,
               "inbox_claims_per_msg": self.inbox_claims / messages,
               "outbox_claims_per_msg": self.outbox_claims / messages}
        self.commits = self.statements = self.inbox_claims = self.outbox_claims = 0
        return {k: round(v, 2) for k, v in out.items()}


async def customer(app: App, seen: Seen, who: str, n: int) -> None:
    for k in range(n):
        expected = seen.count[who] + 1
        seen.events[who].clear()
        msg = InboundMessage(channel="test", customer_id=who, conversation_key=who, text=TEXTS[k % len(TEXTS)],
                             customer_name="Ann")
        await app.inbox.accept(msg, f"{who}:{k}")
        while seen.count[who] < expected:
            await asyncio.wait_for(seen.events[who].wait(), 60)
            seen.events[who].clear()


async def all_marked(sessions) -> None:  # noqa: ANN001
    """Wait (on another engine: its reads are not counted) until every reply is marked sent."""
    for _ in range(6000):
        async with sessions() as s:
            left = await s.scalar(select(func.count()).select_from(m.OutboxMessage)
                                  .where(m.OutboxMessage.status != "sent"))
        if not left:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("replies not marked sent")


async def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="sb-sqlcount-"))
    try:
        async with scratch_database(args.db, args.pg_url, tmp, "count") as url:
            return await _count(args, url)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _count(args: argparse.Namespace, url: str) -> dict:
    settings = mini_settings()
    settings.database.url = url
    watcher = make_engine(url)
    async with App.open(settings, classifier=Scripted()) as app:
        seen = Seen()
        app.channels.register(seen)
        app.worker.concurrency = 32
        app.worker.outbox = app.outbox  # as serve wires it (an attribute the code before issue 16 ignores)
        tally = Tally(app.engine)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(app.worker.run(stop, idle=HOUR)),
                 asyncio.create_task(app.outbox.run(stop, app.worker.replies_queued, idle=HOUR))]
        await asyncio.sleep(0.5)  # their first pass (a claim each) is over before counting starts
        result: dict[str, object] = {"db": args.db}
        tally.on = True
        await customer(app, seen, "solo", args.messages)
        await all_marked(session_factory(watcher))
        result["unloaded"] = tally.take(args.messages)
        await asyncio.gather(*(customer(app, seen, f"c{i}", args.messages) for i in range(args.customers)))
        await all_marked(session_factory(watcher))
        result["loaded"] = tally.take(args.customers * args.messages)
        tally.on = False
        stop.set()
        await asyncio.gather(*tasks)
    await watcher.dispose()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--customers", type=int, default=50)
    p.add_argument("--messages", type=int, default=6)
    p.add_argument("--pg-url", default=os.environ.get("SUPPORTBOT_TEST_PG_URL",
                                                      "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    args = p.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("supportbot").setLevel(logging.ERROR)
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
