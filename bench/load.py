"""Load benchmark: concurrent simulated customers through the real HTTP endpoints (loopback only).

    .venv/bin/python bench/load.py [--customers 200] [--messages 5] [--latency-ms 200]
                                   [--db sqlite|postgresql] [--processes 1] [--workers 1]
                                   [--concurrency 16] [--duration-cap 120]
                                   [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
                                   [--crash] [--lease-seconds S]

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
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import csv  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from bot.db import models as m  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from tests.fakes.llm_servers import Behaviour, FakeLLMServer, U, ok, prompt_strings  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402

from bench.crash import Crash  # noqa: E402
from bench.crash import report as crash_report  # noqa: E402
from bench.serve_procs import Servers, write_config  # noqa: E402

DATA = REPO / "bench" / "data" / "routing_eval.csv"
SLACK_SECRET = "bench-signing-secret"
TG_SECRET = "bench-webhook-secret"


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


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))]


class Replies:
    """Reply arrivals on both fake platforms, keyed by the customer's chat / channel."""

    def __init__(self, tg: FakeTelegram, slack: FakeSlack):
        self.count: Counter = Counter()
        self.events: dict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self.at: dict[str, list[float]] = defaultdict(list)
        real_tg, real_slack = tg._m_sendMessage, slack._m_chat_postMessage

        def tg_send(p: dict):  # noqa: ANN202
            out = real_tg(p)
            self._seen(f"tg:{p['chat_id']}")
            return out

        def slack_post(p: dict):  # noqa: ANN202
            out = real_slack(p)
            self._seen(f"slack:{p['channel']}")
            return out

        tg._m_sendMessage, slack._m_chat_postMessage = tg_send, slack_post

    def _seen(self, key: str) -> None:
        self.count[key] += 1
        self.at[key].append(time.perf_counter())
        self.events[key].set()


async def post(http: aiohttp.ClientSession, urls: list[str], i: int, path: str, body: bytes, headers: dict,
               errors: Counter, deadline: float, retry: bool) -> bool:
    """POST one update; with `retry` (--crash) a refused one goes again to the next server, as the
    platforms redeliver an update that was not acknowledged."""
    attempt = 0
    while True:
        try:
            async with http.post(urls[(i + attempt) % len(urls)] + path, data=body, headers=headers) as r:
                await r.read()
                if r.status == 200:
                    return True
                errors[f"HTTP {r.status}"] += 1
        except aiohttp.ClientError as e:
            errors[type(e).__name__] += 1
        attempt += 1
        if not retry or time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.1)


async def customer(i: int, n_messages: int, corpus: list[str], http: aiohttp.ClientSession, urls: list[str],
                   tg: FakeTelegram, slack: FakeSlack, replies: Replies, sent: dict, errors: Counter,
                   deadline: float, crash: Crash | None = None) -> None:
    on_tg = i % 2 == 0
    key = f"tg:{100000 + i}" if on_tg else f"slack:D{i:05d}"
    for k in range(n_messages):
        text = corpus[(i * 7 + k) % len(corpus)]
        if on_tg:
            update = tg.text_update(100000 + i, text, user_id=100000 + i, first_name=f"C{i}")
            body = json.dumps(update).encode()
            ext = f"{tg.bot_id}:{update['update_id']}"
            headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
            path = "/telegram/webhook"
        else:
            payload = slack.message_event(f"U{i:05d}", text, channel=f"D{i:05d}")
            body = json.dumps(payload).encode()
            ext = f"T1:{payload['event_id']}"
            ts = str(int(time.time()))
            sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
            path = "/slack/events"
        expected = replies.count[key] + 1
        replies.events[key].clear()
        t0 = time.perf_counter()
        if crash is not None:
            crash.started[ext] = t0
        if not await post(http, urls, i, path, body, headers, errors, deadline, retry=crash is not None):
            continue
        sent[ext] = (key, t0)
        while replies.count[key] < expected:  # bounded by the run's deadline
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(replies.events[key].wait(), left)
            except TimeoutError:
                return
            replies.events[key].clear()
        sent[ext] = (key, t0, replies.at[key][expected - 1])


