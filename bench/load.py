"""Load benchmark: concurrent simulated customers through the real HTTP endpoints (loopback only).

    .venv/bin/python bench/load.py [--customers 200] [--messages 5] [--latency-ms 200]
                                   [--db sqlite|postgresql] [--processes 1] [--workers 1]
                                   [--concurrency 16] [--duration-cap 120]
                                   [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
                                   [--crash] [--lease-seconds S] [--baseline echo]

What runs: --processes real `supportbot serve` processes (the CLI, as deployed: web server,
inbox workers, outbox, channels; several need --db postgresql) with the demo config
(examples/supportbot.yaml) and its local classifier, every catalog model pointed at the fake
provider APIs of this process answering after --latency-ms. The load generator and the fake
platforms run here, in another process, like a load balancer spreading customers over the
servers. Half the customers are Telegram users posting webhook updates (with the secret header)
to /telegram/webhook, half are Slack users posting signed Events API callbacks to
/slack/events; replies land on FakeTelegram (sendMessage) and FakeSlack (chat.postMessage).
Each customer sends its messages one after the other, waiting for the reply to each (a
customer does not type while the bot answers), so the offered load is closed-loop: N customers
keep at most N messages in flight. Messages cycle through the routine, complex and
out-of-scope rows of bench/data/routing_eval.csv, so some are answered by templates or the
knowledge base and some by the (fake) LLMs.

Printed: messages/s over the run; end-to-end latency (POST sent -> reply seen by the fake
platform) p50/p95/p99; orchestration overhead = end-to-end minus the time spent waiting on
model calls for that message (model_calls.latency_ms), p50/p95/p99; the servers' CPU seconds per
message; inbox backlog (max sampled every 0.2 s); HTTP errors; and the exactly-once check:
every message got exactly one reply.
Target (DESIGN/issue): >= 500 messages/s with overhead p99 <= 13 ms, zero lost, zero doubled.
Bounded: --duration-cap ends the run (what did not finish counts as lost).
--baseline echo then runs the same customers, fakes and process count against bench/echo_bot.py, a
bare aiogram + slack-bolt echo bot, and prints its figures and supportbot's CPU per message as a
multiple of the echo bot's (issue 16: at most 4x). The last line is always one JSON object: msg_s,
cpu_ms_per_msg, echo_msg_s, echo_cpu_ms_per_msg, cpu_ratio_vs_echo, e2e_p50_ms, e2e_p99_ms, lost, doubled.
The customers and the figures are bench/load_drive.py's, the processes bench/serve_procs.py's.
Transactions and statements per message (and claims among them) are counted in-process by
bench/sql_count.py.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bench.one_core  # noqa: E402,F401 - one thread per BLAS pool, before numpy loads
from sqlalchemy import func, select  # noqa: E402

from bot.db import models as m  # noqa: E402
from tests.fakes.llm_servers import Behaviour, FakeLLMServer, U, ok, prompt_strings  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

from bench.crash import Crash  # noqa: E402
from bench.crash import report as crash_report  # noqa: E402
from bench.load_drive import Replies, drive, figures, platform_env  # noqa: E402
from bench.scratch_db import scratch_database  # noqa: E402
from bench.serve_procs import EchoServers, Servers, write_config  # noqa: E402

DATA = REPO / "bench" / "data" / "routing_eval.csv"


def texts() -> list[str]:
    with DATA.open(newline="", encoding="utf-8") as f:
        return [r["text"] for r in csv.DictReader(f) if r["category"] in ("routine", "complex", "out_of_scope")]




def model(provider: str, name: str, body: Any) -> Behaviour:
    """A well-behaved model: a verdict for classify requests, a grounded-looking answer otherwise."""
    prompt = list(prompt_strings(body))
    tokens = sum(len(t) for t in prompt) // 4 + 4
    # the classifier's system prompt (bot/classify/llm.py) opens "You classify customer-support messages"
    if any("classify customer-support messages" in t.lower() and "intent" in t for t in prompt):
        verdict = json.dumps({"intent": "out_of_scope", "confidence": 0.92, "needs_human": False,
                              "complexity": 0.15})
        return ok(verdict, usage=U(tokens, 30))
    answer = json.dumps({"answer": "Thanks for asking! Here is what you need to know: our team ships within two "
                                   "working days and you can follow every step in your account.",
                         "confidence": 0.93})
    return ok(answer, usage=U(tokens, 60))


async def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="sb-load-"))
    try:
        return await _in_db(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _in_db(args: argparse.Namespace, tmp: Path) -> dict:
    if args.db == "sqlite" and args.processes > 1:
        raise SystemExit("SQLite is one process: use --db postgresql for --processes > 1")
    async with scratch_database(args.db, args.pg_url, tmp, "load") as db_url:
        return await _run(args, db_url, tmp)


async def _run(args: argparse.Namespace, db_url: str, tmp: Path) -> dict:
    from bot.db.engine import make_engine, session_factory
    from bot.runtime.inbox import Inbox

    engine = make_engine(db_url)
    sessions = session_factory(engine)
    async with FakeLLMServer(responder=model, latency_ms=args.latency_ms) as llm, FakeTelegram() as tg, \
            FakeSlack() as slack:
        config, keys = write_config(tmp, db_url, llm.url, args.lease_seconds)
        env = {**_no_proxy(os.environ), **platform_env(tg, slack), **keys}
        replies = Replies(tg, slack)
        async with Servers(config, env, args) as servers:
            backlog: list[int] = []
            stop = asyncio.Event()
            inbox = Inbox(sessions)

            async def sample() -> None:
                while not stop.is_set():
                    backlog.append(await inbox.backlog())
                    try:
                        await asyncio.wait_for(stop.wait(), 0.2)
                    except TimeoutError:
                        pass

            sampler = asyncio.create_task(sample())
            crash = Crash(servers, args.customers * args.messages) if args.crash else None
            sent: dict[str, tuple] = {}
            crasher = asyncio.create_task(crash.run(sent, stop, sessions)) if crash else None
            run = await drive(args, servers, texts(), tg, slack, replies, crash, sent)
            # let late duplicates show up: wait until the servers have nothing left to send
            quiet_deadline = time.perf_counter() + 10
            while time.perf_counter() < quiet_deadline and await unsent(sessions):
                await asyncio.sleep(0.1)
            stop.set()
            await sampler
            if crasher is not None:
                await crasher
        llm_ms = await model_time(sessions)
        routes = await route_mix(sessions)
    await engine.dispose()
    return dict(**(crash.result(run["sent"]) if crash else {}), crash=bool(crash),
                db=args.db, processes=args.processes, workers=args.workers, concurrency=args.concurrency,
                latency_ms=args.latency_ms, **figures(args, run, replies, llm_ms),
                backlog_max=max(backlog, default=0), routes=routes)


async def run_echo(args: argparse.Namespace) -> dict:
    """The same customers against the bare aiogram + slack-bolt echo bot (bench/echo_bot.py), same processes."""
    async with FakeTelegram() as tg, FakeSlack() as slack:
        replies = Replies(tg, slack)
        async with EchoServers(None, {**_no_proxy(os.environ), **platform_env(tg, slack)}, args) as servers:
            run = await drive(args, servers, texts(), tg, slack, replies)
    return figures(args, run, replies)


def _no_proxy(env: os._Environ[str] | dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")}


async def unsent(sessions) -> int:  # noqa: ANN001
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(m.OutboxMessage)
                                  .where(m.OutboxMessage.status.in_(("pending", "sending")))) or 0)


async def model_time(sessions) -> dict[str, float]:  # noqa: ANN001
    """Inbox external id -> milliseconds spent in model calls for that message."""
    async with sessions() as s:
        rows = (await s.execute(
            select(m.InboxEvent.external_id, func.coalesce(func.sum(m.ModelCall.latency_ms), 0.0))
            .join(m.Message, m.Message.inbox_event_id == m.InboxEvent.id)
            .outerjoin(m.ModelCall, m.ModelCall.message_id == m.Message.id)
            .group_by(m.InboxEvent.external_id))).all()
    return {ext: float(ms) for ext, ms in rows}


async def route_mix(sessions) -> dict[str, int]:  # noqa: ANN001
    async with sessions() as s:
        return {f"{route}/{rule}": n for route, rule, n in (await s.execute(
            select(m.RouteDecision.route, m.RouteDecision.rule, func.count())
            .group_by(m.RouteDecision.route, m.RouteDecision.rule))).all()}


def report(r: dict) -> str:
    crash = [crash_report(r)] if r["crash"] else []
    f = lambda xs: " / ".join(f"{x:.1f}" for x in xs)  # noqa: E731
    verdict = "MET" if r["msgs_per_s"] >= 500 and r["overhead_ms"][2] <= 13 and not r["lost"] and not r["doubled"] \
        else "NOT MET"
    return "\n".join([
        f"db {r['db']}, {r['processes']} serve process(es) x {r['workers']} worker(s) x {r['concurrency']} at once, "
        f"{r['customers']} customers x {r['messages'] // r['customers']} messages, LLM latency {r['latency_ms']:.0f} ms",
        f"  throughput        {r['msgs_per_s']:.1f} messages/s ({r['answered']} answered in {r['elapsed_s']:.1f} s)",
        f"  end-to-end        p50/p95/p99 {f(r['e2e_ms'])} ms",
        f"  orchestration     p50/p95/p99 {f(r['overhead_ms'])} ms (end-to-end minus model-call time)",
        f"  server CPU        {r['server_cpu_ms_per_msg']:.1f} ms per message (all serve processes)",
        f"  messages with an LLM call: {r['llm_share']:.0%}; routes {r['routes']}",
        f"  inbox backlog max {r['backlog_max']}; errors {r['errors'] or 'none'}",
        f"  exactly once: accepted {r['accepted']}/{r['messages']}, lost {r['lost']}, doubled {r['doubled']}",
        f"  target (>= 500 msg/s, overhead p99 <= 13 ms, none lost or doubled): {verdict}",
        *crash,
    ])


def echo_report(e: dict, r: dict) -> str:
    f = lambda xs: " / ".join(f"{x:.1f}" for x in xs)  # noqa: E731
    return "\n".join([
        "echo baseline (bench/echo_bot.py: aiogram + slack-bolt, reply = the text; same customers and fakes)",
        f"  throughput        {e['msgs_per_s']:.1f} messages/s ({e['answered']} answered in {e['elapsed_s']:.1f} s)",
        f"  end-to-end        p50/p95/p99 {f(e['e2e_ms'])} ms",
        f"  server CPU        {e['server_cpu_ms_per_msg']:.2f} ms per message; supportbot uses "
        f"{r['server_cpu_ms_per_msg'] / e['server_cpu_ms_per_msg']:.1f}x that (issue 16's target: at most 4x)",
        f"  exactly once: lost {e['lost']}, doubled {e['doubled']}",
    ])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=100)
    p.add_argument("--messages", type=int, default=5, help="messages per customer")
    p.add_argument("--latency-ms", type=float, default=200.0)
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--processes", type=int, default=1, help="serve processes (more than 1 needs PostgreSQL)")
    p.add_argument("--workers", type=int, default=1, help="serve --workers (per process; > 1 needs PostgreSQL)")
    p.add_argument("--concurrency", type=int, default=32, help="serve --concurrency: messages per worker at once")
    p.add_argument("--duration-cap", type=float, default=120.0, help="seconds; the run stops there")
    p.add_argument("--pg-url", default=os.environ.get("SUPPORTBOT_TEST_PG_URL",
                                                      "postgresql+asyncpg://postgres@127.0.0.1:5432/test"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--lease-seconds", type=float, default=None, help="worker.lease_seconds of the servers "
                   "(default: the config's)")
    p.add_argument("--crash", action="store_true", help="kill -9 one of two PostgreSQL processes mid-run, "
                   "restart it, print recovered_s (see bench/crash.py)")
    p.add_argument("--profile", metavar="FILE", help="run each server under cProfile, writing FILE.0, FILE.1 ...")
    p.add_argument("--baseline", choices=("echo",), help="then run the same customers against a bare aiogram + "
                   "slack-bolt echo bot (bench/echo_bot.py, as many processes) and print both")
    args = p.parse_args()
    if args.crash:
        args.db, args.processes = "postgresql", max(2, args.processes)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("supportbot").setLevel(logging.ERROR)
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(var, None)
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else report(result))
    echo = asyncio.run(run_echo(args)) if args.baseline == "echo" else None
    if echo is not None:
        print(json.dumps({"echo": echo}) if args.json else echo_report(echo, result))
    print(json.dumps(summary(result, echo)))


def summary(r: dict, echo: dict | None = None) -> dict:
    """The one final line (issue 16); the echo fields are null without --baseline echo."""
    cpu = r["server_cpu_ms_per_msg"]
    echo_cpu = round(echo["server_cpu_ms_per_msg"], 2) if echo else None
    return {"msg_s": round(r["msgs_per_s"], 1), "cpu_ms_per_msg": round(cpu, 2),
            "echo_msg_s": round(echo["msgs_per_s"], 1) if echo else None, "echo_cpu_ms_per_msg": echo_cpu,
            "cpu_ratio_vs_echo": round(cpu / echo_cpu, 2) if echo_cpu else None,
            "e2e_p50_ms": round(r["e2e_ms"][0], 1), "e2e_p99_ms": round(r["e2e_ms"][2], 1),
            "lost": r["lost"], "doubled": r["doubled"]}


if __name__ == "__main__":
    main()
