"""Per-stream sequence accounting for ground tools (sans-I/O).

Each (rig, stream) is one sequence: numbers are assigned on board, persist across
reboots and are never reused, so the ground keys on (rig, stream, seq) and reads
``boot`` only to spot an on-board store that was wiped (numbers restart lower in
a newer boot: a *reset*, counted, and the stream starts over).

Verdicts: ``new`` (first sighting, in order), ``late`` (first sighting of a number
previously counted missing), ``duplicate`` (seen before; ``resend`` says whether
the rig flagged it). ``missing`` counts numbers skipped and not seen since;
numbers the rig reported as evicted from its outbox count as ``evicted``, not
missing. Memory is bounded: at most ``max_tracked_missing`` numbers per stream
are remembered individually; beyond that they are only counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SequenceAccounting", "StreamStats", "Verdict"]

Verdict = Literal["new", "late", "duplicate"]


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
    evicted: set[int] = field(default_factory=set)

    @property
    def gaps(self) -> int:
        return len(self.missing) + self.untracked_missing


class SequenceAccounting:
    def __init__(self, max_tracked_missing: int = 100_000) -> None:
        self.streams: dict[tuple[str, str], StreamStats] = {}
        self.malformed = 0
        self._max_missing = max_tracked_missing

    def observe(self, rig: str, stream: str, boot: int, seq: int, resend: bool) -> Verdict:
        s = self.streams.setdefault((rig, stream), StreamStats())
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
            skipped = range(s.highest + 1, seq)
            for n in skipped:
                if n in s.evicted:
                    continue
                if len(s.missing) < self._max_missing:
                    s.missing.add(n)
                else:
                    s.untracked_missing += 1
            s.highest = seq
            s.unique += 1
            return "new"
        if seq in s.missing:
            s.missing.discard(seq)
            s.late += 1
            s.unique += 1
            return "late"
        if seq < s.first_seq:  # older than anything seen: a backlog we joined late
            s.missing.update(n for n in range(seq + 1, s.first_seq) if n not in s.evicted)
            s.first_seq = seq
            s.unique += 1
            return "late"
        s.duplicates += 1
        s.resent_duplicates += resend
        return "duplicate"

    def note_evicted(self, rig: str, stream: str, first_seq: int, last_seq: int) -> None:
        """The rig reported (stream, first..last) evicted from its outbox."""
        s = self.streams.setdefault((rig, stream), StreamStats())
        span = range(first_seq, last_seq + 1)
        if len(span) > self._max_missing:
            return
        s.evicted.update(span)
        s.missing.difference_update(span)

    def totals(self) -> dict[str, int]:
        out = {"received": 0, "unique": 0, "duplicates": 0, "gaps": 0, "late": 0}
        for s in self.streams.values():
            out["received"] += s.received
            out["unique"] += s.unique
            out["duplicates"] += s.duplicates
            out["gaps"] += s.gaps
            out["late"] += s.late
        out["malformed"] = self.malformed
        return out
