"""The embedded store: one SQLite file (WAL) per recorder.

Duplicates are decided here with the same :class:`SequenceAccounting` the recorder
uses for its live counters (one writer per file, so its order is the file's order);
reopening a file rebuilds that state from the rows already in it, so a recorder
restarted on its file after a crash still flags the broker's redeliveries as
duplicates. Every call runs on one worker thread, off the event loop; ``write``
commits one transaction per batch.

The file layout is ``migrations.SQLITE``; files written before migrations existed
open as version 1 and are upgraded in place.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from telemetry.ground.accounting import SequenceAccounting
from telemetry.ground.stores import migrations
from telemetry.ground.stores.base import (
    EvictedRange,
    MalformedRow,
    MessageRow,
    RecordedRow,
    WriteItem,
    WriteOutcome,
)
from telemetry.ground.stores.errors import StoreSchemaError, StoreUnavailableError
from telemetry.ground.summary import ReportBuilder, StoreSummary

__all__ = ["SqliteStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")

_ROW_COLUMNS = ("rig, stream, type, boot, seq, received_at, t_rig, historical, resend,"
                " duplicate, payload, stored_at")
_FETCH = 1000


class SqliteStore:
    """Open with ``await SqliteStore.open(path)``."""

    def __init__(self, path: Path, db: sqlite3.Connection, pool: ThreadPoolExecutor) -> None:
        self.path = path
        self.location = str(path)
        self._db = db
        self._pool = pool
        self._accounting: SequenceAccounting | None = None  # built on first write

    @classmethod
    async def open(cls, path: str | Path) -> SqliteStore:
        path = Path(path)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{path.name}")
        loop = asyncio.get_running_loop()
        try:
            db = await loop.run_in_executor(pool, _connect, path)
        except BaseException:
            pool.shutdown(wait=False)
            raise
        return cls(path, db, pool)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # ------------------------------------------------------------ writing

    async def write(self, batch: Sequence[WriteItem]) -> WriteOutcome:
        return await self._run(self._write, list(batch), time.time())

    def _write(self, batch: list[WriteItem], stored_at: float) -> WriteOutcome:
        if self._accounting is None:
            self._accounting = self._load_accounting()
        acc = self._accounting
        messages, malformed, evicted = [], [], []
        duplicates = 0
        for item in batch:
            if isinstance(item, MessageRow):
                dup = False
                if item.accounted:
                    dup = acc.observe(item.rig, item.stream, item.boot, item.seq,
                                      item.resend) == "duplicate"
                duplicates += dup
                messages.append((item.rig, item.stream, item.type, item.boot, item.seq,
                                 item.topic, item.received_at, item.t_rig, item.t_mono,
                                 item.historical, item.resend, dup, item.payload, stored_at))
            elif isinstance(item, MalformedRow):
                malformed.append((item.topic, item.received_at, item.reason,
                                  item.payload[:4096]))
            elif isinstance(item, EvictedRange):
                acc.note_evicted(item.rig, item.stream, item.first_seq, item.last_seq)
                evicted.append((item.rig, item.stream, item.first_seq, item.last_seq,
                                item.count, item.noted_at))
        try:
            with self._db:
                self._db.executemany(
                    "INSERT INTO messages (rig, stream, type, boot, seq, topic, received_at,"
                    " t_rig, t_mono, historical, resend, duplicate, payload, stored_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", messages)
                self._db.executemany("INSERT INTO malformed (topic, received_at, reason,"
                                     " payload) VALUES (?,?,?,?)", malformed)
                self._db.executemany("INSERT INTO evicted (rig, stream, first_seq, last_seq,"
                                     " count, noted_at) VALUES (?,?,?,?,?,?)", evicted)
        except sqlite3.Error as err:
            # the accounting already saw these rows: rebuild it from what is really stored
            self._accounting = None
            raise StoreUnavailableError(f"{self.path}: write failed: {err}") from err
        return WriteOutcome(len(messages), duplicates, len(malformed))

    def _load_accounting(self) -> SequenceAccounting:
        acc = SequenceAccounting()
        n = 0
        for rig, stream, boot, seq, resend in self._db.execute(
                "SELECT rig, stream, boot, seq, resend FROM messages WHERE type != 'status'"
                " ORDER BY id"):
            acc.observe(rig, stream, boot, seq, bool(resend))
            n += 1
        for rig, stream, first, last in self._db.execute(
                "SELECT rig, stream, first_seq, last_seq FROM evicted"):
            acc.note_evicted(rig, stream, first, last)
        if n:
            log.info("%s: sequence accounting rebuilt from %d stored messages", self.path, n)
        return acc

    # ------------------------------------------------------------ reading

    async def rows(self, *, rig: str | None = None, stream: str | None = None,
                   type_: str | None = None) -> AsyncIterator[RecordedRow]:
        sql = f"SELECT {_ROW_COLUMNS} FROM messages WHERE 1=1"
        args: list[str] = []
        for column, value in (("rig", rig), ("stream", stream), ("type", type_)):
            if value is not None:
                sql += f" AND {column} = ?"
                args.append(value)
        cursor = await self._run(self._db.execute, sql + " ORDER BY id", args)
        try:
            while True:
                chunk = await self._run(cursor.fetchmany, _FETCH)
                if not chunk:
                    return
                for r in chunk:
                    yield RecordedRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]),
                                      bool(r[8]), bool(r[9]), r[10], r[11])
        finally:
            await self._run(cursor.close)

    async def rigs(self) -> list[str]:
        rows = await self._run(self._fetchall, "SELECT DISTINCT rig FROM messages ORDER BY rig")
        return [r[0] for r in rows]

    async def span(self) -> tuple[float | None, float | None, int]:
        first, last, count = (await self._run(
            self._fetchall,
            "SELECT MIN(received_at), MAX(received_at), COUNT(*) FROM messages"))[0]
        return first, last, count

    async def malformed_count(self) -> int:
        return (await self._run(self._fetchall, "SELECT COUNT(*) FROM malformed"))[0][0]

    async def evicted_ranges(self) -> list[tuple[str, str, int, int]]:
        return [tuple(r) for r in await self._run(  # type: ignore[misc]
            self._fetchall, "SELECT rig, stream, first_seq, last_seq FROM evicted")]

    async def summarize(self) -> StoreSummary:
        return await self._run(self._summarize)

    def _summarize(self) -> StoreSummary:
        builder = ReportBuilder()
        self.feed(builder)
        return builder.finish()

    def feed(self, builder: ReportBuilder) -> None:
        """Add this file's rows to *builder* (on the store's thread: ``summarize``)."""
        builder.malformed += self._db.execute("SELECT COUNT(*) FROM malformed").fetchone()[0]
        for rig, stream, first, last in self._db.execute(
                "SELECT rig, stream, first_seq, last_seq FROM evicted"):
            builder.add_evicted(rig, stream, first, last)
        for row in self._db.execute(
                "SELECT rig, stream, type, seq, received_at, t_rig, historical, resend"
                " FROM messages WHERE type != 'status' ORDER BY id"):
            builder.add_row(*row)

    def _fetchall(self, sql: str, *args: object) -> list[tuple]:
        return self._db.execute(sql, args).fetchall()

    # ------------------------------------------------------------ schema and retention

    async def schema_version(self) -> int:
        return await self._run(_version, self._db)

    async def retention_s(self) -> float | None:
        rows = await self._run(self._fetchall,
                               "SELECT value FROM settings WHERE key = 'retention_s'")
        return float(rows[0][0]) if rows else None

    async def set_retention_s(self, seconds: float | None) -> None:
        await self._run(self._set_retention, seconds)

    def _set_retention(self, seconds: float | None) -> None:
        with self._db:
            if seconds is None:
                self._db.execute("DELETE FROM settings WHERE key = 'retention_s'")
            else:
                self._db.execute("INSERT OR REPLACE INTO settings VALUES ('retention_s', ?)",
                                 (repr(float(seconds)),))

    async def prune(self, now: float) -> int:
        keep = await self.retention_s()
        if keep is None:
            return 0
        return await self._run(self._prune, now - keep)

    def _prune(self, cutoff: float) -> int:
        with self._db:
            n = self._db.execute("DELETE FROM messages WHERE received_at < ?",
                                 (cutoff,)).rowcount
            n += self._db.execute("DELETE FROM malformed WHERE received_at < ?",
                                  (cutoff,)).rowcount
            self._db.execute("DELETE FROM evicted WHERE noted_at < ?", (cutoff,))
        return n

    async def close(self) -> None:
        try:
            await self._run(self._close)
        finally:
            self._pool.shutdown(wait=True)

    def _close(self) -> None:
        self._db.commit()
        self._db.close()


def _connect(path: Path) -> sqlite3.Connection:
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        _migrate(db, path)
    except sqlite3.Error as err:
        raise StoreUnavailableError(f"{path}: cannot open the recording: {err}") from err
    return db


def _version(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT name FROM sqlite_master WHERE name = 'schema_migrations'"
                     ).fetchone()
    if row is None:
        return 0
    return db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()[0]


def _migrate(db: sqlite3.Connection, path: Path) -> None:
    with db:
        db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                   " description TEXT NOT NULL, applied_at REAL NOT NULL)")
    current = _version(db)
    known = migrations.SQLITE[-1].version
    if current > known:
        raise StoreSchemaError(current, known, str(path))
    for m in migrations.pending(current, migrations.SQLITE):
        # explicit BEGIN: Python's sqlite3 would commit each DDL statement on its own
        db.execute("BEGIN IMMEDIATE")
        try:
            if _version(db) >= m.version:  # another process migrated it meanwhile
                db.rollback()
                continue
            for statement in m.statements:
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                       (m.version, m.description, time.time()))
            db.commit()
        except BaseException:
            db.rollback()
            raise
        log.info("%s: schema migrated to version %d (%s)", path, m.version, m.description)
