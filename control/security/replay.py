"""Replay protection: a per-key sliding counter window, persisted in SQLite.

Theory of operation
-------------------
Each ground key has a ``ReplayWindow``: the highest counter accepted so far
and a bitmap of which of the ``size`` counters below it were accepted too (the
IPsec/DTLS anti-replay window, RFC 4303 section 3.4.3). A counter is

* new and ahead: accepted, the window slides forward;
* inside the window and not yet seen (a command overtaken in transit):
  accepted, its bit is set;
* inside the window and seen: ``replayed``;
* below the window: ``counter_too_old`` (reordered too far, or a replay of
  something older).

``ReplayWindow`` is a pure, frozen value; a ``ReplayStore`` keeps one per key.
The store also keeps the ground clock's floor (``control.security.ground_clock``):
the latest authenticated ground time, so a restarted rover never starts earlier.
``SqliteReplayStore`` commits every accepted counter with ``synchronous=FULL``
before the authenticator returns, so a rover restart (or power cut) never
forgets a counter it acted on. The authenticator writes only after the
signature verified and every other check passed: a forged message never
touches the store, so it can never lock a key out.
"""

from __future__ import annotations

import enum
import logging
import sqlite3
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 64


class ReplayVerdict(enum.StrEnum):
    """Why ``ReplayWindow.check`` refuses a counter."""

    REPLAYED = "replayed"  # inside the window and already accepted
    TOO_OLD = "too_old"  # below the window


@dataclass(frozen=True, slots=True)
class ReplayWindow:
    highest: int = 0  # 0: nothing accepted yet (counters start at 1)
    bitmap: int = 0  # bit i set: counter ``highest - i`` was accepted (bit 0 = highest)
    size: int = DEFAULT_WINDOW

    def check(self, counter: int) -> ReplayVerdict | None:
        """``None`` if ``counter`` may be accepted, else why not."""
        if counter > self.highest:
            return None
        offset = self.highest - counter
        if offset >= self.size:
            return ReplayVerdict.TOO_OLD
        return ReplayVerdict.REPLAYED if self.bitmap >> offset & 1 else None

    def accept(self, counter: int) -> ReplayWindow:
        """The window after accepting ``counter`` (which ``check`` allowed)."""
        mask = (1 << self.size) - 1
        if counter > self.highest:
            shift = counter - self.highest
            bitmap = ((self.bitmap << shift) | 1) & mask if shift < self.size else 1
            return replace(self, highest=counter, bitmap=bitmap)
        return replace(self, bitmap=self.bitmap | (1 << (self.highest - counter)))


class ReplayStore(Protocol):
    def load(self, key_id: str) -> ReplayWindow:
        """The window of ``key_id`` (an empty one if never seen)."""
        ...

    def save(self, key_id: str, window: ReplayWindow, now: float) -> None:
        """Persist durably before returning; raises ``OSError``/``sqlite3.Error`` on failure."""
        ...

    def load_floor(self) -> float | None:
        """The persisted lower bound of the ground's clock (``ground_clock``), if any."""
        ...

    def save_floor(self, ground_time: float) -> None:
        """Persist a later lower bound of the ground's clock (same errors as ``save``)."""
        ...


class MemoryReplayStore:
    """Volatile store for tests and the demo (forgets everything at exit)."""

    def __init__(self, window_size: int = DEFAULT_WINDOW) -> None:
        self.window_size = window_size
        self._windows: dict[str, ReplayWindow] = {}
        self._floor: float | None = None

    def load(self, key_id: str) -> ReplayWindow:
        return self._windows.get(key_id, ReplayWindow(size=self.window_size))

    def save(self, key_id: str, window: ReplayWindow, now: float) -> None:
        self._windows[key_id] = window

    def load_floor(self) -> float | None:
        return self._floor

    def save_floor(self, ground_time: float) -> None:
        self._floor = ground_time if self._floor is None else max(self._floor, ground_time)


class SqliteReplayStore:
    """One row per key: highest counter, window bitmap (hex), last update time.

    The database is opened in WAL mode with ``synchronous=FULL``: ``save``
    returns only once the row is on disk. Safe to use from one thread at a time
    (a lock guards the connection)."""

    _SCHEMA = """CREATE TABLE IF NOT EXISTS replay_window (
        key_id TEXT PRIMARY KEY, highest INTEGER NOT NULL, bitmap TEXT NOT NULL,
        size INTEGER NOT NULL, updated_at REAL NOT NULL)"""
    # one row: the latest authenticated ground time (the ground clock's floor)
    _CLOCK = """CREATE TABLE IF NOT EXISTS ground_clock (
        id INTEGER PRIMARY KEY CHECK (id = 1), floor REAL NOT NULL)"""

    def __init__(self, path: str | Path, window_size: int = DEFAULT_WINDOW) -> None:
        self.path = Path(path)
        self.window_size = window_size
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(self._SCHEMA)
        self._db.execute(self._CLOCK)

    def load(self, key_id: str) -> ReplayWindow:
        with self._lock:
            row = self._db.execute("SELECT highest, bitmap, size FROM replay_window "
                                   "WHERE key_id = ?", (key_id,)).fetchone()
        if row is None:
            return ReplayWindow(size=self.window_size)
        highest, bitmap, size = int(row[0]), int(row[1], 16), int(row[2])
        if size != self.window_size:  # window resized in config: keep only what still fits
            bitmap &= (1 << self.window_size) - 1
        return ReplayWindow(highest, bitmap, self.window_size)

    def save(self, key_id: str, window: ReplayWindow, now: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO replay_window (key_id, highest, bitmap, size, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(key_id) DO UPDATE SET "
                "highest = excluded.highest, bitmap = excluded.bitmap, size = excluded.size, "
                "updated_at = excluded.updated_at",
                (key_id, window.highest, format(window.bitmap, "x"), window.size, now))

    def load_floor(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT floor FROM ground_clock WHERE id = 1").fetchone()
        return None if row is None else float(row[0])

    def save_floor(self, ground_time: float) -> None:
        with self._lock:
            self._db.execute("INSERT INTO ground_clock (id, floor) VALUES (1, ?) ON CONFLICT(id) "
                             "DO UPDATE SET floor = max(floor, excluded.floor)", (ground_time,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


__all__ = [
    "DEFAULT_WINDOW",
    "MemoryReplayStore",
    "ReplayStore",
    "ReplayVerdict",
    "ReplayWindow",
    "SqliteReplayStore",
]
