"""The load generator of bench/load.py: simulated customers on the fake platforms, posting to servers
(supportbot's `serve` processes, or the echo baseline's) and waiting for each reply, and what they saw.

Shared by the supportbot run and the `--baseline echo` run, so both meet the same harness.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import time
from collections import Counter, defaultdict
from typing import Any

import aiohttp

from bench.crash import Crash
from bench.serve_procs import Servers
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram

SLACK_SECRET = "bench-signing-secret"
TG_SECRET = "bench-webhook-secret"


def platform_env(tg: FakeTelegram, slack: FakeSlack) -> dict[str, str]:
    """The channels' environment, pointed at the fakes (Telegram by webhook, Slack over HTTP)."""
    return {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_URL": tg.base_url, "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_URL": "https://bot.test/telegram/webhook", "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
            "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SLACK_SECRET, "SLACK_API_URL": slack.api_url,
            "SUPPORTBOT_LOG_LEVEL": "ERROR"}


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


async def drive(args: argparse.Namespace, servers: Servers, corpus: list[str], tg: FakeTelegram, slack: FakeSlack,
                replies: Replies, crash: Crash | None = None, sent: dict[str, tuple] | None = None) -> dict[str, Any]:
    """args.customers customers of args.messages messages each against `servers`: what was sent and
    answered when (sent: ext id -> (customer key, t0[, reply seen])), the errors, the elapsed time and
    the servers' CPU seconds over the run. `sent` may be given: --crash watches it while it fills."""
    sent = {} if sent is None else sent
    errors: Counter = Counter()
    conn = aiohttp.TCPConnector(limit=args.customers + 4)
    cpu0 = servers.cpu_seconds()
    start = time.perf_counter()
    deadline = start + args.duration_cap
    async with aiohttp.ClientSession(connector=conn, trust_env=False, timeout=aiohttp.ClientTimeout(total=30)) as http:
        await asyncio.gather(*(customer(i, args.messages, corpus, http, servers.urls, tg, slack, replies,
                                        sent, errors, deadline, crash) for i in range(args.customers)))
    elapsed = time.perf_counter() - start
    return {"sent": sent, "errors": errors, "elapsed": elapsed, "cpu": servers.cpu_seconds() - cpu0}


def figures(args: argparse.Namespace, run: dict[str, Any], replies: Replies,
            llm_ms: dict[str, float] | None = None) -> dict[str, Any]:
    """Throughput, CPU per message, end-to-end latency and the exactly-once check of a drive()."""
    sent, total = run["sent"], args.customers * args.messages
    done = {ext: v for ext, v in sent.items() if len(v) == 3}
    e2e = {ext: (v[2] - v[1]) * 1000 for ext, v in done.items()}
    per_customer = Counter(v[0] for v in sent.values())
    doubled = sum(max(0, replies.count[k] - n) for k, n in per_customer.items())
    llm = llm_ms or {}
    return dict(customers=args.customers, messages=total, accepted=len(sent), answered=len(done),
                elapsed_s=run["elapsed"], msgs_per_s=len(done) / run["elapsed"] if run["elapsed"] else 0.0,
                server_cpu_ms_per_msg=run["cpu"] * 1000 / len(done) if done else float("nan"),
                e2e_ms=[pct(list(e2e.values()), p) for p in (50, 95, 99)],
                overhead_ms=[pct([e2e[x] - llm.get(x, 0.0) for x in e2e], p) for p in (50, 95, 99)],
                llm_share=sum(llm.get(e, 0.0) > 0 for e in e2e) / len(e2e) if e2e else 0.0,
                errors=dict(run["errors"]), lost=total - len(done), doubled=doubled)
