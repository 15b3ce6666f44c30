"""The recording file written by ``rig-ground record`` and read by ``report``/``plot``.

One SQLite file (WAL). ``messages`` keeps every well-formed message received,
duplicates included (``duplicate`` = 1), with its raw payload so nothing is lost
to a decoding choice; ``malformed`` keeps what could not be used and why;
``evicted`` keeps the ranges the rig said it dropped from its outbox. Writes
are committed in groups (every 500 messages or 0.25 s of the caller's clock).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from telemetry.ground.intake import Malformed, Sighting

__all__ = ["RecordedRow", "RecordingStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    rig TEXT NOT NULL, stream TEXT NOT NULL, type TEXT NOT NULL,
    boot INTEGER NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL,
    received_at REAL NOT NULL, t_rig REAL NOT NULL, t_mono REAL NOT NULL,
    historical INTEGER NOT NULL, resend INTEGER NOT NULL, duplicate INTEGER NOT NULL,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_stream ON messages (rig, stream, seq);
CREATE TABLE IF NOT EXISTS malformed (
    id INTEGER PRIMARY KEY, topic TEXT NOT NULL, received_at REAL NOT NULL,
    reason TEXT NOT NULL, payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS evicted (
    rig TEXT NOT NULL, stream TEXT NOT NULL, first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL, count INTEGER NOT NULL
);
"""
_COMMIT_EVERY = 500
_COMMIT_S = 0.25


@dataclass(frozen=True, slots=True)
class RecordedRow:
    rig: str
    stream: str
    type: str
    boot: int
    seq: int
    received_at: float
    t_rig: float
    historical: bool
    resend: bool
    duplicate: bool
    payload: bytes


class RecordingStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._pending = 0
        self._last_commit = 0.0

    def add(self, s: Sighting, received_at: float, duplicate: bool) -> None:
        e = s.message.envelope
        self._db.execute(
            "INSERT INTO messages (rig, stream, type, boot, seq, topic, received_at, t_rig,"
            " t_mono, historical, resend, duplicate, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (s.rig, s.stream, type(s.message).__name__.removesuffix("Message").lower(), e.boot,
             e.seq, s.topic, received_at, e.t_rig, e.t_mono, e.historical, e.resend, duplicate,
             s.payload))
        self._tick(received_at)

    def add_malformed(self, m: Malformed, received_at: float) -> None:
        self._db.execute("INSERT INTO malformed (topic, received_at, reason, payload)"
                         " VALUES (?,?,?,?)", (m.topic, received_at, m.reason, m.payload[:4096]))
        self._tick(received_at)

    def add_evicted(self, rig: str, stream: str, first: int, last: int, count: int) -> None:
        self._db.execute("INSERT INTO evicted VALUES (?,?,?,?,?)", (rig, stream, first, last,
                                                                    count))

    def _tick(self, now: float) -> None:
        self._pending += 1
        if self._pending >= _COMMIT_EVERY or now - self._last_commit >= _COMMIT_S:
            self.commit(now)

    def commit(self, now: float = 0.0) -> None:
        self._db.commit()
        self._pending = 0
        self._last_commit = now

    def close(self) -> None:
        self._db.commit()
        self._db.close()

    # ------------------------------------------------------------ reading

    def rows(self, stream: str | None = None, type_: str | None = None) -> Iterator[RecordedRow]:
        sql = ("SELECT rig, stream, type, boot, seq, received_at, t_rig, historical, resend,"
               " duplicate, payload FROM messages WHERE 1=1")
        args: list[str] = []
        if stream is not None:
            sql += " AND stream = ?"
            args.append(stream)
        if type_ is not None:
            sql += " AND type = ?"
            args.append(type_)
        for r in self._db.execute(sql + " ORDER BY id", args):
            yield RecordedRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), bool(r[8]),
                              bool(r[9]), r[10])

    def span(self) -> tuple[float | None, float | None, int]:
        """(first, last receive time, message count): what a replay needs to show progress."""
        first, last, count = self._db.execute(
            "SELECT MIN(received_at), MAX(received_at), COUNT(*) FROM messages").fetchone()
        return first, last, count

    def malformed_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM malformed").fetchone()[0]

    def evicted_ranges(self) -> list[tuple[str, str, int, int]]:
        return list(self._db.execute("SELECT rig, stream, first_seq, last_seq FROM evicted"))
