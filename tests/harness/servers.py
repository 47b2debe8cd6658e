"""The real `serve` as a separate process: `Server` (start it, SIGKILL or SIGTERM it, its stderr read
continuously) and the `env` fixture (the demo config on a migrated SQLite file, no platform tokens or
model keys), with `TEXTS`, customer messages the demo answers without a person."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLE_CONFIG, ROOT


LAUNCH = "import sys; from bot.cli.main import main; sys.argv = ['supportbot', *sys.argv[1:]]; sys.exit(main())"
TEXTS = ("where is my order?", "how do I return an item?", "hello", "my package never arrived",
         "do you ship to Canada?", "I want to talk to a person")


@pytest.fixture
def env(tmp_path):
    e = {**os.environ, "PYTHONPATH": str(ROOT), "SUPPORTBOT_CONFIG": str(EXAMPLE_CONFIG),
         "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'sb.db'}"}
    for key in ("TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
                "GEMINI_API_KEY", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET"):
        e.pop(key, None)
    subprocess.run([sys.executable, "-m", "bot.cli.main", "migrate"], env=e, cwd=tmp_path, check=True,
                   capture_output=True)
    return e


class Server:
    """One `serve` process; its stderr is read continuously (a full pipe would stall it)."""

    def __init__(self, env: dict, cwd):  # noqa: ANN001
        self.env, self.cwd = env, cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.ready = asyncio.Event()
        self._reader: asyncio.Task | None = None

    async def start(self, timeout: float = 60) -> None:
        """`timeout`: a first start with a cold model cache trains the classifier and the readers first."""
        self.ready.clear()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", LAUNCH, "serve", "--port", "0", env=self.env, cwd=self.cwd,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read(self.proc))
        waiter = asyncio.create_task(self.ready.wait())
        await asyncio.wait({waiter, self._reader}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not self.ready.is_set():
            raise AssertionError("serve did not start:\n" + "".join(self.lines[-30:]))

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        while line := await proc.stderr.readline():
            text = line.decode(errors="replace")
            self.lines.append(text)
            if "serving on" in text:
                self.ready.set()

    async def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.proc.wait(), 30) == -signal.SIGKILL
        await asyncio.wait_for(self._reader, 30)

    async def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 60)
        await asyncio.wait_for(self._reader, 30)
        return code

    def ensure_dead(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
