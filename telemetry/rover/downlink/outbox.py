"""Durable store-and-forward outbox: the decisions in memory, the disk on a writer thread.

Theory of operation (docs/telemetry.md, "Store and forward"):

* The ``Outbox`` keeps an index of every stored row in memory (id, priority, stream,
  seq, size; the payload too while it fits a bounded cache) and makes every decision
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
  wake-up callback (``set_wakeup``) says when more is.
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

One thread (the event loop's, or the caller's) uses an ``Outbox``. Errors: database and
disk failures raise ``OutboxError`` (on the loop: from the next call after the writer
thread failed); any call after ``close`` raises ``OutboxClosedError``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from telemetry.contract.topics import Priority
from telemetry.rover.downlink.errors import OutboxClosedError, OutboxError
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

__all__ = ["DeadLetter", "EvictedRange", "EvictionReport", "Outbox", "OutboxRow", "Stored"]

log = logging.getLogger(__name__)

ROW_OVERHEAD = 64  # bytes charged per row on top of the payload
_EVICT_TO = 0.9
_WATERMARK_AHEAD = 1024
_CACHE_MAX_BYTES = 32 << 20  # payloads kept in memory for the publisher
_CACHE_MAX_ROWS = 16384
_READ_AHEAD = 256  # rows read back from disk at once
_QUEUE_MAX_BYTES = 64 << 20  # payload bytes waiting for the writer thread


@dataclass(slots=True)
class _Counters:
    appended: int = 0
    acked: int = 0
    evicted: int = 0
    over_budget_appends: int = 0
    dead_lettered: int = 0
    dead_letters_dropped: int = 0  # oldest dead letters dropped to bound their table
    lost: int = 0  # stored rows whose bytes a power cut took (found at open or when read)


@dataclass(slots=True)
class _Entry:
    id: int
    priority: Priority
    stream: str
    seq: int
    size: int
    row: OutboxRow | None  # the payload, while cached in memory


class Outbox:
    """See the module docstring."""

    def __init__(self, path: str | Path, *, budget_bytes: int = 256 << 20,
                 power_safe: bool = False, dead_letter_max_rows: int = 10_000,
                 _store: OutboxStore | None = None) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes: expected > 0, got {budget_bytes}")
        if dead_letter_max_rows < 1:
            raise ValueError(f"dead_letter_max_rows: expected >= 1, got {dead_letter_max_rows}")
        self.path = Path(path)
        self.budget_bytes = budget_bytes
        self.dead_letter_max_rows = dead_letter_max_rows
        self._store = _store or OutboxStore(self.path, power_safe=power_safe)
        found = self._store.recovered
        self.boot: int = found.boot
        self._next_seq: dict[str, int] = dict(found.next_seq)
        self._next_id = found.next_id
        # Ordered by id. An OrderedDict, not a dict: rows leave from the front (acks) and
        # a dict would keep their dead slots, so every scan from the oldest live row would
        # first walk every row acknowledged since the dict last grew.
        self._index: dict[Priority, OrderedDict[int, _Entry]] = {
            p: OrderedDict() for p in Priority}
        for e in found.rows:
            self._index[e.priority][e.id] = _Entry(e.id, e.priority, e.stream, e.seq, e.size,
                                                   None)
        self._bytes = sum(e.size + ROW_OVERHEAD for e in found.rows)
        self._depth = len(found.rows)
        self._cursor: dict[Priority, int] = {p: 0 for p in Priority}
        self._fetched: dict[Priority, int] = {p: 0 for p in Priority}  # ever, this process
        self._watermark = dict(found.watermarks)  # persisted
        # Rows of earlier processes at or below their watermark may have been sent.
        top = self._next_id - 1
        self._sent_before = {p: min(w, top) for p, w in self._watermark.items()}
        self._cache_bytes = 0
        self._cache_rows = 0
        self._closed = False
        self._failed: OutboxError | None = None
        self.counters = _Counters(lost=len(found.lost))
        self._dead = found.dead_letters
        # On the event loop (``open``); None in synchronous use.
        self._thread: StoreThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changes = Changes()
        self._turn: asyncio.Future[Any] | None = None
        self._committed_id = self._next_id - 1  # every row up to this id is on disk
        self._inflight_bytes = 0  # handed to the writer thread, not yet committed
        self._wm_asked: dict[Priority, int] = {}
        self._reading: set[Priority] = set()
        self._wakeup: Callable[[], None] = _nothing
        log.info("outbox %s opened: boot %d, %d messages pending (%d bytes)",
                 self.path, self.boot, self._depth, self._bytes)

    @classmethod
    async def open(cls, path: str | Path, *, budget_bytes: int = 256 << 20,
                   power_safe: bool = False, dead_letter_max_rows: int = 10_000) -> Outbox:
        """Open on the running loop: the disk is only ever touched by the writer thread."""
        thread = StoreThread(asyncio.get_running_loop())
        try:
            store = await thread.open(lambda: OutboxStore(path, power_safe=power_safe))
            box = await thread.call(lambda: cls(path, budget_bytes=budget_bytes,
                                                dead_letter_max_rows=dead_letter_max_rows,
                                                _store=store))
        except BaseException:
            thread.stop()
            raise
        box._thread = thread
        box._loop = asyncio.get_running_loop()
        return box

    def set_wakeup(self, callback: Callable[[], None]) -> None:
        """``callback()`` runs (on the loop) whenever rows may have become ready to fetch."""
        self._wakeup = callback

    # ------------------------------------------------------------ writing

    def next_seq(self, stream: str) -> int:
        return self._next_seq.get(stream, 0)

    def append(self, *, stream: str, priority: Priority, topic: str, t_mono: float,
               encode: Callable[[int, int], bytes], retain: bool = False) -> Stored:
        """Store one message. ``encode(seq, boot)`` builds the payload bytes."""
        self._check_open()
        seq = self._next_seq.get(stream, 0)
        payload = encode(seq, self.boot)
        size = len(payload) + ROW_OVERHEAD
        eviction = None
        queued = self._inflight_bytes + self._changes.payload_bytes
        if self._thread and queued + len(payload) > _QUEUE_MAX_BYTES and priority.evictable:
            return self._drop_new(stream, seq, EvictionReport((), 0, True, "disk too slow"))
        if self._bytes + size > self.budget_bytes:
            eviction = self._evict(size, priority)
            if eviction.dropped_new:
                return self._drop_new(stream, seq, eviction)
            if self._bytes + size > self.budget_bytes:
                self.counters.over_budget_appends += 1
        row = OutboxRow(self._next_id, priority, stream, seq, topic, retain, self.boot, t_mono,
                        False, payload)
        self._next_id += 1
        cached = self._cache_bytes + len(payload) <= _CACHE_MAX_BYTES and \
            self._cache_rows < _CACHE_MAX_ROWS
        if cached:
            self._cache_bytes += len(payload)
            self._cache_rows += 1
        self._index[priority][row.id] = _Entry(row.id, priority, stream, seq, len(payload),
                                               row if cached else None)
        self._changes.insert(row)
        self._changes.sync = self._changes.sync or priority is Priority.CRITICAL
        self._next_seq[stream] = seq + 1
        self._bytes += size
        self._depth += 1
        self.counters.appended += 1
        durable = self._commit()
        return Stored(stream, seq, True, eviction if eviction and eviction.ranges else None,
                      durable)

    def _drop_new(self, stream: str, seq: int, report: EvictionReport) -> Stored:
        # The newcomer is dropped, but its number is consumed so the ground sees the
        # gap and the eviction event explains it.
        self._next_seq[stream] = seq + 1
        self._changes.raise_next_seq(stream, seq + 1)
        durable = self._commit()
        self.counters.evicted += 1
        full = EvictionReport((*report.ranges, EvictedRange(stream, seq, seq, 1)),
                              report.bytes_freed, True, report.reason)
        return Stored(stream, seq, False, full, durable)

    def _evict(self, incoming: int, incoming_priority: Priority) -> EvictionReport:
        need = self._bytes - (int(self.budget_bytes * _EVICT_TO) - incoming)
        victims: list[_Entry] = []
        freed = 0
        for priority in (Priority.BATCH, Priority.STATS):
            for e in self._index[priority].values():
                if freed >= need:
                    break
                if e.id > self._cursor[priority]:  # never a row handed to the link
                    victims.append(e)
                    freed += e.size + ROW_OVERHEAD
        dropped_new = freed < need and incoming_priority.evictable and \
            self._bytes - freed + incoming > self.budget_bytes
        ranges: dict[str, list[int]] = {}
        for e in victims:
            r = ranges.setdefault(e.stream, [e.seq, e.seq, 0])
            r[0], r[1], r[2] = min(r[0], e.seq), max(r[1], e.seq), r[2] + 1
        if victims:
            changes = self._changes
            for e in victims:
                self._forget(e)
                changes.delete(e.id, e.priority)
            for stream in ranges:
                changes.raise_next_seq(stream, self._next_seq[stream])
            self._bytes -= freed
            self._depth -= len(victims)
            self.counters.evicted += len(victims)
            log.warning("outbox over budget: evicted %d messages (%d bytes)", len(victims), freed)
        return EvictionReport(
            tuple(EvictedRange(s, a, b, n) for s, (a, b, n) in ranges.items()), freed, dropped_new)

    def _forget(self, e: _Entry) -> None:
        del self._index[e.priority][e.id]
        if e.row is not None:
            self._cache_bytes -= e.size
            self._cache_rows -= 1

    # ------------------------------------------------------------ draining

    def fetch(self, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` committed rows past the cursors, in drain order."""
        self._check_open()
        rows: list[OutboxRow] = []
        for priority in Priority:
            want = limit - len(rows)
            if want <= 0:
                break
            rows.extend(self._take(priority, want))
        return rows

    def _take(self, priority: Priority, want: int) -> list[OutboxRow]:
        got: list[OutboxRow] = []
        missing: list[int] = []
        before = max(self._sent_before[priority], self._fetched[priority])
        for e in self._index[priority].values():
            if e.id <= self._cursor[priority]:
                continue
            if e.id > self._committed_id or (missing and e.row is not None):
                break
            if e.row is None:  # on disk only: read a run of them back, in order
                missing.append(e.id)
                if len(missing) >= max(want, _READ_AHEAD):
                    break
                continue
            if e.id > self._watermark[priority] and not self._raise_watermark(priority, e.id):
                break  # on its way to the disk; the commit wakes the publisher
            got.append(replace(e.row, sent=True) if e.id <= before else e.row)
            if len(got) >= want:
                break
        if got:
            top = got[-1].id
            self._cursor[priority] = top
            self._fetched[priority] = max(self._fetched[priority], top)
            if self._thread is not None:  # ask early, so the pump never waits for it
                self._raise_watermark(priority, top + _WATERMARK_AHEAD // 2)
        elif missing:
            self._load(priority, missing)
            if self._thread is None:
                return self._take(priority, want)
        return got

    def _raise_watermark(self, priority: Priority, row_id: int) -> bool:
        """Have "handed out up to" persisted past ``row_id``; False while that is pending."""
        if row_id <= self._watermark[priority]:
            return True
        value = row_id + _WATERMARK_AHEAD
        key = f"wm{int(priority)}"
        if self._thread is None:
            self._store.apply(Changes(meta={key: value}))
            self._watermark[priority] = value
            return True
        if self._wm_asked.get(priority, 0) < row_id:
            self._wm_asked[priority] = value
            self._changes.meta[key] = value
            self._commit()
        return False

    def _load(self, priority: Priority, ids: list[int]) -> None:
        if self._thread is None:
            self._loaded(priority, ids, *self._store.read(ids))
            return
        if priority in self._reading:
            return
        self._reading.add(priority)
        store = self._store
        future = self._thread.call(lambda: store.read(ids))
        future.add_done_callback(lambda f: self._read_done(priority, ids, f))

    def _read_done(self, priority: Priority, ids: list[int],
                   future: asyncio.Future[Any]) -> None:
        self._reading.discard(priority)
        if future.cancelled() or self._closed:
            return
        if future.exception() is not None:
            self._fail(future.exception())
        else:
            self._loaded(priority, ids, *future.result())
        self._wakeup()

    def _loaded(self, priority: Priority, ids: list[int], rows: list[OutboxRow],
                lost: list[tuple[int, Priority]]) -> None:
        for r in rows:
            e = self._index[r.priority].get(r.id)
            if e is not None and e.row is None:
                e.row = r
                self._cache_bytes += e.size
                self._cache_rows += 1
        found = {r.id for r in rows}
        # A row the disk no longer has (deleted behind our back) counts as lost too.
        gone = [(i, priority) for i in ids if i not in found and (i, priority) not in lost]
        for row_id, priority in [*lost, *gone]:
            e = self._index[priority].get(row_id)
            if e is not None:
                self._forget(e)
                self._bytes -= e.size + ROW_OVERHEAD
                self._depth -= 1
                self.counters.lost += 1

    def rewind(self) -> None:
        """Start fetching from the oldest unacknowledged row again (after a reconnect)."""
        self._cursor = {p: 0 for p in Priority}

    def ack(self, rows: Iterable[OutboxRow]) -> None:
        """Delete rows the broker acknowledged (missing rows, e.g. evicted, are ignored)."""
        self._check_open()
        changes: Changes | None = None
        for r in rows:
            if changes is None:
                changes = self._changes
            changes.raise_next_seq(r.stream, r.seq + 1)
            e = self._index[r.priority].get(r.id)
            if e is None:
                continue
            self._forget(e)
            changes.delete(r.id, r.priority)
            self._bytes -= e.size + ROW_OVERHEAD
            self._depth -= 1
            self.counters.acked += 1
        if changes is not None:
            self._commit()

    # ------------------------------------------------------------ dead letters

    def dead_letter(self, rows: Iterable[OutboxRow], reason_code: int, reason: str) -> int:
        """Move rows the broker refused for good to the dead-letter table; returns how
        many were still in the outbox (a row already acked or evicted is skipped)."""
        self._check_open()
        moved = 0
        changes = self._changes
        for r in rows:
            e = self._index[r.priority].get(r.id)
            if e is None:
                continue
            self._forget(e)
            changes.dead.append((r.id, r.priority, reason_code, reason, self.boot))
            changes.raise_next_seq(r.stream, r.seq + 1)
            self._bytes -= e.size + ROW_OVERHEAD
            self._depth -= 1
            moved += 1
        if moved:
            changes.dead_letter_max_rows = self.dead_letter_max_rows
            dropped = max(0, self._dead + moved - self.dead_letter_max_rows)
            self._dead += moved - dropped
            self.counters.dead_lettered += moved
            self.counters.dead_letters_dropped += dropped
            self._commit()
        return moved

    @property
    def dead_letter_count(self) -> int:
        """Rows in the dead-letter table (all boots, at most ``dead_letter_max_rows``)."""
        return self._dead

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, oldest first; for tools and tests.

        It reads the disk: on the loop, it hands the pending changes to the writer
        thread and waits for the answer (blocking the caller)."""
        self._check_open()
        store = self._store
        if self._thread is None:
            return store.dead_letters(limit)
        self._hand_over()
        return self._thread.call_blocking(lambda: store.dead_letters(limit))

    # ------------------------------------------------------------ the disk

    def _commit(self) -> asyncio.Future[Any] | None:
        """Synchronous use: apply now. On the loop: at the end of this loop turn."""
        if self._thread is None:
            changes, self._changes = self._changes, Changes()
            if changes:
                self._store.apply(changes)
            self._committed_id = self._next_id - 1
            return None
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
        done.add_done_callback(lambda f: self._committed(f, turn, top, queued, wm))

    def _committed(self, done: asyncio.Future[Any], turn: asyncio.Future[Any], top: int,
                   queued: int, watermarks: dict[str, int]) -> None:
        self._inflight_bytes -= queued
        error = None if done.cancelled() else done.exception()
        if error is not None:
            self._fail(error)
            if not turn.done():
                turn.set_exception(self._failed or error)
                turn.exception()  # retrieved: a receipt nobody awaits must not log a warning
            self._wakeup()
            return
        self._committed_id = max(self._committed_id, top)
        for key, value in watermarks.items():
            p = Priority(int(key[2:]))
            self._watermark[p] = max(self._watermark[p], value)
        if not turn.done():
            turn.set_result(None)
        self._wakeup()

    def _fail(self, error: BaseException) -> None:
        if self._failed is None:
            self._failed = error if isinstance(error, OutboxError) else \
                OutboxError(f"outbox {self.path} writer failed: {error!r}")
            log.error("outbox %s: %s", self.path, self._failed)

    # ------------------------------------------------------------ state

    @property
    def depth(self) -> int:
        """Messages stored and not yet acknowledged."""
        return self._depth

    @property
    def bytes_used(self) -> int:
        return self._bytes

    @property
    def unsent_on_disk(self) -> bool:
        """Some row on disk was not handed out yet (``fetch`` may be waiting to read it)."""
        for priority in Priority:
            for e in self._index[priority].values():
                if e.id > self._cursor[priority]:
                    if e.id <= self._committed_id:
                        return True
                    break
        return False

    def pending(self, stream: str | None = None) -> list[tuple[str, int]]:
        """(stream, seq) of stored rows in drain order; for tests and tools."""
        self._check_open()
        return [(e.stream, e.seq) for p in Priority for e in self._index[p].values()
                if stream is None or e.stream == stream]

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
        thread, store = self._thread, self._store
        self._hand_over()  # this turn's changes, if any: before the close, in order
        try:
            await thread.call(store.close)
        finally:
            thread.stop()

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxClosedError(f"outbox {self.path} is closed")
        if self._failed is not None:
            raise self._failed


def _nothing() -> None:
    pass

