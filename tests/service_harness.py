"""Run the real `serve` in-process for a test: web server, workers, outbox, channels."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import AsyncIterator, Mapping

from bot.service import Service, serve


@asynccontextmanager
async def running_service(settings, env: Mapping[str, str] | None = None, *, classifier=None,  # noqa: ANN001
                          workers: int = 1) -> AsyncIterator[Service]:
    """Start serve() on a free port; yields the Service (service.address is (host, port))."""
    started: asyncio.Future = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, "127.0.0.1", 0, workers, started=started, stop=stop,
                                     env=env or {}, classifier=classifier))
    done, _ = await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:  # it failed to start: raise its error
        task.result()
    service = started.result()
    service.url = f"http://{service.address[0]}:{service.address[1]}"
    try:
        yield service
    finally:
        stop.set()
        await task


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02):  # noqa: ANN001, ANN201
    """Poll an async or sync predicate until it is truthy (no fixed sleeps in tests: bounded polling)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
