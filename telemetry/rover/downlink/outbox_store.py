"""The outbox's disk: an SQLite (WAL) index, payloads in append-only segment files.

Theory of operation (docs/telemetry.md, "Store and forward"):

* ``OutboxStore`` makes no decisions: :class:`~telemetry.rover.downlink.outbox.Outbox` decides what
  to store, delete and persist, and hands the store a :class:`Changes` to apply as one
  transaction. One thread uses a store at a time: the caller's (synchronous use) or
  the outbox's writer thread (``telemetry.rover.downlink.outbox_writer``), so the event
  loop never waits for the disk.
* A payload is appended to the segment file of its priority (``<db>-payloads/``), and
  the row's (segment, offset, length) goes into SQLite. The bytes are written
  before the transaction that references them commits, so a committed row never
  points at bytes the process had not written: a crash or ``kill -9`` loses nothing
  committed. Segments are written sequentially and deleted whole once no row
  references them, so a payload that is acknowledged quickly never costs more than
  a copy into the page cache; SQLite itself only holds small index rows.
* Durability against power loss: a commit with ``sync`` (or ``power_safe``) first
  fsyncs every segment written since the last sync, then commits with
  ``synchronous=FULL``, recording how far each segment is synced. Other commits use
  ``synchronous=NORMAL``; the store syncs them at the latest ``SYNC_INTERVAL_S`` after
  the first unsynced row, or once ``SYNC_MAX_ROWS`` rows are unsynced: the bound on
  what a power cut can lose.
* Telling a crash from a power cut: the store records the kernel's boot id when it
  opens and a ``clean`` flag when it closes. If the last session did not close and
  the machine has rebooted since, the bytes past each segment's synced size may never
  have reached the disk: those rows are deleted and reported in ``Recovered.lost``.
  After a crash of the process alone (``kill -9``), the page cache still holds every
  written byte and nothing is dropped. (No checksum per payload: at these sizes it
  would cost as much CPU as the MQTT publish itself.)
* After a restart, old segments are never appended to; segment files that no row
  references (written by a transaction that never committed) are deleted.
* Rows stored by earlier versions of the outbox keep their payload inline (the
  ``payload`` column); new rows store an empty blob there.
* Dead letters (rows the broker refused for good) move, payload included, to the
  ``dead_letter`` table in the transaction that deletes them from the outbox; that
  table keeps its newest ``dead_letter_max_rows`` rows.

Errors: every disk or database failure raises ``OutboxError`` naming the path; a failed
write raises its child ``OutboxStorageError`` naming the errno (``ENOSPC``, ``EROFS``...),
after which the store is as it was before the write (a segment file's partial write is cut
off), so the same changes can be applied again once the disk takes them.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import logging
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from telemetry.contract.topics import Priority
from telemetry.rover.downlink.errors import OutboxError, OutboxStorageError
from telemetry.rover.downlink.outbox_records import (
    Changes,
    DeadLetter,
    IndexEntry,
    OutboxRow,
    Recovered,
)

__all__ = ["SEGMENT_BYTES", "SYNC_INTERVAL_S", "SYNC_MAX_ROWS", "OutboxStore"]

log = logging.getLogger(__name__)

SEGMENT_BYTES = 4 << 20  # a segment is closed (and later deleted whole) past this size
SYNC_INTERVAL_S = 0.5  # the longest a committed row waits for an fsync
SYNC_MAX_ROWS = 4096  # ...or this many unsynced rows, whichever comes first
_IOV_MAX = 512
_BIG = 1 << 62
_READ_FDS = 8
_READ_IDS = 256  # ids per read, padded: one SQL text, not one per length (docs/soak.md)
_READ_SQL = ("SELECT id, priority, stream, seq, topic, retain, boot, t_mono, payload, seg,"
             f" seg_offset, seg_length FROM outbox WHERE id IN ({','.join('?' * _READ_IDS)})"
             " ORDER BY id")

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
DROP INDEX IF EXISTS outbox_priority;
CREATE TABLE IF NOT EXISTS streams (stream TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS segments (seg INTEGER PRIMARY KEY, synced INTEGER NOT NULL);
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
# Added to the first version's table (ALTER TABLE keeps its rows): where the payload is.
_SEGMENT_COLUMNS = ("seg", "seg_offset", "seg_length")


@dataclass(slots=True)
class _Segment:
    number: int
    fd: int
    size: int


class OutboxStore:
    """See the module docstring. Opening recovers the state (``recovered``)."""

    def __init__(self, path: str | Path, *, power_safe: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.segment_dir = self.path.with_name(self.path.name + "-payloads")
        self.power_safe = power_safe
        self._clock = clock
        self._active: dict[Priority, _Segment] = {}
        self._unsynced_fds: dict[int, int] = {}  # segment -> fd, written since the last sync
        self._unsynced_sizes: dict[int, int] = {}  # ...and its size then
        self._read_fds: dict[int, int] = {}
        self._live: dict[int, int] = {}  # segment -> rows referencing it
        # per priority, (first row id, segment) in id order: which segment holds a row
        self._starts: dict[Priority, list[tuple[int, int]]] = {p: [] for p in Priority}
        self.unsynced_rows = 0
        self.unsynced_since: float | None = None
        self.syncs = 0
        try:
            self.segment_dir.mkdir(exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA journal_size_limit=8388608")
            self._db.execute("PRAGMA cache_size=-256")  # KiB; 2 MB by default: grew per outage
            self._db.executescript(_SCHEMA)
            have = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
            for column in _SEGMENT_COLUMNS:
                if column not in have:
                    self._db.execute(f"ALTER TABLE outbox ADD COLUMN {column} INTEGER")
            self.recovered = self._recover()
        except (sqlite3.Error, OSError) as err:
            raise OutboxError(f"cannot open outbox {self.path}: {err}") from err

    # ------------------------------------------------------------ opening

    def _recover(self) -> Recovered:
        db = self._db
        with self._tx():
            db.execute("INSERT OR IGNORE INTO meta VALUES ('boot', 0)")
            db.execute("UPDATE meta SET value = value + 1 WHERE key = 'boot'")
            lost = self._drop_unsynced_after_power_cut()
            db.execute("INSERT INTO meta VALUES ('clean', 0) ON CONFLICT (key)"
                       " DO UPDATE SET value = 0")
            host = _host_boot_id()
            if host is not None:
                db.execute("INSERT INTO meta VALUES ('host_boot', ?) ON CONFLICT (key)"
                           " DO UPDATE SET value = excluded.value", (host,))
        boot = db.execute("SELECT value FROM meta WHERE key='boot'").fetchone()[0]
        next_seq: dict[str, int] = dict(db.execute("SELECT stream, next_seq FROM streams"))
        for stream, top in db.execute("SELECT stream, MAX(seq) FROM outbox GROUP BY stream"):
            next_seq[stream] = max(next_seq.get(stream, 0), top + 1)
        used = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        top_id = db.execute("SELECT COALESCE(MAX(id), 0) FROM outbox").fetchone()[0]
        watermarks = {p: 0 for p in Priority}
        for key, value in db.execute("SELECT key, value FROM meta WHERE key LIKE 'wm%'"):
            watermarks[Priority(int(key[2:]))] = value
        rows = [IndexEntry(i, Priority(p), s, q, n) for i, p, s, q, n in db.execute(
            "SELECT id, priority, stream, seq, COALESCE(seg_length, LENGTH(payload))"
            " FROM outbox ORDER BY id")]
        for p, seg, count, first in db.execute(
                "SELECT priority, seg, COUNT(*), MIN(id) FROM outbox WHERE seg IS NOT NULL"
                " GROUP BY seg ORDER BY seg"):
            self._live[seg] = count
            self._starts[Priority(p)].append((first, seg))
        self._next_segment = max(self._live, default=0) + 1
        for name in os.listdir(self.segment_dir):
            number = _segment_number(name)
            if number is None:
                continue
            self._next_segment = max(self._next_segment, number + 1)
            if number not in self._live:  # written by a transaction that never committed
                os.unlink(self.segment_dir / name)
        with self._tx():
            db.execute("DELETE FROM segments WHERE seg NOT IN"
                       " (SELECT DISTINCT seg FROM outbox WHERE seg IS NOT NULL)")
        dead = db.execute("SELECT COUNT(*) FROM dead_letter").fetchone()[0]
        return Recovered(boot, next_seq, max(used[0] if used else 0, top_id) + 1, watermarks,
                         rows, lost, dead)

    def _drop_unsynced_after_power_cut(self) -> list[IndexEntry]:
        """After an unclean stop and a reboot, rows past the synced sizes are suspect."""
        db = self._db
        meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('clean', 'host_boot')"))
        host = _host_boot_id()
        if meta.get("clean", 1) or host is None or meta.get("host_boot", host) == host:
            return []  # closed cleanly, or only the process died: the page cache kept it all
        synced = dict(db.execute("SELECT seg, synced FROM segments"))
        lost = [IndexEntry(i, Priority(p), s, q, n) for i, p, s, q, seg, off, n in db.execute(
            "SELECT id, priority, stream, seq, seg, seg_offset, seg_length FROM outbox"
            " WHERE seg IS NOT NULL ORDER BY id") if off + n > synced.get(seg, 0)]
        if lost:
            self._persist({e.stream: e.seq + 1 for e in lost}, {})  # never reuse their numbers
            self._delete([e.id for e in lost])  # (live counts are computed after this)
            log.error("outbox %s: the machine lost power: %d unsynced messages dropped",
                      self.path, len(lost))
        return lost

    # ------------------------------------------------------------ writing

    def apply(self, changes: Changes) -> bool:
        """Apply ``changes`` as one transaction; returns True if it was synced."""
        now = self._clock()
        rows = len(changes.inserts)
        sync = changes.sync or self.power_safe or self.unsynced_rows + rows >= SYNC_MAX_ROWS \
            or (self.unsynced_since is not None and now - self.unsynced_since >= SYNC_INTERVAL_S)
        starts = {p: len(v) for p, v in self._starts.items()}
        kept: list[int] = []  # segments rotated away with this commit's payloads in them
        try:
            placed = self._write_payloads(changes.inserts.values(), kept)
            synced = self._fsync_segments() if sync else {}
            if sync:
                self._db.execute("PRAGMA synchronous=FULL")
            try:
                with self._tx():
                    self._db.executemany(
                        "INSERT INTO outbox (id, priority, stream, seq, topic, retain, boot,"
                        " t_mono, payload, seg, seg_offset, seg_length)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, x'', ?, ?, ?)",
                        [(r.id, int(r.priority), r.stream, r.seq, r.topic, int(r.retain), r.boot,
                          r.t_mono, *placed[r.id]) for r in changes.inserts.values()])
                    self._move_dead(changes)
                    self._delete([i for i, _ in changes.deletes])
                    self._persist(changes.next_seq, changes.meta)
                    self._db.executemany(
                        "INSERT INTO segments VALUES (?, ?) ON CONFLICT (seg)"
                        " DO UPDATE SET synced = excluded.synced", list(synced.items()))
            finally:
                if sync:
                    self._db.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as err:
            for priority, n in starts.items():  # segments the failed write started: unused
                del self._starts[priority][n:]
            for number in kept:  # nothing else in them is live: the failed rows were all
                if self._live.get(number, 0) <= 0:
                    self._drop_segment(number)
            raise OutboxStorageError(f"cannot write to outbox {self.path}: {err}",
                                     storage_errno(err, self.path)) from err
        for number in placed.values():
            self._live[number[0]] = self._live.get(number[0], 0) + 1
        self._release(changes.deletes)
        self._release((i, p) for i, p, *_ in changes.dead)
        if sync:
            self._synced()
        elif rows:
            self.unsynced_rows += rows
            if self.unsynced_since is None:
                self.unsynced_since = now
        return sync

    def sync_due(self) -> float | None:
        """Seconds until the unsynced rows must be synced (None: nothing unsynced)."""
        if self.unsynced_since is None:
            return None
        return max(0.0, self.unsynced_since + SYNC_INTERVAL_S - self._clock())

    def sync(self) -> None:
        """Make everything committed so far durable against power loss."""
        try:
            self.apply(Changes(meta={"synced": self.syncs + 1}, sync=True))
        except OutboxError:
            if self.unsynced_since is not None:  # again in an interval, not at once
                self.unsynced_since = self._clock()
            raise

    def _synced(self) -> None:
        self.syncs += 1
        self.unsynced_rows = 0
        self.unsynced_since = None

    def _write_payloads(self, rows: Iterable[OutboxRow],
                        kept: list[int]) -> dict[int, tuple[int, int, int]]:
        """Append the payloads to their priority's segment; (segment, offset, length).
        The segments rotated away after taking some of these payloads go to ``kept``."""
        by_priority: dict[Priority, list[OutboxRow]] = {}
        for r in rows:
            by_priority.setdefault(r.priority, []).append(r)
        placed: dict[int, tuple[int, int, int]] = {}
        for priority, group in by_priority.items():
            seg = self._active.get(priority)
            offset = seg.size if seg is not None else 0
            batch: list[bytes] = []
            took = False  # seg took some of these payloads
            for r in group:
                n = len(r.payload)
                full = seg is None or (offset > 0 and offset + n > SEGMENT_BYTES)
                if full or len(batch) >= _IOV_MAX:
                    if batch:
                        assert seg is not None
                        self._writev(seg, batch)
                        batch = []
                    if full:
                        seg = self._rotate(priority, keep=took, kept=kept)
                        self._starts[priority].append((r.id, seg.number))
                        took = False
                    assert seg is not None
                    offset = seg.size
                placed[r.id] = (seg.number, offset, n)
                took = True
                batch.append(r.payload)
                offset += n
            if batch:
                assert seg is not None
                self._writev(seg, batch)
        return placed

    def _writev(self, seg: _Segment, payloads: list[bytes]) -> None:
        want = sum(len(p) for p in payloads)
        try:
            done = os.writev(seg.fd, payloads)
        except OSError:
            self._cut(seg)
            raise
        if done != want:
            self._cut(seg)  # a full disk: keep the file's end where our offsets say
            raise OSError(errno.ENOSPC, f"short write to segment {seg.number}: {done} of "
                                        f"{want} bytes")
        seg.size += want
        self._unsynced_fds[seg.number] = seg.fd
        self._unsynced_sizes[seg.number] = seg.size

    @staticmethod
    def _cut(seg: _Segment) -> None:
        with contextlib.suppress(OSError):
            os.ftruncate(seg.fd, seg.size)

    def _rotate(self, priority: Priority, *, keep: bool, kept: list[int]) -> _Segment:
        """A new active segment for ``priority``. The old one is deleted if no live row
        is in it, unless ``keep``: rows of the commit in progress are (they count as
        live once it commits; the old segment's number goes to ``kept``)."""
        old = self._active.pop(priority, None)
        if old is not None:
            if old.number not in self._unsynced_fds:
                os.close(old.fd)  # else the next sync closes it (it still needs an fsync)
            if keep:
                kept.append(old.number)
            elif self._live.get(old.number, 0) <= 0:
                self._drop_segment(old.number)
        number = self._next_segment
        self._next_segment += 1
        fd = os.open(self._segment_path(number), os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        seg = self._active[priority] = _Segment(number, fd, 0)
        self._live.setdefault(number, 0)
        return seg

    def _fsync_segments(self) -> dict[int, int]:
        """fsync the segments written since the last sync; their sizes, now on disk."""
        active = {s.number for s in self._active.values()}
        for number, fd in self._unsynced_fds.items():
            os.fdatasync(fd)
            if number not in active:
                os.close(fd)
        self._unsynced_fds.clear()
        synced, self._unsynced_sizes = self._unsynced_sizes, {}
        return synced

    def _move_dead(self, changes: Changes) -> None:
        """Copy the dead-lettered rows (payload included) aside and delete them."""
        if not changes.dead:
            return
        for row_id, priority, code, reason, boot in changes.dead:
            found = self._db.execute(
                "SELECT stream, seq, topic, retain, boot, t_mono, payload, seg, seg_offset,"
                " seg_length FROM outbox WHERE id = ?", (row_id,)).fetchone()
            if found is None:
                continue
            stream, seq, topic, retain, stored_boot, t_mono, inline, seg, off, length = found
            payload = inline if seg is None else (self._pread(seg, off, length) or b"")
            self._db.execute(
                "INSERT OR REPLACE INTO dead_letter VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (row_id, int(priority), stream, seq, topic, retain, stored_boot, t_mono,
                 payload, code, reason, boot))
        self._delete([i for i, *_ in changes.dead])
        if changes.dead_letter_max_rows:
            self._db.execute("DELETE FROM dead_letter WHERE id NOT IN (SELECT id FROM"
                             " dead_letter ORDER BY id DESC LIMIT ?)",
                             (changes.dead_letter_max_rows,))

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        """The oldest ``limit`` dead letters, oldest first."""
        try:
            return [DeadLetter(r[0], Priority(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                               r[9]) for r in self._db.execute(
                "SELECT id, priority, stream, seq, topic, boot, reason_code, reason,"
                " rejected_boot, payload FROM dead_letter ORDER BY id LIMIT ?", (limit,))]
        except sqlite3.Error as err:
            raise OutboxError(f"cannot read the dead letters of {self.path}: {err}") from err

    def _delete(self, ids: Sequence[int]) -> None:
        """Delete rows by id, as runs of consecutive ids (acks come nearly in order)."""
        runs: list[list[int]] = []
        for i in sorted(ids):
            if runs and runs[-1][1] + 1 == i:
                runs[-1][1] = i
            else:
                runs.append([i, i])
        self._db.executemany("DELETE FROM outbox WHERE id BETWEEN ? AND ?", runs)

    def _segment_of(self, row_id: int, priority: Priority) -> int | None:
        starts = self._starts[priority]
        k = bisect.bisect_right(starts, (row_id, _BIG)) - 1
        return starts[k][1] if k >= 0 else None  # None: a payload stored inline

    def _release(self, deleted: Iterable[tuple[int, Priority]]) -> None:
        """Count references dropped; delete segments nothing references any more."""
        active = {s.number for s in self._active.values()}
        for row_id, priority in deleted:
            number = self._segment_of(row_id, priority)
            if number is None:
                continue
            left = self._live[number] = self._live.get(number, 1) - 1
            if left <= 0 and number not in active:
                self._drop_segment(number)

    def _drop_segment(self, number: int) -> None:
        self._live.pop(number, None)
        for starts in self._starts.values():
            starts[:] = [x for x in starts if x[1] != number]
        self._unsynced_sizes.pop(number, None)
        for fds in (self._unsynced_fds, self._read_fds):
            fd = fds.pop(number, None)
            if fd is not None:
                os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._segment_path(number))

    def _persist(self, next_seq: dict[str, int], meta: dict[str, int]) -> None:
        if next_seq:
            self._db.executemany(
                "INSERT INTO streams VALUES (?, ?) ON CONFLICT (stream)"
                " DO UPDATE SET next_seq = MAX(next_seq, excluded.next_seq)",
                list(next_seq.items()))
        if meta:
            self._db.executemany(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value ="
                " excluded.value", list(meta.items()))

    # ------------------------------------------------------------ reading

    def read(self, ids: Sequence[int]) -> tuple[list[OutboxRow], list[tuple[int, Priority]]]:
        """The stored rows among ``ids`` (``sent`` False), and the ids found cut short.

        A row whose bytes are missing (they never reached the disk before a power cut
        the boot-id check could not see) is deleted here; the caller reports it lost."""
        rows: list[OutboxRow] = []
        lost: list[tuple[int, Priority]] = []
        try:
            for i in range(0, len(ids), _READ_IDS):
                chunk = list(ids[i:i + _READ_IDS])
                chunk += chunk[-1:] * (_READ_IDS - len(chunk))  # one statement, cached
                for (row_id, p, stream, seq, topic, retain, boot, t_mono, inline, seg, off,
                     length) in self._db.execute(_READ_SQL, chunk):
                    payload = inline if seg is None else self._pread(seg, off, length)
                    if payload is None:
                        lost.append((row_id, Priority(p)))
                        continue
                    rows.append(OutboxRow(row_id, Priority(p), stream, seq, topic, bool(retain),
                                          boot, t_mono, False, bytes(payload)))
            if lost:
                log.error("outbox %s: %d stored messages are cut short (lost in a power cut?)",
                          self.path, len(lost))
                with self._tx():
                    self._delete([i for i, _ in lost])
                self._release(lost)
        except (sqlite3.Error, OSError) as err:
            raise OutboxError(f"cannot read outbox {self.path}: {err}") from err
        return rows, lost

    def _pread(self, number: int, offset: int, length: int) -> bytes | None:
        fd = self._fd_for_reading(number)
        if fd is None:
            return None
        data = os.pread(fd, length, offset)
        if len(data) != length:  # cut short: bytes lost with the page cache
            return None
        return data

    def _fd_for_reading(self, number: int) -> int | None:
        for seg in self._active.values():
            if seg.number == number:
                return seg.fd
        for fds in (self._unsynced_fds, self._read_fds):
            if number in fds:
                return fds[number]
        try:
            fd = os.open(self._segment_path(number), os.O_RDONLY)
        except FileNotFoundError:
            return None
        if len(self._read_fds) >= _READ_FDS:
            os.close(self._read_fds.pop(next(iter(self._read_fds))))
        self._read_fds[number] = fd
        return fd

    # ------------------------------------------------------------ closing

    def close(self) -> None:
        """Sync what is unsynced and close every file (errors are logged, not raised)."""
        try:
            self.sync()  # everything on disk, then: a clean stop (see _recover)
            self._db.execute("PRAGMA synchronous=FULL")
            with self._tx():
                self._db.execute("UPDATE meta SET value = 1 WHERE key = 'clean'")
        except (OutboxError, sqlite3.Error) as err:
            log.warning("closing outbox %s: %s", self.path, err)
        for fd in {*self._unsynced_fds.values(), *self._read_fds.values(),
                   *(s.fd for s in self._active.values())}:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._unsynced_fds.clear()
        self._read_fds.clear()
        self._active.clear()
        try:
            self._db.close()
        except sqlite3.Error as err:  # pragma: no cover - nothing left to do
            log.warning("closing outbox %s: %s", self.path, err)

    def _segment_path(self, number: int) -> Path:
        return self.segment_dir / f"{number:010d}.seg"

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)


def _host_boot_id() -> int | None:
    """The running kernel's boot id (Linux), to tell a process crash from a reboot."""
    try:
        text = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return int(uuid.UUID(text).hex[:15], 16)
    except (OSError, ValueError):
        return None


def _segment_number(name: str) -> int | None:
    stem, dot, ext = name.partition(".")
    return int(stem) if dot and ext == "seg" and stem.isdigit() else None


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
            return
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
            self._db.execute("ROLLBACK")


def storage_errno(err: BaseException, path: Path) -> str:
    """Why a write failed, as an errno name: ``EROFS`` when the filesystem is mounted
    read-only, ``ENOSPC`` when it is full, else the error's own (``EIO``...)."""
    try:
        st = os.statvfs(path.parent)
        if st.f_flag & os.ST_RDONLY:
            return "EROFS"
    except OSError:
        pass
    code = getattr(err, "errno", None)
    if isinstance(code, int) and code in errno.errorcode:
        return errno.errorcode[code]
    name = getattr(err, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL"):
        return "ENOSPC"
    if name.startswith("SQLITE_READONLY"):
        return "EROFS"
    try:
        if os.statvfs(path.parent).f_bavail == 0:
            return "ENOSPC"
    except OSError:
        pass
    return "EIO"
