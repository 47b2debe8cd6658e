"""The model thread: the CPU-heavy model work (the local classifier, the sentence encoder, the safety
model by meaning) runs here, one call at a time, and not on the event loop, which keeps acking
webhooks (Slack wants an answer within 3 s) and moving other messages' I/O while a message is read.

One thread on purpose: the models are not built for concurrent calls, numpy's matrix products
release the GIL (so the loop keeps running beside them), and a second model thread on a 2-core
machine would only compete with the first."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

T = TypeVar("T")
_EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="supportbot-models")


async def run(fn: Callable[..., T], *args: object) -> T:
    """fn(*args) on the model thread; the caller's event loop waits without blocking."""
    return await asyncio.get_running_loop().run_in_executor(_EXECUTOR, fn, *args)
