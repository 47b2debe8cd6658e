"""Real `supportbot serve` processes for bench/load.py: the demo config pointed at fakes, started on
free ports, health-checked, their CPU time read from /proc, stopped with SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from pathlib import Path

import aiohttp

from tests.fakes.llm_servers import KEYS
from tests.helpers import demo_config_copy

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp: Path, db_url: str, llm_url: str,
                 lease_seconds: float | None = None) -> tuple[Path, dict[str, str]]:
    """The demo config, with absolute paths, the bench database and every model on the fake APIs
    (and worker.lease_seconds when given); and the environment variables holding the fake keys."""
    keys: dict[str, str] = {}

    def tweak(cfg: dict) -> None:
        cfg["database"] = {**cfg.get("database", {}), "url": db_url}
        if lease_seconds is not None:
            cfg["worker"] = {**cfg.get("worker", {}), "lease_seconds": lease_seconds}
        for entry in cfg["models"].values():
            entry["base_url"] = llm_url + "/v1" if entry["provider"] == "openai" else llm_url
            keys[entry["api_key_env"]] = KEYS.get(entry["provider"], KEYS["openai"])

    return demo_config_copy(tmp, REPO / ".supportbot" / "models", tweak), keys


class Servers:
    """`supportbot serve` subprocesses on free ports; their CPU time is read from /proc."""

    def __init__(self, config: Path | None, env: dict, args: argparse.Namespace):
        self.config, self.env, self.args = config, env, args
        self.procs: list[asyncio.subprocess.Process] = []
        self.urls: list[str] = []

    async def __aenter__(self) -> "Servers":
        self.named = "--name" in (await _output(sys.executable, "-m", "bot.cli.main", "serve", "--help"))
        for i in range(self.args.processes):
            self.procs.append(await self._spawn(i, free_port()))
        async with aiohttp.ClientSession(trust_env=False) as http:
            for url, proc in zip(self.urls, self.procs):
                await wait_healthy(http, url, proc)
        return self

    async def _spawn(self, i: int, port: int) -> asyncio.subprocess.Process:
        """Process i on `port`, named bench-i when serve takes a --name (a restart keeps its identity)."""
        cmd = self._command(i, port)
        url = f"http://127.0.0.1:{port}"
        if i < len(self.urls):
            self.urls[i] = url
        else:
            self.urls.append(url)
        return await asyncio.create_subprocess_exec(
            *cmd, cwd=REPO, env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    def _command(self, i: int, port: int) -> list[str]:
        prof = ["-m", "cProfile", "-o", f"{self.args.profile}.{i}"] if self.args.profile else []
        name = ["--name", f"bench-{i}"] if self.named else []
        return [sys.executable, *prof, "-m", "bot.cli.main", "serve", "--config", str(self.config), "--port", str(port),
                "--workers", str(self.args.workers), "--concurrency", str(self.args.concurrency), *name]

    async def kill9(self, i: int) -> None:
        self.procs[i].kill()
        await self.procs[i].wait()

    async def restart(self, i: int) -> None:
        """Start process i again on its port (same name), once the killed one is gone; wait until healthy."""
        port = int(self.urls[i].rsplit(":", 1)[1])
        self.procs[i] = await self._spawn(i, port)
        async with aiohttp.ClientSession(trust_env=False) as http:
            await wait_healthy(http, self.urls[i], self.procs[i])

    def cpu_seconds(self) -> float:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for proc in self.procs:
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
            except (OSError, IndexError, ValueError):
                pass
        return total

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


class EchoServers(Servers):
    """bench/echo_bot.py processes instead of `serve`: the bare SDKs, for --baseline echo."""

    def _command(self, i: int, port: int) -> list[str]:
        return [sys.executable, str(REPO / "bench" / "echo_bot.py"), "--port", str(port)]


async def _output(*cmd: str) -> str:
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=REPO, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return out.decode(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_healthy(http: aiohttp.ClientSession, url: str, proc: asyncio.subprocess.Process,
                       timeout: float = 120) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.returncode is not None:
            raise SystemExit(f"serve exited with {proc.returncode} before it was healthy")
        try:
            async with http.get(url + "/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)  # polling a starting process: nothing to wait on but its port
    raise SystemExit(f"serve at {url} not healthy within {timeout:.0f} s")
