"""Schema of the recording stores, as numbered migrations (one list per database).

A store records the migrations applied to it in ``schema_migrations`` (version,
description, time). Opening a store applies the missing ones in order, in one
transaction each; a store at a version above the last one here is refused
(``StoreSchemaError``): it was written by a newer rig-ground. Migrations are
append-only: never edit one that has shipped, add the next number.

SQLite version 1 is the schema of recordings made before migrations existed (its
statements are ``IF NOT EXISTS``, so such a file simply adopts version 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["POSTGRES", "SQLITE", "Migration", "pending"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


SQLITE: tuple[Migration, ...] = (
    Migration(1, "recording tables", (
        """CREATE TABLE IF NOT EXISTS messages (
            id INTEGER PRIMARY KEY,
            rig TEXT NOT NULL, stream TEXT NOT NULL, type TEXT NOT NULL,
            boot INTEGER NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL,
            received_at REAL NOT NULL, t_rig REAL NOT NULL, t_mono REAL NOT NULL,
            historical INTEGER NOT NULL, resend INTEGER NOT NULL,
            duplicate INTEGER NOT NULL, payload BLOB NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS messages_stream ON messages (rig, stream, seq)",
        """CREATE TABLE IF NOT EXISTS malformed (
            id INTEGER PRIMARY KEY, topic TEXT NOT NULL, received_at REAL NOT NULL,
            reason TEXT NOT NULL, payload BLOB NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS evicted (
            rig TEXT NOT NULL, stream TEXT NOT NULL, first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL, count INTEGER NOT NULL)""",
    )),
    Migration(2, "commit time, retention setting and index", (
        "ALTER TABLE messages ADD COLUMN stored_at REAL",
        "ALTER TABLE evicted ADD COLUMN noted_at REAL",
        "CREATE INDEX messages_received ON messages (received_at)",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )),
)

POSTGRES: tuple[Migration, ...] = (
    Migration(1, "recording tables for a fleet", (
        """CREATE TABLE messages (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            rig TEXT NOT NULL, stream TEXT NOT NULL, type TEXT NOT NULL,
            boot BIGINT NOT NULL, seq BIGINT NOT NULL, topic TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL, t_rig DOUBLE PRECISION NOT NULL,
            t_mono DOUBLE PRECISION NOT NULL, historical BOOLEAN NOT NULL,
            resend BOOLEAN NOT NULL, duplicate BOOLEAN NOT NULL,
            stored_at DOUBLE PRECISION, recorder TEXT, payload BYTEA NOT NULL)""",
        "CREATE INDEX messages_stream ON messages (rig, stream, seq)",
        "CREATE INDEX messages_received ON messages (received_at)",
        # The first stored sighting of each number: the arbiter of duplicates across
        # recorders (an INSERT ... ON CONFLICT on its key decides, inside the database).
        """CREATE TABLE sequence_seen (
            rig TEXT NOT NULL, stream TEXT NOT NULL, seq BIGINT NOT NULL,
            boot BIGINT NOT NULL, received_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (rig, stream, seq))""",
        "CREATE INDEX sequence_seen_received ON sequence_seen (received_at)",
        """CREATE TABLE malformed (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, topic TEXT NOT NULL,
            received_at DOUBLE PRECISION NOT NULL, reason TEXT NOT NULL,
            payload BYTEA NOT NULL)""",
        """CREATE TABLE evicted (
            rig TEXT NOT NULL, stream TEXT NOT NULL, first_seq BIGINT NOT NULL,
            last_seq BIGINT NOT NULL, count BIGINT NOT NULL,
            noted_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (rig, stream, first_seq, last_seq))""",
        "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )),
)


def pending(current: int, migrations: Sequence[Migration]) -> list[Migration]:
    """Migrations above *current*, in order (the caller refuses ``current`` > last)."""
    return [m for m in migrations if m.version > current]
