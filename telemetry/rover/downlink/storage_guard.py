"""What the outbox keeps when its disk refuses to grow (full, read-only): the rules, sans-I/O.

Theory of operation (docs/telemetry.md, "When the disk is full or read-only"):

* The outbox's budget is derived from its filesystem: at open and every
  ``SPACE_CHECK_S`` while running, ``budget = min(configured, used + free - floor)``
  (``free_space_floor_bytes`` is left to everything else on the card), never
  below ``MIN_BUDGET_BYTES`` (unless configured smaller). Over the budget the
  outbox evicts batches, then stats, as always (``outbox_evicted`` events).
* If a write fails anyway (``OutboxStorageError``: ``ENOSPC``, ``EROFS``, ``EIO``),
  the outbox does not stop: it *enters storage-full mode*. The unwritten changes stay
  in memory, with every message stored from then on; a message is fetchable at once
  (live messages go straight to the broker when it is connected, store-and-forward
  is suspended) and leaves memory when the broker acknowledges it.
* Memory is bounded by ``memory_bytes`` with a ladder: a newcomer is admitted while
  the unwritten bytes stay below its priority's share (batches 50 %, stats 70 %,
  state 85 %); events, acks and ledger entries (``CRITICAL``) always are (their
  reserved room: the top 15 %, and beyond it rather than lose them). A refused
  newcomer is dropped: its sequence number is consumed (the ground counts the gap)
  and it is recorded here, by stream, as contiguous ranges.
* The outbox retries the disk every ``RETRY_S``; the first write that succeeds ends
  storage-full mode (everything unwritten goes to disk in that transaction).
* ``take_drops`` hands the drops recorded since the last call to the reporter (the
  facade's ``storage_full`` events), so the events' counts add up to exactly the
  messages dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telemetry.contract.topics import Priority
from telemetry.rover.downlink.outbox_records import EvictedRange

__all__ = ["MIN_BUDGET_BYTES", "RETRY_S", "SPACE_CHECK_S", "StorageGuard"]

RETRY_S = 1.0  # storage-full mode: try the disk again this often
SPACE_CHECK_S = 5.0  # re-derive the budget from the free space this often
MIN_BUDGET_BYTES = 64 * 1024
_SHARE = {Priority.BATCH: 0.5, Priority.STATS: 0.7, Priority.STATE: 0.85}


@dataclass(slots=True)
class StorageGuard:
    configured_budget: int
    memory_bytes: int = 16 << 20
    floor_bytes: int = 0
    errno: str | None = None
    error_text: str = ""
    dropped: int = 0
    dropped_by_priority: dict[Priority, int] = field(default_factory=dict)
    _ranges: dict[str, list[int]] = field(default_factory=dict)  # stream -> [first, last, n]
    _order: list[EvictedRange] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.errno is not None

    def budget(self, used_bytes: int, free_bytes: int | None) -> int:
        """The budget for ``used_bytes`` stored and ``free_bytes`` free on the filesystem."""
        if free_bytes is None:
            return self.configured_budget
        room = used_bytes + free_bytes - self.floor_bytes
        return min(self.configured_budget, max(MIN_BUDGET_BYTES, room))

    def enter(self, errno_name: str, text: str) -> bool:
        """The disk refused a write; True if that starts storage-full mode."""
        first = self.errno is None
        self.errno, self.error_text = errno_name, text
        return first

    def leave(self) -> None:
        self.errno, self.error_text = None, ""

    def admits(self, priority: Priority, unwritten_bytes: int, size: int) -> bool:
        """Whether a newcomer of ``priority`` and ``size`` bytes may join the unwritten."""
        share = _SHARE.get(priority)
        return share is None or unwritten_bytes + size <= share * self.memory_bytes

    def note_drop(self, priority: Priority, stream: str, seq: int) -> None:
        self.dropped += 1
        self.dropped_by_priority[priority] = self.dropped_by_priority.get(priority, 0) + 1
        r = self._ranges.get(stream)
        if r is not None and seq == r[1] + 1:
            r[1], r[2] = seq, r[2] + 1
            return
        if r is not None:
            self._order.append(EvictedRange(stream, r[0], r[1], r[2]))
        self._ranges[stream] = [seq, seq, 1]

    def take_drops(self) -> tuple[EvictedRange, ...]:
        """The drops since the last call, as ranges per stream."""
        out = [*self._order, *(EvictedRange(s, a, b, n) for s, (a, b, n) in
                               self._ranges.items())]
        self._order.clear()
        self._ranges.clear()
        return tuple(out)
