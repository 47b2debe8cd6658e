"""Abuse bench: does a flood of one kind of request slow the Slack ack down? Prints, never asserts.

    .venv/bin/python bench/abuse.py [--probes 300] [--flooders 64] [--latency-ms 50]

One real `supportbot serve` process (bench/serve_procs.py: the demo config, SQLite, every model
on the fake provider APIs) with the Slack channel on FakeSlack. A prober posts signed Events API
callbacks to /slack/events, four at a time, and times each ack (POST sent -> 200 back: Slack
retries what is not acked within 3 s). Three phases, one run, one server:

  unloaded      the probes alone
  login flood   --flooders clients post wrong passwords to /agent/login as fast as they get answers
  chat flood    --flooders clients post to /chat/messages, each as a fresh visitor

The flood runs in a child process (this script with --flood), so the prober's own event loop
is not the one that is busy. Printed per phase: ack p50 / p99 and the p99 as a multiple of the
unloaded p99, and what the flood got back (status counts: 429 is a limit doing its job).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402

from bench.load import model  # noqa: E402
from bench.load_drive import pct  # noqa: E402
from bench.serve_procs import Servers, write_config  # noqa: E402
from bot.db.migrate import upgrade  # noqa: E402
from tests.fakes.llm_servers import FakeLLMServer  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402

SLACK_SECRET = "abuse-bench-signing-secret"
QUESTIONS = ("where is my order?", "how do I return an item?", "do you ship to Norway?")


async def probe(http: aiohttp.ClientSession, url: str, slack: FakeSlack, n: int, at_once: int = 4) -> list[float]:
    """Ack latencies (ms) of n signed Slack message events, at_once in flight."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def one_by_one() -> None:
        for i in counter:
            payload = slack.message_event(f"U{i % 50:05d}", QUESTIONS[i % len(QUESTIONS)], channel=f"D{i % 50:05d}")
            body = json.dumps(payload).encode()
            ts = str(int(time.time()))
            sig = "v0=" + hmac.new(SLACK_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
            headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
            t0 = time.perf_counter()
            async with http.post(url + "/slack/events", data=body, headers=headers) as r:
                await r.read()
            if r.status == 200:
                latencies.append((time.perf_counter() - t0) * 1000)

    await asyncio.gather(*(one_by_one() for _ in range(at_once)))
    return latencies


async def login_flooder(http: aiohttp.ClientSession, url: str, stop: asyncio.Event, got: Counter) -> None:
    token = secrets.token_urlsafe(16)  # the login form's double-submit token: any value, as cookie and field
    while not stop.is_set():
        form = {"csrf": token, "name": f"agent{secrets.randbelow(1000)}", "password": "wrong", "next": "/agent"}
        try:
            async with http.post(url + "/agent/login", data=form, headers={"Cookie": f"sb_login_csrf={token}"},
                                 allow_redirects=False) as r:
                await r.read()
                got[r.status] += 1
        except aiohttp.ClientError as e:
            got[type(e).__name__] += 1


async def chat_flooder(http: aiohttp.ClientSession, url: str, stop: asyncio.Event, got: Counter) -> None:
    while not stop.is_set():
        body = {"visitor": uuid.uuid4().hex, "id": uuid.uuid4().hex, "text": "where is my order?"}
        try:
            async with http.post(url + "/chat/messages", json=body) as r:
                await r.read()
                got[r.status] += 1
        except aiohttp.ClientError as e:
            got[type(e).__name__] += 1


FLOODERS = {"login": login_flooder, "chat": chat_flooder}


async def flood(kind: str, url: str, n: int) -> None:
    """The child process: n clients flood until SIGTERM, then the status counts go to stdout as JSON."""
    got: Counter = Counter()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with aiohttp.ClientSession(trust_env=False, connector=aiohttp.TCPConnector(limit=n)) as http:
        tasks = [asyncio.create_task(FLOODERS[kind](http, url, stop, got)) for _ in range(n)]
        print("ready", flush=True)
        await asyncio.gather(*tasks)
    print(json.dumps({str(k): v for k, v in got.items()}), flush=True)


async def phase(url: str, slack: FakeSlack, args: argparse.Namespace, kind: str | None) -> tuple[list[float], Counter]:
    child = None
    if kind:
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--flood", kind, "--url", url, "--flooders", str(args.flooders),
            stdout=asyncio.subprocess.PIPE)
        assert (await child.stdout.readline()).strip() == b"ready"
    async with aiohttp.ClientSession(trust_env=False) as probes:
        await probe(probes, url, slack, 30)  # untimed: warm the server up, let the flood get going
        latencies = await probe(probes, url, slack, args.probes)
    if child is None:
        return latencies, Counter()
    child.terminate()
    out, _ = await child.communicate()
    return latencies, Counter(json.loads(out.decode().strip().splitlines()[-1]))


async def run(args: argparse.Namespace) -> list[tuple[str, list[float], Counter]]:
    tmp = Path(tempfile.mkdtemp(prefix="sb-abuse-"))
    db_url = f"sqlite+aiosqlite:///{tmp / 'abuse.db'}"
    await asyncio.to_thread(upgrade, db_url)
    async with FakeLLMServer(responder=model, latency_ms=args.latency_ms) as llm, FakeSlack() as slack:
        config, keys = write_config(tmp, db_url, llm.url)
        env = {**os.environ, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SLACK_SECRET,
               "SLACK_API_URL": slack.api_url, "SUPPORTBOT_LOG_LEVEL": "ERROR",
               "SUPPORTBOT_SECRET_KEY": secrets.token_hex(32), **keys}
        for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "TELEGRAM_BOT_TOKEN"):
            env.pop(var, None)
        server_args = argparse.Namespace(processes=1, workers=1, concurrency=32, profile=None)
        async with Servers(config, env, server_args) as servers:
            url = servers.urls[0]
            out = []
            for name, kind in (("unloaded", None), ("login flood", "login"), ("chat flood", "chat")):
                latencies, got = await phase(url, slack, args, kind)
                out.append((name, latencies, got))
    return out


def report(results: list[tuple[str, list[float], Counter]], args: argparse.Namespace) -> str:
    base50, base = pct(results[0][1], 50), pct(results[0][1], 99)
    lines = [f"Slack ack latency, {args.probes} probes per phase (4 in flight), {args.flooders} flooders, "
             f"one serve process on SQLite"]
    for name, latencies, got in results:
        p50, p99 = pct(latencies, 50), pct(latencies, 99)
        flood = ", ".join(f"{k}: {v}" for k, v in sorted(got.items(), key=str)) or "-"
        lines.append(f"  {name:<12} p50 {p50:6.1f} ms (x{p50 / base50:4.1f})  p99 {p99:6.1f} ms (x{p99 / base:4.1f})  "
                     f"acked {len(latencies)}/{args.probes}  flood got {flood}")
    lines.append("  (xN: the figure as a multiple of the unloaded one)")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--probes", type=int, default=300, help="Slack events timed per phase")
    p.add_argument("--flooders", type=int, default=64, help="concurrent flooding clients")
    p.add_argument("--latency-ms", type=float, default=50.0, help="the fake models' answer time")
    p.add_argument("--flood", choices=sorted(FLOODERS), help=argparse.SUPPRESS)  # the child process
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.flood:
        asyncio.run(flood(args.flood, args.url, args.flooders))
        return
    logging.basicConfig(level=logging.WARNING)
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        os.environ.pop(var, None)
    print(report(asyncio.run(run(args)), args))


if __name__ == "__main__":
    main()
