"""The outbox's writer thread: the only thread that touches the disk once the loop runs.

Theory of operation: the event loop hands jobs to one thread through an unbounded
``SimpleQueue`` (the outbox bounds what it queues) and gets the results back as
asyncio futures, resolved on the loop with ``call_soon_threadsafe``. Jobs run in
order. ``apply`` jobs queued back to back are merged into one transaction (group
commit: while one commit waits for the disk, the next loop turns' changes queue up
and go in together). When nothing is queued, the thread still syncs unsynced rows
once ``SYNC_INTERVAL_S`` has passed (the store says when).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from telemetry.rover.downlink.errors import OutboxError, OutboxStorageError
from telemetry.rover.downlink.outbox_records import Changes
from telemetry.rover.downlink.outbox_store import OutboxStore

__all__ = ["StoreThread"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_STOP = object()


class StoreThread:
    """One thread that owns a store; ``open`` it, then ``apply``/``call``, then ``stop``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, name: str = "outbox-writer") -> None:
        self._loop = loop
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.store: OutboxStore | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def open(self, factory: Callable[[], OutboxStore]) -> asyncio.Future[OutboxStore]:
        """Open the store on the thread (``factory`` does the disk work)."""

        def run() -> OutboxStore:
            self.store = factory()
            return self.store

        return self.call(run)

    def call(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``fn()`` on the thread, after every job queued before it."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put((fn, future, None))
        return future

    def call_blocking(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """Run ``fn()`` on the thread, after every queued job, and wait for it here.

        For tools and tests (it blocks the caller until the disk answers)."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as err:  # handed to the waiting caller
                done.set_exception(err)

        self._jobs.put((run, None, None))
        return done.result(timeout)

    def apply(self, changes: Changes) -> asyncio.Future[bool]:
        """Apply ``changes`` to the store; the result says whether the commit was synced."""
        future: asyncio.Future[bool] = self._loop.create_future()
        self._jobs.put((None, future, changes))
        return future

    def stop(self) -> None:
        """Finish the queued jobs, then end the thread (does not wait)."""
        self._jobs.put(_STOP)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        pending: list[Any] = []
        while True:
            if not pending:
                due = self.store.sync_due() if self.store is not None else None
                try:
                    pending.append(self._jobs.get(timeout=due))
                except queue.Empty:
                    self._periodic_sync()
                    continue
            while True:  # take everything queued: one transaction for consecutive applies
                try:
                    pending.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            job = pending.pop(0)
            if job is _STOP:
                return
            fn, future, changes = job
            if future is None:  # call_blocking: settles its own future
                fn()
                continue
            if changes is None:
                self._finish([future], fn)
                continue
            futures = [future]
            while pending and pending[0] is not _STOP and pending[0][2] is not None:
                _, more, later = pending.pop(0)
                changes.absorb(later)
                futures.append(more)
            self._finish(futures, lambda changes=changes: self._require().apply(changes))

    def _finish(self, futures: list[asyncio.Future[Any]], fn: Callable[[], Any]) -> None:
        try:
            result: Any = fn()
            error: BaseException | None = None
        except BaseException as err:  # handed to the loop: the thread itself carries on
            result, error = None, err
        try:
            self._loop.call_soon_threadsafe(_settle, futures, result, error)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            log.debug("outbox writer: result dropped, the event loop is closed")

    def _periodic_sync(self) -> None:
        try:
            self._require().sync()
        except OutboxStorageError as err:  # the outbox reports storage-full mode itself
            log.debug("outbox sync failed: %s", err)
        except OutboxError as err:
            log.error("outbox sync failed: %s", err)

    def _require(self) -> OutboxStore:
        if self.store is None:
            raise OutboxError("the outbox store is not open")
        return self.store


def _settle(futures: list[asyncio.Future[Any]], result: Any,
            error: BaseException | None) -> None:
    for future in futures:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
