"""The mission's durable record on the rover: an SQLite file, written off the loop.

Theory of operation
-------------------
``MissionStore`` (synchronous, one thread at a time) keeps one row per
mission: its id, the plan's hash and name, when it began and ended (wall
clock), and its latest ``MissionRecord`` (``control.core.mission_record``) as
JSON. At most one row has no end: the active mission. ``commit(record)``
updates (or begins) the active row in one transaction with
``synchronous=FULL``: a record ``commit`` returned is on disk, and a ``kill -9``
or a power cut leaves either the previous record or the new one, never a mix.
When a record of another mission arrives (a new plan, ``new_mission``), the
active row is ended and the new one begins in the same transaction: the old
mission's progress stays as history (``history()``, ``rig-control missions``).

``MissionJournal`` is the asyncio side: ``save(record)`` hands the record to a
worker thread and returns at once (the control loop never waits for the disk);
records are written in order, and one that equals the last written is skipped.
With a ledger, the app passes the ledger writer's ``after_booked`` as the
executor, so a record that counts a dump is written after that dump's ledger
entry. ``close()`` waits for every record handed over.

Errors: ``MissionStoreError`` (a ``ControlError``) names the path; a failed
``save`` is logged (the mission goes on, the next record retries).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import ControlError
from ..core.mission import MissionPlan, plan_identity
from ..core.mission_record import (
    MissionRecord,
    MissionRecordError,
    Resume,
    reconcile,
    tally_ledger,
)
from .ledger_writer import LedgerBook

log = logging.getLogger(__name__)

__all__ = ["MissionJournal", "MissionStore", "MissionStoreError", "read_resume"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS missions (
    mission_id TEXT PRIMARY KEY,
    plan_hash TEXT NOT NULL,
    plan_name TEXT NOT NULL,
    began_wall REAL NOT NULL,
    ended_wall REAL,
    record TEXT NOT NULL
)
"""


class MissionStoreError(ControlError):
    """The mission store cannot be read or written; ``path`` names the file."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"mission store {path}: {problem}")


class MissionStore:
    def __init__(self, path: str | Path, wall_clock: Callable[[], float]) -> None:
        """Open (creating if needed); raises ``MissionStoreError``."""
        self.path = str(path)
        self._clock = wall_clock
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as err:
            raise MissionStoreError(self.path, f"cannot open: {err}") from err

    def active(self) -> MissionRecord | None:
        """The record of the mission that has not ended, or None. A record that cannot
        be read is reported and ended (the mission then begins anew: the ledger keeps
        what was dumped)."""
        row = self._one("SELECT mission_id, record FROM missions WHERE ended_wall IS NULL "
                        "ORDER BY began_wall DESC LIMIT 1")
        if row is None:
            return None
        try:
            return MissionRecord.from_json(row[1])
        except MissionRecordError as err:
            log.error("mission store %s: the record of %s is unreadable (%s); it is ended",
                      self.path, row[0], err)
            self._write("UPDATE missions SET ended_wall = ? WHERE mission_id = ?",
                        (self._clock(), row[0]))
            return None

    def commit(self, record: MissionRecord) -> None:
        """Write *record* as the active mission's (ending another active one)."""
        now = self._clock()
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute("UPDATE missions SET ended_wall = ? WHERE ended_wall IS NULL "
                                 "AND mission_id != ?", (now, record.mission_id))
                self._db.execute(
                    "INSERT INTO missions (mission_id, plan_hash, plan_name, began_wall, "
                    "record) VALUES (?, ?, ?, ?, ?) ON CONFLICT(mission_id) DO UPDATE SET "
                    "record = excluded.record, ended_wall = NULL",
                    (record.mission_id, record.plan_hash, record.plan_name, now,
                     record.to_json()))
        except sqlite3.Error as err:
            raise MissionStoreError(self.path, f"cannot write {record.mission_id}: {err}") \
                from err

    def history(self) -> list[tuple[float, float | None, MissionRecord]]:
        """Every mission, oldest first: (began, ended or None, last record)."""
        try:
            rows = self._db.execute("SELECT began_wall, ended_wall, record FROM missions "
                                    "ORDER BY began_wall").fetchall()
        except sqlite3.Error as err:
            raise MissionStoreError(self.path, f"cannot read: {err}") from err
        return [(b, e, MissionRecord.from_json(r)) for b, e, r in rows]

    def close(self) -> None:
        self._db.close()

    def _one(self, sql: str) -> Any:
        try:
            return self._db.execute(sql).fetchone()
        except sqlite3.Error as err:
            raise MissionStoreError(self.path, f"cannot read: {err}") from err

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        try:
            self._db.execute(sql, args)
        except sqlite3.Error as err:
            raise MissionStoreError(self.path, f"cannot write: {err}") from err


#: runs a function on the thread that writes (the ledger's, or the journal's own)
Executor = Callable[[Callable[[], None]], "asyncio.Future[None]"]


class MissionJournal:
    def __init__(self, store: MissionStore, executor: Executor | None = None) -> None:
        self.store = store
        self.failures = 0
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor = executor or self._own_thread
        self._last: MissionRecord | None = None
        self._inflight: set[asyncio.Future[None]] = set()

    def _own_thread(self, fn: Callable[[], None]) -> asyncio.Future[None]:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="mission-store")
        return asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def save(self, record: MissionRecord | None) -> None:
        """Hand *record* to the writer thread (no wait); the same record twice is
        written once."""
        if record is None or record == self._last:
            return
        self._last = record
        fut = self._executor(lambda: self.store.commit(record))
        self._inflight.add(fut)
        fut.add_done_callback(self._written)

    def _written(self, fut: asyncio.Future[None]) -> None:
        self._inflight.discard(fut)
        if fut.cancelled():
            return
        err = fut.exception()
        if err is not None:
            self.failures += 1
            self._last = None  # the next save writes again
            log.error("mission record not stored: %s", err)

    async def close(self) -> None:
        """Wait for every record handed over, then stop the worker."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def read_resume(plan: MissionPlan, store: MissionStore | None,
                ledger: LedgerBook | None) -> tuple[Resume, str]:
    """At start (file I/O: run it off the loop): the stored record of the active
    mission and the ledger's entries since it began, reconciled
    (``control.core.mission_record.reconcile``); returns it with the plan's hash."""
    plan_hash = plan_identity(plan)
    record = store.active() if store is not None else None
    count = int(getattr(ledger, "count", 0)) if ledger is not None else 0
    tally = None
    if ledger is not None and record is not None and record.plan_hash == plan_hash:
        tally = tally_ledger(ledger.records_from(record.ledger_start))
    resume = reconcile(plan, plan_hash, record, tally, count)
    for note in resume.notes:
        log.warning("mission %s: %s", record.mission_id if record else "?", note)
    if resume.replaced is not None:
        log.warning("mission %s (plan %s) is history: the plan changed (now %s); mission %s "
                    "begins", resume.replaced.mission_id, resume.replaced.plan_hash[:12],
                    plan_hash[:12], resume.progress.mission_id)
    return resume, plan_hash
