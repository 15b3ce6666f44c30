"""Per-stream summary of recordings: counts, gaps, duplicates, latency (sans-I/O).

The ground's accounting of a finished recording, whatever store holds it and however
many recorders wrote it. Messages are keyed on ``(rig, stream, seq)``: the first
sighting of a number is unique, any later one a duplicate (``resent_duplicates``
counts those the rig flagged ``resend``). Gaps are numbers between the lowest and
highest seen that nobody received and that the rig did not report evicted. Latency
is receive time minus rig time of live (non-historical) first sightings, so it
includes any rig/ground clock offset. Status messages are not counted.

:class:`ReportBuilder` takes rows from any number of stores in any split (recorders
sharing a subscription each hold a share) and gives the same answer as one store
holding them all; the PostgreSQL store computes the same figures in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from telemetry.contract import TopicKind

__all__ = ["ReportBuilder", "StoreSummary", "StreamReport"]


@dataclass(frozen=True, slots=True)
class StreamReport:
    rig: str
    stream: str
    received: int
    unique: int
    duplicates: int
    resent_duplicates: int
    gaps: int
    evicted: int
    historical: int
    first_seq: int
    last_seq: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None


@dataclass(frozen=True, slots=True)
class StoreSummary:
    streams: list[StreamReport]
    malformed: int


@dataclass(slots=True)
class _Stream:
    received: int = 0
    resent_duplicates: int = 0
    first: dict[int, tuple[float, bool]] = field(default_factory=dict)  # seq -> (lat, hist)


class ReportBuilder:
    """Feed rows (any order of stores), evictions and malformed counts; then ``finish``."""

    def __init__(self) -> None:
        self._streams: dict[tuple[str, str], _Stream] = {}
        self._evicted: dict[tuple[str, str], set[int]] = {}
        self.malformed = 0

    def add_row(self, rig: str, stream: str, type_: str, seq: int, received_at: float,
                t_rig: float, historical: bool, resend: bool) -> None:
        if type_ == TopicKind.STATUS:
            return
        s = self._streams.get((rig, stream))
        if s is None:
            s = self._streams[(rig, stream)] = _Stream()
        s.received += 1
        if seq in s.first:
            s.resent_duplicates += bool(resend)
            return
        s.first[seq] = (received_at - t_rig, bool(historical))

    def add_evicted(self, rig: str, stream: str, first_seq: int, last_seq: int) -> None:
        self._evicted.setdefault((rig, stream), set()).update(range(first_seq, last_seq + 1))

    def finish(self) -> StoreSummary:
        reports = []
        for key in sorted(self._streams):
            s = self._streams[key]
            seen = s.first
            lo, hi = min(seen), max(seen)
            ev = self._evicted.get(key, set())
            unseen_evicted = sum(1 for n in ev if lo <= n <= hi and n not in seen)
            gaps = (hi - lo + 1) - len(seen) - unseen_evicted
            live = np.array([lat for lat, hist in seen.values() if not hist]) * 1000.0
            pct = [float(np.percentile(live, q)) if live.size else None for q in (50, 95, 99)]
            reports.append(StreamReport(
                key[0], key[1], s.received, len(seen), s.received - len(seen),
                s.resent_duplicates, gaps, len(ev), sum(h for _, h in seen.values()), lo, hi,
                *pct))
        return StoreSummary(reports, self.malformed)
