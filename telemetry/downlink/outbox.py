"""Durable store-and-forward outbox in SQLite (WAL).

Theory of operation (docs/telemetry.md, "Store and forward"):

* ``append`` assigns the next per-stream sequence number, encodes the payload
  with it and inserts one row in a single autocommitted statement. When it
  returns, the message is stored: with ``synchronous=NORMAL`` in WAL mode it
  survives a crash or ``kill -9`` of the process; ``power_safe=True`` selects
  ``synchronous=FULL`` for power-loss safety at the cost of an fsync per append.
* Rows are deleted only by ``ack`` (the broker's PUBACK) or by eviction.
* Sequence numbers are never reused: the next number of a stream is
  ``max(streams.next_seq, max(seq in outbox) + 1)``, and every delete persists
  ``streams.next_seq`` in the same transaction.
* ``fetch`` hands out rows in drain order (priority, then insertion) past a
  per-priority cursor. Before a row goes out, a per-priority "handed out up to
  id" watermark is persisted, reserved ``_WATERMARK_AHEAD`` ids ahead so that it
  costs one write per many messages; a row at or below the watermark of an
  earlier process, or fetched before in this one, is flagged ``sent`` (a
  possible resend). The flag is conservative: "may have been sent".
* Hot path: while the publisher keeps up, appended rows also go to a bounded
  in-memory tail per priority and ``fetch`` serves them without reading SQLite.
* The boot counter in ``meta`` is incremented on every open.
* Dead letters: a row the broker refused for good (an MQTT 5 PUBACK failure code,
  e.g. the ACL denies its topic) is moved by ``dead_letter`` to the ``dead_letter``
  table in one transaction, with the reason; it is never resent and its sequence
  number is never reused. That table keeps the newest ``dead_letter_max_rows`` rows
  (older ones are dropped and counted) and is not charged to the disk budget.
* Disk budget: payload bytes plus a fixed per-row overhead. Appending past the
  budget evicts not-yet-handed-out ``BATCH`` rows oldest-first, then ``STATS`` rows, down to
  90 % of the budget, and returns an :class:`EvictionReport` that the caller
  publishes as an event. ``CRITICAL`` and ``STATE`` rows are never evicted; when
  only they remain, an evictable newcomer is dropped (and reported) instead.

The outbox is synchronous and meant to be used from one thread (the event loop):
each call is a sub-millisecond local write, cheaper than an executor hop.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from telemetry.contract.topics import Priority
from telemetry.downlink.errors import OutboxClosedError, OutboxError

__all__ = ["DeadLetter", "EvictedRange", "EvictionReport", "Outbox", "OutboxRow", "Stored"]

log = logging.getLogger(__name__)

ROW_OVERHEAD = 64  # bytes charged per row on top of the payload
_EVICT_TO = 0.9
_WATERMARK_AHEAD = 1024
_TAIL_MAX_BYTES = 16 << 20
_TAIL_MAX_ROWS = 8192

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    retain INTEGER NOT NULL,
    boot INTEGER NOT NULL,
    t_mono REAL NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_priority ON outbox (priority);
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_DEAD_LETTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY,
    priority INTEGER NOT NULL,
    stream TEXT NOT NULL,
    seq INTEGER NOT NULL,
    topic TEXT NOT NULL,
    retain INTEGER NOT NULL,
    boot INTEGER NOT NULL,
    t_mono REAL NOT NULL,
    payload BLOB NOT NULL,
    reason_code INTEGER NOT NULL,
    reason TEXT NOT NULL,
    rejected_boot INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    priority: Priority
    stream: str
    seq: int
    topic: str
    retain: bool
    boot: int
    t_mono: float
    sent: bool  # True if it was handed to a connection before (so this is a resend)
    payload: bytes


@dataclass(frozen=True, slots=True)
class EvictedRange:
    stream: str
    first_seq: int
    last_seq: int
    count: int


@dataclass(frozen=True, slots=True)
class EvictionReport:
    ranges: tuple[EvictedRange, ...]
    bytes_freed: int
    dropped_new: bool  # the message being appended was itself dropped

    @property
    def count(self) -> int:
        return sum(r.count for r in self.ranges)


@dataclass(frozen=True, slots=True)
class Stored:
    """Receipt of ``append``: the message is durable under (stream, seq)."""

    stream: str
    seq: int
    stored: bool  # False if the message was dropped to respect the disk budget
    eviction: EvictionReport | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message the broker refused for good (``Outbox.dead_letters``)."""

    id: int  # its former outbox row id
    priority: Priority
    stream: str
    seq: int
    topic: str
    boot: int  # boot that stored it
    reason_code: int  # the broker's PUBACK reason code
    reason: str
    rejected_boot: int  # boot in which the broker refused it
    payload: bytes


