"""What the outbox, its store and its callers hand each other (plain records).

``OutboxRow`` (a stored message as the publisher sends it), ``IndexEntry`` (what
the outbox keeps in memory about a row), ``DeadLetter``, ``Recovered`` (what an
opened store found), ``Changes`` (one transaction for the store), and the
receipts of ``Outbox.append``: ``Stored`` with its ``EvictionReport``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from telemetry.contract.topics import Priority

__all__ = [
    "Changes",
    "DeadLetter",
    "EvictedRange",
    "EvictionReport",
    "IndexEntry",
    "OutboxRow",
    "Recovered",
    "Stored",
]


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


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """What the outbox keeps in memory about a stored row (no payload)."""

    id: int
    priority: Priority
    stream: str
    seq: int
    size: int  # payload bytes


@dataclass(frozen=True, slots=True)
class Recovered:
    """The state an opened store found on disk."""

    boot: int
    next_seq: dict[str, int]
    next_id: int
    watermarks: dict[Priority, int]  # handed out up to this id (reserved ahead)
    rows: list[IndexEntry]  # every stored row, in id order
    lost: list[IndexEntry]  # rows whose bytes a power cut may have lost (deleted)
    dead_letters: int  # rows in the dead-letter table


@dataclass(slots=True)
class Changes:
    """One transaction: rows to store, ids to delete, counters to persist."""

    inserts: dict[int, OutboxRow] = field(default_factory=dict)
    deletes: list[tuple[int, Priority]] = field(default_factory=list)
    next_seq: dict[str, int] = field(default_factory=dict)
    meta: dict[str, int] = field(default_factory=dict)
    sync: bool = False  # fsync before the commit returns (durable against power loss)
    payload_bytes: int = 0  # of the inserts
    # rows to move to the dead-letter table: (id, priority, reason code, reason, boot)
    dead: list[tuple[int, Priority, int, str, int]] = field(default_factory=list)
    dead_letter_max_rows: int = 0  # bound the dead-letter table to this (0: untouched)

    def insert(self, row: OutboxRow) -> None:
        self.inserts[row.id] = row
        self.payload_bytes += len(row.payload)

    def delete(self, row_id: int, priority: Priority) -> None:
        # A row deleted before it ever reached the disk is simply never written.
        row = self.inserts.pop(row_id, None)
        if row is None:
            self.deletes.append((row_id, priority))
        else:
            self.payload_bytes -= len(row.payload)

    def drop_deleted_inserts(self) -> None:
        """Never write a row this transaction also deletes. ``absorb`` appends in order,
        but a storage-full outbox merges a failed turn with changes that include an
        older failed turn: a row that turn inserted and a newer one deleted (evicted)
        must not come back."""
        for row_id, _ in self.deletes:
            row = self.inserts.pop(row_id, None)
            if row is not None:
                self.payload_bytes -= len(row.payload)

    def raise_next_seq(self, stream: str, value: int) -> None:
        self.next_seq[stream] = max(self.next_seq.get(stream, 0), value)

    def absorb(self, later: Changes) -> None:
        """Append ``later`` (applied after this one) to this transaction. A row in both
        (a storage-full outbox retrying what it holds) is counted once."""
        for row_id in later.inserts.keys() & self.inserts.keys():
            self.payload_bytes -= len(self.inserts[row_id].payload)
        self.inserts.update(later.inserts)
        self.payload_bytes += later.payload_bytes
        for row_id, priority in later.deletes:
            self.delete(row_id, priority)
        for stream, value in later.next_seq.items():
            self.raise_next_seq(stream, value)
        self.meta.update(later.meta)
        self.sync = self.sync or later.sync
        self.dead.extend(later.dead)
        self.dead_letter_max_rows = max(self.dead_letter_max_rows, later.dead_letter_max_rows)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.deletes or self.next_seq or self.meta or self.sync
                    or self.dead)


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
    reason: str = "disk budget reached"

    @property
    def count(self) -> int:
        return sum(r.count for r in self.ranges)


@dataclass(frozen=True, slots=True)
class Stored:
    """Receipt of ``append``: the message is stored under (stream, seq).

    ``await receipt`` returns once it is on disk with its tier's durability (see the
    module docstring); at once in synchronous use, where ``append`` already wrote it.
    """

    stream: str
    seq: int
    stored: bool  # False if the message was dropped to respect the disk budget
    eviction: EvictionReport | None = None
    durable: asyncio.Future[Any] | None = field(default=None, compare=False, repr=False)

    def __await__(self) -> Generator[Any, None, None]:
        if self.durable is not None:
            yield from asyncio.shield(self.durable).__await__()
