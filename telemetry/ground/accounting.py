"""Per-stream sequence accounting for ground tools (sans-I/O).

Each (rig, stream) is one sequence: numbers are assigned on board, persist across
reboots and are never reused, so the ground keys on (rig, stream, seq) and reads
``boot`` only to spot an on-board store that was wiped (numbers restart lower in
a newer boot: a *reset*, counted, and the stream starts over).

Verdicts: ``new`` (first sighting, in order), ``late`` (first sighting of a number
previously counted missing), ``duplicate`` (seen before; ``resend`` says whether
the rig flagged it), ``untracked`` (a stream beyond ``max_streams``: not counted,
see below). ``missing`` counts numbers skipped and not seen since; numbers the
rig reported as evicted from its outbox count as ``evicted``, not missing.

Bounded, whatever arrives: batches are unsigned, so any client of the broker can
publish one with any stream name and any sequence number. The work per message
does not grow with the jump in numbers (a batch numbered 10**18 costs what a
batch numbered 7 costs); at most ``max_tracked_missing`` missing numbers per
stream are remembered individually, beyond that they are only counted; the
evicted numbers are kept as at most ``max_evicted_ranges`` ranges per stream
(the oldest go first); and at most ``max_streams`` streams are tracked: the
messages of any further stream are ``untracked`` and counted in
``untracked_messages``.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SequenceAccounting", "StreamStats", "Verdict"]

Verdict = Literal["new", "late", "duplicate", "untracked"]


@dataclass(slots=True)
class StreamStats:
    received: int = 0
    unique: int = 0
    duplicates: int = 0
    resent_duplicates: int = 0
    late: int = 0
    resets: int = 0
    first_seq: int | None = None
    highest: int = -1
    boot: int = -1
    missing: set[int] = field(default_factory=set)
    untracked_missing: int = 0
    # the evicted numbers: disjoint, sorted, inclusive (first, last) ranges
    evicted_ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def gaps(self) -> int:
        return len(self.missing) + self.untracked_missing

    def not_evicted(self, lo: int, hi: int) -> Iterator[range]:
        """The parts of ``range(lo, hi)`` not reported evicted, in order."""
        at = lo
        start = max(0, bisect.bisect_right(self.evicted_ranges, (lo, float("inf"))) - 1)
        for first, last in self.evicted_ranges[start:]:
            if first >= hi:
                break
            if last < at:
                continue
            if first > at:
                yield range(at, first)
            at = last + 1
        if at < hi:
            yield range(at, hi)


class SequenceAccounting:
    def __init__(self, max_tracked_missing: int = 100_000, max_streams: int = 4096,
                 max_evicted_ranges: int = 4096) -> None:
        self.streams: dict[tuple[str, str], StreamStats] = {}
        self.malformed = 0
        self.untracked_messages = 0
        self._max_missing = max_tracked_missing
        self._max_streams = max_streams
        self._max_ranges = max_evicted_ranges

    def _stream(self, rig: str, stream: str) -> StreamStats | None:
        s = self.streams.get((rig, stream))
        if s is None and len(self.streams) < self._max_streams:
            s = self.streams[(rig, stream)] = StreamStats()
        return s

    def observe(self, rig: str, stream: str, boot: int, seq: int, resend: bool) -> Verdict:
        s = self._stream(rig, stream)
        if s is None:
            self.untracked_messages += 1
            return "untracked"
        if s.first_seq is not None and boot > s.boot and seq <= s.highest \
                and seq not in s.missing:
            s.resets += 1
            self.streams[(rig, stream)] = fresh = StreamStats(resets=s.resets)
            s = fresh
        s.received += 1
        s.boot = max(s.boot, boot)
        if s.first_seq is None:
            s.first_seq, s.highest, s.unique = seq, seq, 1
            return "new"
        if seq > s.highest:
            self._skipped(s, s.highest + 1, seq)
            s.highest = seq
            s.unique += 1
            return "new"
        if seq in s.missing:
            s.missing.discard(seq)
            s.late += 1
            s.unique += 1
            return "late"
        if seq < s.first_seq:  # older than anything seen: a backlog we joined late
            self._skipped(s, seq + 1, s.first_seq)
            s.first_seq = seq
            s.unique += 1
            return "late"
        s.duplicates += 1
        s.resent_duplicates += resend
        return "duplicate"

    def _skipped(self, s: StreamStats, lo: int, hi: int) -> None:
        """``range(lo, hi)`` was skipped: each number not evicted is missing (the first
        ones remembered while there is room, the rest counted)."""
        for part in s.not_evicted(lo, hi):
            room = max(0, self._max_missing - len(s.missing))
            kept = part[:room]
            s.missing.update(kept)
            s.untracked_missing += len(part) - len(kept)

    def note_evicted(self, rig: str, stream: str, first_seq: int, last_seq: int) -> None:
        """The rig reported (stream, first..last) evicted from its outbox."""
        if last_seq < first_seq:
            return
        s = self._stream(rig, stream)
        if s is None:
            self.untracked_messages += 1
            return
        if len(s.missing) <= last_seq - first_seq:
            s.missing = {n for n in s.missing if not first_seq <= n <= last_seq}
        else:
            s.missing.difference_update(range(first_seq, last_seq + 1))
        ranges = s.evicted_ranges
        lo = bisect.bisect_left(ranges, (first_seq, -1))
        if lo > 0 and ranges[lo - 1][1] >= first_seq - 1:  # overlaps or touches the one before
            lo -= 1
        hi = lo
        first, last = first_seq, last_seq
        while hi < len(ranges) and ranges[hi][0] <= last_seq + 1:
            first, last = min(first, ranges[hi][0]), max(last, ranges[hi][1])
            hi += 1
        ranges[lo:hi] = [(first, last)]
        if len(ranges) > self._max_ranges:
            del ranges[:len(ranges) - self._max_ranges]  # the oldest numbers go first

    def totals(self) -> dict[str, int]:
        out = {"received": 0, "unique": 0, "duplicates": 0, "gaps": 0, "late": 0}
        for s in self.streams.values():
            out["received"] += s.received
            out["unique"] += s.unique
            out["duplicates"] += s.duplicates
            out["gaps"] += s.gaps
            out["late"] += s.late
        out["malformed"] = self.malformed
        out["untracked"] = self.untracked_messages
        return out
