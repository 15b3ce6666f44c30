"""The outbox's decisions, in memory: index, sequence numbers, budget, drain order, acks.

``OutboxCore`` is the synchronous half of :class:`~telemetry.rover.downlink.outbox.Outbox`
(whose module docstring is the theory of operation): every decision is made here, on
the caller's thread, and what has to reach the disk is collected as ``Changes`` for
``_commit`` (``Outbox`` applies them at once in synchronous use, on the writer thread
on the loop).
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
from telemetry.rover.downlink.storage_guard import (
    StorageGuard,
)

__all__ = ["ROW_OVERHEAD", "OutboxCore"]

log = logging.getLogger(__name__)

ROW_OVERHEAD = 64  # bytes charged per row on top of the payload
_EVICT_TO = 0.9
_WATERMARK_AHEAD = 1024
# Payloads kept in memory for the publisher, while a connection sends (``set_online``:
# an outage's backlog waits on disk). 1 MiB for every row was tried (docs/soak.md): 62 KiB
# batches lost a third of their throughput (bench/bench_downlink.py), rows in flight read
# back from disk, and the soak's steps it was meant for stayed: SQLite grew, its statement
# cache (one per read length, fixed in OutboxStore.read).
_CACHE_MAX_BYTES = 32 << 20
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
    storage_failures: int = 0  # writes the disk refused (full, read-only)


@dataclass(slots=True)
class _Entry:
    id: int
    priority: Priority
    stream: str
    seq: int
    size: int
    row: OutboxRow | None  # the payload, while cached in memory


class OutboxCore:
    """The outbox's decisions (``Outbox`` adds the loop's disk hand-over; its module
    docstring is the theory of operation)."""

    def __init__(self, path: str | Path, *, budget_bytes: int = 256 << 20,
                 power_safe: bool = False, dead_letter_max_rows: int = 10_000,
                 free_space_floor_bytes: int = 0, memory_bytes: int = 16 << 20,
                 _store: OutboxStore | None = None) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes: expected > 0, got {budget_bytes}")
        if dead_letter_max_rows < 1:
            raise ValueError(f"dead_letter_max_rows: expected >= 1, got {dead_letter_max_rows}")
        self.path = Path(path)
        self.budget_bytes = budget_bytes
        self.guard = StorageGuard(budget_bytes, memory_bytes, free_space_floor_bytes)
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
        self._online = True  # a connection is sending (``set_online``)
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
        self._on_storage: Callable[[str], None] = _ignore
        self._timer: asyncio.TimerHandle | None = None
        self._ticks = 0
        self._retrying = False
        self._unwritten_failed: asyncio.Future[Any] | None = None
        log.info("outbox %s opened: boot %d, %d messages pending (%d bytes)",
                 self.path, self.boot, self._depth, self._bytes)

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
        if self.guard.full and self._thread is not None and not self.guard.admits(
                priority, self._changes.payload_bytes, len(payload)):
            return self._drop_unwritable(stream, seq, priority)
        if self._bytes + size > self.budget_bytes:
            eviction = self._evict(size, priority)
            if eviction.dropped_new:
                return self._drop_new(stream, seq, eviction)
            if self._bytes + size > self.budget_bytes:
                self.counters.over_budget_appends += 1
        row = OutboxRow(self._next_id, priority, stream, seq, topic, retain, self.boot, t_mono,
                        False, payload)
        self._next_id += 1
        cached = self.guard.full or (self._online
                                     and self._cache_bytes + len(payload) <= _CACHE_MAX_BYTES
                                     and self._cache_rows < _CACHE_MAX_ROWS)
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

    def _drop_unwritable(self, stream: str, seq: int, priority: Priority) -> Stored:
        # storage-full mode, over the priority's share of memory: dropped, its number
        # consumed (the ground sees the gap), recorded for the storage_full report
        self._next_seq[stream] = seq + 1
        self._changes.raise_next_seq(stream, seq + 1)
        self.guard.note_drop(priority, stream, seq)
        return Stored(stream, seq, False, None, self._commit())

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
            got, on_disk = self._take(priority, want)
            rows.extend(got)
            if on_disk:  # being read back: a lower priority must not overtake it
                break
        return rows

    def _take(self, priority: Priority, want: int) -> tuple[list[OutboxRow], bool]:
        """Rows of one priority past its cursor, and whether rows of it wait on disk."""
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
            if e.id > self._watermark[priority] and not self.guard.full \
                    and not self._raise_watermark(priority, e.id):
                break  # on its way to the disk; the commit wakes the publisher
            got.append(replace(e.row, sent=True) if e.id <= before else e.row)
            if len(got) >= want:
                break
        if got:
            top = got[-1].id
            self._cursor[priority] = top
            self._fetched[priority] = max(self._fetched[priority], top)
            if self._thread is not None and not self.guard.full:  # ask early: no waiting
                self._raise_watermark(priority, top + _WATERMARK_AHEAD // 2)
        elif missing:
            self._load(priority, missing)
            if self._thread is None:
                return self._take(priority, want)
        return got, bool(missing)

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

    def set_online(self, online: bool) -> None:
        """Whether a connection is sending. While none is, a new row waits on disk only
        (unless the disk refuses it): an outage's backlog costs no memory, and is read
        back in runs when the broker returns."""
        self._online = online

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

    def _commit(self) -> asyncio.Future[Any] | None:
        """Have this call's changes applied (``Outbox`` says how)."""
        raise NotImplementedError

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
    def cached_bytes(self) -> int:
        """Payload bytes held in memory for the publisher (bounded; none for a backlog
        stored while offline, ``set_online``)."""
        return self._cache_bytes

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

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxClosedError(f"outbox {self.path} is closed")
        if self._failed is not None:
            raise self._failed


def _nothing() -> None:
    pass


def _ignore(what: str) -> None:
    pass

