"""Run a coroutine to completion from synchronous code (the CLI entry points).

The stores are asynchronous; ``report``, ``plot`` and ``ledger verify`` are plain
functions. ``run_sync`` uses ``asyncio.run`` normally, and a private loop on a
worker thread when called from inside a running loop (a test, a notebook), which
``asyncio.run`` refuses.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="run-sync") as pool:
        return pool.submit(asyncio.run, coro).result()
