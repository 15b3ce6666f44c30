"""Durable store-and-forward outbox: the decisions in memory, the disk on a writer thread.

Theory of operation (docs/telemetry.md, "Store and forward"):

* The ``Outbox`` keeps an index of every stored row in memory (id, priority, stream,
  seq, size; the payload too while it fits a bounded cache and a connection is sending,
  ``set_online``: an outage's backlog waits on disk) and makes every decision
  there, synchronously: sequence numbers, the disk budget and evictions, drain order,
  acknowledgements. What has to reach the disk is collected as
  :class:`~telemetry.rover.downlink.outbox_store.Changes` and applied by the
  :class:`~telemetry.rover.downlink.outbox_store.OutboxStore`.
* Two ways to run. Synchronous (``Outbox(path)``, tests and tools): every call applies
  its changes before returning, on the caller's thread. On the event loop
  (``await Outbox.open(path)``): the changes of one loop turn are handed to the writer
  thread at the end of the turn and committed together (group commit); the loop never
  waits for the disk.
* Tiers of durability (on the loop). ``append`` returns a :class:`Stored` receipt at
  once; ``await receipt`` returns when the row is on disk. ``CRITICAL`` rows (events,
  alarms, acks, ledger) make their commit synced (fsync): awaited, they survive a power
  cut. Other rows are committed at the end of the loop turn (they then survive a crash
  or ``kill -9``) and synced within ``SYNC_INTERVAL_S`` or ``SYNC_MAX_ROWS`` rows, the
  bound on what a power cut can lose. ``power_safe=True`` syncs every commit.
* A row is handed to the publisher only once committed (store, then forward): what the
  ground received is always on disk or acknowledged, so a number is never reused.
* Sequence numbers are never reused: the next number of a stream is
  ``max(streams.next_seq, max(seq in outbox) + 1)``, and every delete persists
  ``streams.next_seq`` in the same transaction.
* ``fetch`` hands out rows in drain order (priority, then insertion) past a per-priority
  cursor. A per-priority "handed out up to id" watermark is persisted, reserved
  ``_WATERMARK_AHEAD`` ids ahead, before a row past it goes out; a row at or below the
  watermark of an earlier process, or fetched before in this one, is flagged ``sent``
  (a possible resend). The flag is conservative: "may have been sent".
* Rows whose payload is not in memory (a backlog, or rows of an earlier process) are
  read back from disk on the writer thread; ``fetch`` returns what is ready and the
  wake-up callback (``set_wakeup``) says when more is. A lower priority is not handed
  out while a higher one is being read back.
* Disk budget: payload bytes plus a fixed per-row overhead. Appending past the budget
  evicts not-yet-handed-out ``BATCH`` rows oldest-first, then ``STATS`` rows, down to
  90 % of the budget, and returns an :class:`EvictionReport` that the caller publishes
  as an event. ``CRITICAL`` and ``STATE`` rows are never evicted; when only they
  remain, an evictable newcomer is dropped (and reported) instead. The same happens
  to an evictable newcomer while more than ``_QUEUE_MAX_BYTES`` wait for a slow disk.
* The boot counter in ``meta`` is incremented on every open.
* Dead letters: a row the broker refused for good (an MQTT 5 PUBACK failure code,
  e.g. the ACL denies its topic) leaves the outbox through ``dead_letter`` and is moved,
  with the reason, to the ``dead_letter`` table; it is never resent and its sequence
  number is never reused. That table keeps the newest ``dead_letter_max_rows`` rows
  (older ones are dropped and counted) and is not charged to the disk budget.

* The budget follows the free space of the filesystem, and a disk that refuses
  writes (full, read-only) does not stop the outbox: it carries on in memory within
  bounds, drops the lowest priorities first and retries the disk
  (``telemetry.rover.downlink.storage_guard``; on the loop only).

One thread (the event loop's, or the caller's) uses an ``Outbox``. Errors: database and
disk failures raise ``OutboxError`` (on the loop: from the next call after the writer
thread failed); any call after ``close`` raises ``OutboxClosedError``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from telemetry.contract.rig_state import StorageReport
from telemetry.contract.topics import Priority
from telemetry.rover.downlink.errors import OutboxError, OutboxStorageError
from telemetry.rover.downlink.outbox_core import ROW_OVERHEAD, OutboxCore, _nothing
from telemetry.rover.downlink.outbox_records import (
    Changes,
    DeadLetter,
    EvictedRange,
    EvictionReport,
    OutboxRow,
    Stored,
)
from telemetry.rover.downlink.outbox_store import OutboxStore
from telemetry.rover.downlink.outbox_writer import StoreThread
from telemetry.rover.downlink.storage_guard import RETRY_S, SPACE_CHECK_S

__all__ = ["ROW_OVERHEAD", "DeadLetter", "EvictedRange", "EvictionReport", "Outbox",
           "OutboxRow", "Stored", "free_bytes"]

log = logging.getLogger(__name__)


class Outbox(OutboxCore):
    """See the module docstring."""

    @classmethod
    async def open(cls, path: str | Path, *, budget_bytes: int = 256 << 20,
                   power_safe: bool = False, dead_letter_max_rows: int = 10_000,
                   free_space_floor_bytes: int = 0, memory_bytes: int = 16 << 20) -> Outbox:
        """Open on the running loop: the disk is only ever touched by the writer thread."""
        thread = StoreThread(asyncio.get_running_loop())
        try:
            store = await thread.open(lambda: OutboxStore(path, power_safe=power_safe))
            box = await thread.call(lambda: cls(
                path, budget_bytes=budget_bytes, dead_letter_max_rows=dead_letter_max_rows,
                free_space_floor_bytes=free_space_floor_bytes, memory_bytes=memory_bytes,
                _store=store))
            box._budget_from(await thread.call(lambda: free_bytes(Path(path))))
        except BaseException:
            thread.stop()
            raise
        box._thread = thread
        box._loop = asyncio.get_running_loop()
        box._timer = box._loop.call_later(RETRY_S, box._tick)
        log.info("outbox %s: budget %d bytes (configured %d, free-space floor %d)", path,
                 box.budget_bytes, budget_bytes, free_space_floor_bytes)
        return box

    def set_wakeup(self, callback: Callable[[], None]) -> None:
        """``callback()`` runs (on the loop) whenever rows may have become ready to fetch."""
        self._wakeup = callback

    def set_storage_listener(self, callback: Callable[[str], None]) -> None:
        """``callback(what)`` runs on the loop: ``"full"`` when the disk first refuses a
        write, ``"drops"`` when messages were dropped since (``take_storage_drops``),
        ``"recovered"`` when it takes writes again."""
        self._on_storage = callback

    # ------------------------------------------------------------ the disk

    def _commit(self) -> asyncio.Future[Any] | None:
        """Synchronous use: apply now. On the loop: at the end of this loop turn."""
        if self._thread is None:
            changes, self._changes = self._changes, Changes()
            if changes:
                self._store.apply(changes)
            self._committed_id = self._next_id - 1
            return None
        if self.guard.full:  # memory only until a retry reaches the disk
            self._committed_id = self._next_id - 1
            return self._unwritten_failed
        if self._turn is None:
            assert self._loop is not None
            self._turn = self._loop.create_future()
            self._loop.call_soon(self._hand_over)
        return self._turn

    def _hand_over(self) -> None:
        turn, self._turn = self._turn, None
        if turn is None:  # already handed over (by aclose)
            return
        changes, self._changes = self._changes, Changes()
        if self._failed is not None:
            turn.set_exception(self._failed)
            turn.exception()  # retrieved: a receipt nobody awaits must not log a warning
            return
        assert self._thread is not None
        top = max(changes.inserts, default=0)
        queued = changes.payload_bytes
        self._inflight_bytes += queued
        wm = {k: v for k, v in changes.meta.items() if k.startswith("wm")}
        done = self._thread.apply(changes)
        done.add_done_callback(lambda f: self._committed(f, turn, top, queued, wm, changes))

    def _committed(self, done: asyncio.Future[Any], turn: asyncio.Future[Any], top: int,
                   queued: int, watermarks: dict[str, int], changes: Changes) -> None:
        self._inflight_bytes -= queued
        self._retrying = False
        error = None if done.cancelled() else done.exception()
        if isinstance(error, OutboxStorageError) and self._closed:
            log.warning("outbox %s closed with %d message(s) the disk refused (%s): lost",
                        self.path, len(changes.inserts), error.errno_name)
            error = None if turn.done() else error
            if error is not None:
                turn.set_exception(error)
                turn.exception()
            return
        if isinstance(error, OutboxStorageError):
            self._unwritable(error, changes)
            if not turn.done():
                turn.set_exception(error)
                turn.exception()  # retrieved: a receipt nobody awaits must not log a warning
            self._wakeup()
            return
        if error is not None:
            self._fail(error)
            if not turn.done():
                turn.set_exception(self._failed or error)
                turn.exception()  # retrieved: a receipt nobody awaits must not log a warning
            self._wakeup()
            return
        self._committed_id = max(self._committed_id, top)
        if self.guard.full:
            self._writable()
        for key, value in watermarks.items():
            p = Priority(int(key[2:]))
            self._watermark[p] = max(self._watermark[p], value)
        if not turn.done():
            turn.set_result(None)
        self._wakeup()

    # ------------------------------------------------------------ storage full

    def _unwritable(self, error: OutboxStorageError, changes: Changes) -> None:
        """The disk refused ``changes``: keep them (and all that follows) in memory."""
        self.counters.storage_failures += 1
        first = self.guard.enter(error.errno_name, str(error))
        changes.absorb(self._changes)  # what was stored since comes after them
        changes.drop_deleted_inserts()  # ... and an older failed turn's evicted rows stay gone
        self._changes = changes
        for row in changes.inserts.values():  # the only copy now: keep it for fetch
            e = self._index[row.priority].get(row.id)
            if e is not None and e.row is None:
                e.row = row
                self._cache_bytes += e.size
                self._cache_rows += 1
        self._committed_id = self._next_id - 1
        self._trim_unwritten()
        if self._unwritten_failed is None or not first:
            assert self._loop is not None
            self._unwritten_failed = self._loop.create_future()
            self._unwritten_failed.set_exception(error)
            self._unwritten_failed.exception()
        if first:
            log.error("outbox %s: the disk refuses writes (%s): messages stay in memory, "
                      "lowest priorities dropped first; retrying every %.0f s", self.path,
                      error.errno_name, RETRY_S)
            self._on_storage("full")

    def _trim_unwritten(self) -> None:
        """What was on its way to the disk when it failed may exceed the ladder: drop
        unsent batches, then stats, then states, oldest first, down to their share."""
        changes, guard = self._changes, self.guard
        for row in list(changes.inserts.values()):
            if self._index[row.priority].get(row.id) is None:
                changes.delete(row.id, row.priority)  # evicted on its way: already counted
        for priority in (Priority.BATCH, Priority.STATS, Priority.STATE):
            for row in [r for r in changes.inserts.values() if r.priority is priority]:
                if guard.admits(priority, changes.payload_bytes, 0):
                    break
                e = self._index[priority].get(row.id)
                if e is None or row.id <= self._cursor[priority]:
                    continue  # handed to the link already: it leaves with its ack
                self._forget(e)
                changes.delete(row.id, priority)
                self._bytes -= e.size + ROW_OVERHEAD
                self._depth -= 1
                guard.note_drop(priority, row.stream, row.seq)

    def _writable(self) -> None:
        log.warning("outbox %s: the disk takes writes again (after %d dropped)", self.path,
                    self.guard.dropped)
        self.guard.leave()
        self._unwritten_failed = None
        if self._changes:  # stored while the retry was on its way: to disk as usual
            self._commit()
        self._on_storage("recovered")

    def _tick(self) -> None:
        """Every ``RETRY_S`` on the loop: retry the disk, re-read the free space."""
        if self._closed or self._thread is None or self._loop is None:
            return
        self._ticks += 1
        if self.guard.full and not self._retrying:
            self._retrying = True
            if not self._changes:  # a probe: the smallest write that tells
                self._changes.meta["storage_probe"] = self._ticks
            self._turn = self._turn or self._loop.create_future()
            self._hand_over()
        per_check = max(1, round(SPACE_CHECK_S / RETRY_S))
        if self._ticks % per_check == 0:
            if self.guard.full and self.guard.dropped:
                self._on_storage("drops")
            path = self.path
            future = self._thread.call(lambda: free_bytes(path))
            future.add_done_callback(
                lambda f: None if f.cancelled() or f.exception() else self._budget_from(
                    f.result()))
        self._timer = self._loop.call_later(RETRY_S, self._tick)

    def _budget_from(self, free: int | None) -> None:
        self.budget_bytes = self.guard.budget(self._bytes, free)

    def take_storage_drops(self) -> tuple[EvictedRange, ...]:
        """Messages dropped because the disk refused writes, since the last call."""
        return self.guard.take_drops()

    def storage_status(self) -> StorageReport:
        """The storage, for the state message (the contract's ``StorageReport``)."""
        return StorageReport(self.guard.full, self.guard.errno, self.guard.dropped,
                             self.budget_bytes, self._bytes, self._changes.payload_bytes
                             if self.guard.full else 0)

    def close(self) -> None:
        """Synchronous use: close now. On the loop, use ``aclose``."""
        if self._closed:
            return
        if self._thread is not None:
            raise OutboxError("an outbox opened on the event loop is closed with aclose()")
        self._closed = True
        self._store.close()

    async def flush(self) -> None:
        """Hand this loop turn's changes over now and wait until all are on disk."""
        self._check_open()
        if self._thread is None:
            return
        self._hand_over()
        await self._thread.call(_nothing)  # jobs run in order: everything before is done
        self._check_open()

    async def aclose(self) -> None:
        """Commit what is pending, sync, close the store and end the writer thread."""
        if self._closed:
            return
        if self._thread is None:
            self.close()
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        thread, store = self._thread, self._store
        if self.guard.full and self._turn is None:  # one last try for what is unwritten
            assert self._loop is not None
            self._turn = self._loop.create_future()
        self._hand_over()  # this turn's changes, if any: before the close, in order
        try:
            await thread.call(store.close)
        finally:
            thread.stop()


def free_bytes(path: Path) -> int | None:
    """Bytes free for us on the filesystem holding ``path`` (None if unknown)."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


