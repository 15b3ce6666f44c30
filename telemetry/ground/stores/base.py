"""What every recording store offers: the rows it takes and gives back, and its interface.

A *store* keeps what ``rig-ground record`` received: every well-formed message with
its raw payload (duplicates included, flagged), the malformed ones with a reason,
and the sequence ranges rigs reported evicted from their outboxes. Two
implementations, chosen by URL (``open_store``): SQLite, one file per recorder
(the embedded default), and PostgreSQL, one database shared by many recorders.

Rules every implementation keeps:

* ``write(batch)`` stores a whole batch in one transaction and returns only once it
  is committed; a batch that raises was not stored (the caller may retry it).
* The *store* decides which messages are duplicates: the first stored sighting of
  ``(rig, stream, seq)`` is unique, later ones are flagged ``duplicate``. For
  PostgreSQL this is decided in the database, so it holds across recorders.
* Status messages are not sequence-accounted (never duplicates).
* All calls are coroutines; blocking drivers run off the event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from telemetry.contract import TopicKind

if TYPE_CHECKING:
    from telemetry.ground.summary import StoreSummary

__all__ = [
    "EvictedRange",
    "MalformedRow",
    "MessageRow",
    "RecordedRow",
    "RecordingStore",
    "WriteItem",
    "WriteOutcome",
]


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One well-formed message to store."""

    rig: str
    stream: str
    type: str
    boot: int
    seq: int
    topic: str
    received_at: float
    t_rig: float
    t_mono: float
    historical: bool
    resend: bool
    payload: bytes

    @property
    def accounted(self) -> bool:
        return self.type != TopicKind.STATUS


@dataclass(frozen=True, slots=True)
class MalformedRow:
    topic: str
    received_at: float
    reason: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class EvictedRange:
    """A rig reported ``first_seq..last_seq`` of ``stream`` dropped from its outbox."""

    rig: str
    stream: str
    first_seq: int
    last_seq: int
    count: int
    noted_at: float


WriteItem = MessageRow | MalformedRow | EvictedRange


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    messages: int = 0
    duplicates: int = 0
    malformed: int = 0


@dataclass(frozen=True, slots=True)
class RecordedRow:
    """One stored message as readers see it."""

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
    stored_at: float | None = None


class RecordingStore(Protocol):
    """The interface of a recording store (SQLite or PostgreSQL)."""

    #: where the store is, for messages (a path or a URL without its password)
    location: str

    async def write(self, batch: Sequence[WriteItem]) -> WriteOutcome:
        """Store *batch* in one committed transaction."""
        ...

    def rows(self, *, rig: str | None = None, stream: str | None = None,
             type_: str | None = None) -> AsyncIterator[RecordedRow]:
        """Stored messages in storage order, optionally narrowed."""
        ...

    async def rigs(self) -> list[str]:
        ...

    async def span(self) -> tuple[float | None, float | None, int]:
        """(first, last receive time, message count): what a replay needs for progress."""
        ...

    async def malformed_count(self) -> int:
        ...

    async def evicted_ranges(self) -> list[tuple[str, str, int, int]]:
        """``(rig, stream, first_seq, last_seq)`` of every reported eviction."""
        ...

    async def summarize(self) -> StoreSummary:
        """Per-stream counts, gaps and latency of everything stored (``report``)."""
        ...

    async def schema_version(self) -> int:
        ...

    async def retention_s(self) -> float | None:
        """How long rows are kept (``None``: forever); a setting stored in the store."""
        ...

    async def set_retention_s(self, seconds: float | None) -> None:
        ...

    async def prune(self, now: float) -> int:
        """Delete rows received before ``now - retention``; returns how many."""
        ...

    async def close(self) -> None:
        ...