@dataclass(slots=True)
class _Counters:
    appended: int = 0
    acked: int = 0
    evicted: int = 0
    over_budget_appends: int = 0
    dead_lettered: int = 0
    dead_letters_dropped: int = 0  # oldest dead letters dropped to bound their table


class Outbox:
    """See the module docstring. Raises ``OutboxError`` on database failures."""

    def __init__(self, path: str | Path, *, budget_bytes: int = 256 << 20,
                 power_safe: bool = False, dead_letter_max_rows: int = 10_000) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"budget_bytes: expected > 0, got {budget_bytes}")
        if dead_letter_max_rows < 1:
            raise ValueError(f"dead_letter_max_rows: expected >= 1, got {dead_letter_max_rows}")
        self.path = Path(path)
        self.budget_bytes = budget_bytes
        self.dead_letter_max_rows = dead_letter_max_rows
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if power_safe else 'NORMAL'}")
            self._db.execute("PRAGMA journal_size_limit=8388608")
            self._db.executescript(_SCHEMA)
            self._db.executescript(_DEAD_LETTER_SCHEMA)
            self._dead: int = self._db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0]
            with self._tx():
                self._db.execute("INSERT OR IGNORE INTO meta VALUES ('boot', 0)")
                self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'boot'")
            self.boot: int = self._db.execute(
                "SELECT value FROM meta WHERE key='boot'").fetchone()[0]
            self._next_seq: dict[str, int] = dict(
                self._db.execute("SELECT stream, next_seq FROM streams"))
            for stream, top in self._db.execute(
                    "SELECT stream, MAX(seq) FROM outbox GROUP BY stream"):
                self._next_seq[stream] = max(self._next_seq.get(stream, 0), top + 1)
            self._bytes: int = self._db.execute(
                f"SELECT COALESCE(SUM(LENGTH(payload)) + COUNT(*) * {ROW_OVERHEAD}, 0) FROM outbox"
            ).fetchone()[0]
            self._depth: int = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        except sqlite3.Error as err:
            raise OutboxError(f"cannot open outbox {self.path}: {err}") from err
        self._cursor: dict[Priority, int] = {p: 0 for p in Priority}
        self._fetched: dict[Priority, int] = {p: 0 for p in Priority}  # ever, this process
        max_id = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
        self._watermark: dict[Priority, int] = {p: 0 for p in Priority}
        for key, value in self._db.execute("SELECT key, value FROM meta WHERE key LIKE 'wm%'"):
            self._watermark[Priority(int(key[2:]))] = value
        # Rows of earlier processes at or below their watermark may have been sent.
        self._sent_before = {p: min(w, max_id) for p, w in self._watermark.items()}
        self._tail: dict[Priority, deque[OutboxRow]] = {p: deque() for p in Priority}
        self._tail_bytes = 0
        self._caught_up: dict[Priority, bool] = {p: False for p in Priority}
        self._closed = False
        self.counters = _Counters()
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
        if self._bytes + size > self.budget_bytes:
            eviction = self._evict(size, priority)
            if eviction.dropped_new:
                # The newcomer is dropped, but its number is consumed so the ground
                # sees the gap and the eviction event explains it.
                self._next_seq[stream] = seq + 1
                self._persist_next_seq({stream: seq + 1})
                report = EvictionReport(
                    (*eviction.ranges, EvictedRange(stream, seq, seq, 1)),
                    eviction.bytes_freed, True)
                self.counters.evicted += 1
                return Stored(stream, seq, False, report)
            if self._bytes + size > self.budget_bytes:
                self.counters.over_budget_appends += 1
        try:
            row_id = self._db.execute(
                "INSERT INTO outbox (priority, stream, seq, topic, retain, boot, t_mono, payload)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (int(priority), stream, seq, topic, int(retain), self.boot, t_mono, payload)
            ).lastrowid
        except sqlite3.Error as err:
            raise OutboxError(f"cannot append to outbox {self.path}: {err}") from err
        if self._caught_up[priority]:
            if self._tail_bytes + len(payload) > _TAIL_MAX_BYTES or \
                    len(self._tail[priority]) >= _TAIL_MAX_ROWS:
                self._drop_tail(priority)  # a backlog: fetch will read SQLite again
            else:
                self._tail[priority].append(OutboxRow(
                    row_id, priority, stream, seq, topic, retain, self.boot, t_mono, False,
                    payload))
                self._tail_bytes += len(payload)
        self._next_seq[stream] = seq + 1
        self._bytes += size
        self._depth += 1
        self.counters.appended += 1
        return Stored(stream, seq, True, eviction if eviction and eviction.ranges else None)

    def _evict(self, incoming: int, incoming_priority: Priority) -> EvictionReport:
        target = int(self.budget_bytes * _EVICT_TO) - incoming
        need = self._bytes - target
        victims: list[tuple[int, str, int, int]] = []
        freed = 0
        for priority in (Priority.BATCH, Priority.STATS):
            after = 0
            while freed < need:
                rows = self._db.execute(
                    "SELECT id, stream, seq, LENGTH(payload) FROM outbox"
                    " WHERE priority = ? AND id > ? ORDER BY id LIMIT 512",
                    (int(priority), max(after, self._cursor[priority]))).fetchall()
                if not rows:
                    break
                for row_id, stream, seq, length in rows:
                    victims.append((row_id, stream, seq, length + ROW_OVERHEAD))
                    freed += length + ROW_OVERHEAD
                    after = row_id
                    if freed >= need:
                        break
        dropped_new = freed < need and incoming_priority.evictable and \
            self._bytes - freed + incoming > self.budget_bytes
        ranges: dict[str, list[int]] = {}
        for _, stream, seq, _ in victims:
            r = ranges.setdefault(stream, [seq, seq, 0])
            r[0], r[1], r[2] = min(r[0], seq), max(r[1], seq), r[2] + 1
        if victims:
            self._drop_tail(Priority.BATCH)
            self._drop_tail(Priority.STATS)
            try:
                with self._tx():
                    self._db.executemany("DELETE FROM outbox WHERE id = ?",
                                         [(v[0],) for v in victims])
                    self._persist_next_seq({s: self._next_seq[s] for s in ranges})
            except sqlite3.Error as err:
                raise OutboxError(f"cannot evict from outbox {self.path}: {err}") from err
            self._bytes -= freed
            self._depth -= len(victims)
            self.counters.evicted += len(victims)
            log.warning("outbox over budget: evicted %d messages (%d bytes)", len(victims), freed)
        return EvictionReport(
            tuple(EvictedRange(s, a, b, n) for s, (a, b, n) in ranges.items()), freed, dropped_new)

    def _persist_next_seq(self, next_seq: dict[str, int]) -> None:
        self._db.executemany(
            "INSERT INTO streams VALUES (?, ?) ON CONFLICT (stream)"
            " DO UPDATE SET next_seq = MAX(next_seq, excluded.next_seq)",
            list(next_seq.items()))

    # ------------------------------------------------------------ draining

    def fetch(self, limit: int) -> list[OutboxRow]:
        """Up to ``limit`` rows past the cursors, in drain order (see module docstring)."""
        self._check_open()
        rows: list[OutboxRow] = []
        for priority in Priority:
            want = limit - len(rows)
            if want <= 0:
                break
            if self._caught_up[priority]:
                tail = self._tail[priority]
                got = [tail.popleft() for _ in range(min(want, len(tail)))]
                self._tail_bytes -= sum(len(r.payload) for r in got)
            else:
                cur = self._db.execute(
                    "SELECT id, stream, seq, topic, retain, boot, t_mono, payload"
                    " FROM outbox WHERE priority = ? AND id > ? ORDER BY id LIMIT ?",
                    (int(priority), self._cursor[priority], want))
                before = max(self._sent_before[priority], self._fetched[priority])
                got = [OutboxRow(r[0], priority, r[1], r[2], r[3], bool(r[4]), r[5], r[6],
                                 r[0] <= before, r[7]) for r in cur]
                if len(got) < want:
                    self._caught_up[priority] = True  # later appends go to the tail
            if got:
                top = got[-1].id
                self._cursor[priority] = top
                self._fetched[priority] = max(self._fetched[priority], top)
                rows.extend(got)
        self._persist_watermarks()
        return rows

    def _persist_watermarks(self) -> None:
        stale = {p: f for p, f in self._fetched.items() if f > self._watermark[p]}
        if not stale:
            return
        for p, f in stale.items():
            self._watermark[p] = f + _WATERMARK_AHEAD
        try:
            self._db.executemany(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value ="
                " excluded.value", [(f"wm{int(p)}", self._watermark[p]) for p in stale])
        except sqlite3.Error as err:
            raise OutboxError(f"cannot persist the outbox watermark: {err}") from err

    def _drop_tail(self, priority: Priority) -> None:
        self._tail_bytes -= sum(len(r.payload) for r in self._tail[priority])
        self._tail[priority].clear()
        self._caught_up[priority] = False

    def rewind(self) -> None:
        """Start fetching from the oldest unacknowledged row again (after a reconnect)."""
        self._cursor = {p: 0 for p in Priority}
        for priority in Priority:
            self._drop_tail(priority)

    def ack(self, rows: Iterable[OutboxRow]) -> None:
        """Delete rows the broker acknowledged (missing rows, e.g. evicted, are ignored)."""
        self._check_open()
        rows = list(rows)
        if not rows:
            return
        top: dict[str, int] = {}
        for r in rows:
            top[r.stream] = max(top.get(r.stream, 0), r.seq + 1)
        freed = count = 0
        ids = [r.id for r in rows]
        try:
            with self._tx():
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    for (length,) in self._db.execute(
                            f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})"
                            " RETURNING LENGTH(payload)", chunk):
                        freed += length + ROW_OVERHEAD
                        count += 1
                self._persist_next_seq(top)
        except sqlite3.Error as err:
            raise OutboxError(f"cannot delete acknowledged rows: {err}") from err
        self._bytes -= freed
        self._depth -= count
        self.counters.acked += count

    # ------------------------------------------------------------ dead letters

    def dead_letter(self, rows: Iterable[OutboxRow], reason_code: int, reason: str) -> int:
        """Move rows the broker refused for good to the dead-letter table; returns how
        many were still in the outbox (a row already acked or evicted is skipped)."""
        self._check_open()
        ids = [r.id for r in rows]
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        top: dict[str, int] = {}
        freed = moved = 0
        try:
            with self._tx():
                self._db.execute(
                    "INSERT OR REPLACE INTO dead_letter (id, priority, stream, seq, topic,"
                    " retain, boot, t_mono, payload, reason_code, reason, rejected_boot)"
                    " SELECT id, priority, stream, seq, topic, retain, boot, t_mono, payload,"
                    f" ?, ?, ? FROM outbox WHERE id IN ({marks})",
                    (reason_code, reason, self.boot, *ids))
                for stream, seq, length in self._db.execute(
                        f"DELETE FROM outbox WHERE id IN ({marks})"
                        " RETURNING stream, seq, LENGTH(payload)", ids):
                    top[stream] = max(top.get(stream, 0), seq + 1)
                    freed += length + ROW_OVERHEAD
                    moved += 1
                self._persist_next_seq(top)
                dropped = self._db.execute(
                    "DELETE FROM dead_letter WHERE id NOT IN (SELECT id FROM dead_letter"
                    " ORDER BY id DESC LIMIT ?)", (self.dead_letter_max_rows,)).rowcount
        except sqlite3.Error as err:
            raise OutboxError(f"cannot move rows to the dead-letter table: {err}") from err
        self._bytes -= freed
        self._depth -= moved
        self._dead += moved - dropped
        self.counters.dead_lettered += moved
        self.counters.dead_letters_dropped += dropped
        return moved

    @property
    def dead_letter_count(self) -> int:
        """Rows in the dead-letter table (all boots, at most ``dead_letter_max_rows``)."""
        return self._dead

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, oldest first; for tools and tests."""
        self._check_open()
        return [DeadLetter(r[0], Priority(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9])
                for r in self._db.execute(
                    "SELECT id, priority, stream, seq, topic, boot, reason_code, reason,"
                    " rejected_boot, payload FROM dead_letter ORDER BY id LIMIT ?", (limit,))]

    # ------------------------------------------------------------ state

    @property
    def depth(self) -> int:
        """Messages stored and not yet acknowledged."""
        return self._depth

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def pending(self, stream: str | None = None) -> list[tuple[str, int]]:
        """(stream, seq) of stored rows in drain order; for tests and tools."""
        self._check_open()
        sql = "SELECT stream, seq FROM outbox"
        args: tuple[str, ...] = ()
        if stream is not None:
            sql, args = sql + " WHERE stream = ?", (stream,)
        return [(s, q) for s, q in self._db.execute(sql + " ORDER BY priority, id", args)]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._db.close()
            except sqlite3.Error as err:  # pragma: no cover - nothing left to do
                log.warning("closing outbox %s: %s", self.path, err)

    def _check_open(self) -> None:
        if self._closed:
            raise OutboxClosedError(f"outbox {self.path} is closed")

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