async def run(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="sb-load-"))
    try:
        return await _in_db(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def _in_db(args: argparse.Namespace, tmp: Path) -> dict:
    if args.db == "sqlite":
        if args.processes > 1:
            raise SystemExit("SQLite is one process: use --db postgresql for --processes > 1")
        db_url, drop = f"sqlite+aiosqlite:///{tmp / 'load.db'}", None
    else:
        from sqlalchemy.engine import make_url

        from tests.conftest import _pg_admin

        name = f"supportbot_load_{uuid.uuid4().hex[:10]}"
        await _pg_admin(f'CREATE DATABASE "{name}"')
        db_url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    try:
        await asyncio.to_thread(upgrade, db_url)
        return await _run(args, db_url, tmp)
    finally:
        if drop:
            from tests.conftest import _pg_admin

            await _pg_admin(drop)


async def _run(args: argparse.Namespace, db_url: str, tmp: Path) -> dict:
    from bot.db.engine import make_engine, session_factory
    from bot.runtime.inbox import Inbox

    corpus = texts()
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    async with FakeLLMServer(responder=model, latency_ms=args.latency_ms) as llm, FakeTelegram() as tg, \
            FakeSlack() as slack:
        config, keys = write_config(tmp, db_url, llm.url, args.lease_seconds)
        env = {**os.environ, "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url,
               "TELEGRAM_MODE": "webhook", "TELEGRAM_WEBHOOK_URL": "https://bot.test/telegram/webhook",
               "TELEGRAM_WEBHOOK_SECRET": TG_SECRET, "SLACK_BOT_TOKEN": slack.bot_token,
               "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": slack.api_url,
               "SUPPORTBOT_LOG_LEVEL": "ERROR", **keys}
        for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
            env.pop(var, None)
        replies = Replies(tg, slack)
        async with Servers(config, env, args) as servers:
            sent: dict[str, tuple] = {}
            errors: Counter = Counter()
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
            total = args.customers * args.messages
            crash = Crash(servers, total) if args.crash else None
            crasher = asyncio.create_task(crash.run(sent, stop, sessions)) if crash else None
            conn = aiohttp.TCPConnector(limit=args.customers + 4)
            cpu0 = servers.cpu_seconds()
            start = time.perf_counter()
            deadline = start + args.duration_cap
            async with aiohttp.ClientSession(connector=conn, trust_env=False,
                                             timeout=aiohttp.ClientTimeout(total=30)) as http:
                await asyncio.gather(*(customer(i, args.messages, corpus, http, servers.urls, tg, slack, replies,
                                                sent, errors, deadline, crash) for i in range(args.customers)))
            elapsed = time.perf_counter() - start
            cpu = servers.cpu_seconds() - cpu0
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
    done = {ext: v for ext, v in sent.items() if len(v) == 3}
    e2e = {ext: (v[2] - v[1]) * 1000 for ext, v in done.items()}
    overhead = [e2e[ext] - llm_ms.get(ext, 0.0) for ext in e2e]
    per_customer = Counter(v[0] for v in sent.values())
    doubled = sum(max(0, replies.count[k] - n) for k, n in per_customer.items())
    return dict(**(crash.result(sent) if crash else {}), crash=bool(crash),
                db=args.db, processes=args.processes, workers=args.workers, concurrency=args.concurrency,
                customers=args.customers, messages=total,
                latency_ms=args.latency_ms, accepted=len(sent), answered=len(done), elapsed_s=elapsed,
                msgs_per_s=len(done) / elapsed if elapsed else 0.0,
                server_cpu_ms_per_msg=cpu * 1000 / len(done) if done else float("nan"),
                e2e_ms=[pct(list(e2e.values()), p) for p in (50, 95, 99)],
                overhead_ms=[pct(overhead, p) for p in (50, 95, 99)],
                llm_share=statistics.fmean(llm_ms.get(e, 0.0) > 0 for e in e2e) if e2e else 0.0,
                backlog_max=max(backlog, default=0), errors=dict(errors),
                lost=total - len(done), doubled=doubled, routes=routes)


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
    args = p.parse_args()
    if args.crash:
        args.db, args.processes = "postgresql", max(2, args.processes)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("supportbot").setLevel(logging.ERROR)
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(var, None)
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else report(result))
    print(json.dumps(summary(result)))


def summary(r: dict, echo: dict | None = None) -> dict:
    """The one final line (issue 16). The echo fields stay null until --baseline echo runs."""
    cpu = r["server_cpu_ms_per_msg"]
    echo_cpu = echo["server_cpu_ms_per_msg"] if echo else None
    return {"msg_s": round(r["msgs_per_s"], 1), "cpu_ms_per_msg": round(cpu, 2),
            "echo_msg_s": round(echo["msgs_per_s"], 1) if echo else None, "echo_cpu_ms_per_msg": echo_cpu,
            "cpu_ratio_vs_echo": round(cpu / echo_cpu, 2) if echo_cpu else None,
            "e2e_p50_ms": round(r["e2e_ms"][0], 1), "e2e_p99_ms": round(r["e2e_ms"][2], 1),
            "lost": r["lost"], "doubled": r["doubled"]}


if __name__ == "__main__":
    main()
