"""``rig-ground report``: per-stream counts, gaps, duplicates and latency of recordings.

Several recording files (e.g. from recorders sharing one ``$share`` group) are
merged on (rig, stream, seq), so a message is counted once whichever file holds
it. Gaps are numbers between the lowest and highest seen that no file holds and
that the rig did not report as evicted. Latency is receive time minus rig time
for live (non-historical) first sightings: it includes clock offset between the
rig and the ground station.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from telemetry.ground.store import RecordingStore

__all__ = ["StreamReport", "build_report", "register"]


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


def build_report(paths: Sequence[Path]) -> tuple[list[StreamReport], int]:
    """Merge recordings; returns per-stream reports and the malformed total."""
    seqs: dict[tuple[str, str], dict[int, tuple[float, bool]]] = {}
    received: dict[tuple[str, str], int] = {}
    resent_dups: dict[tuple[str, str], int] = {}
    evicted: dict[tuple[str, str], set[int]] = {}
    malformed = 0
    for path in paths:
        store = RecordingStore(path)
        try:
            malformed += store.malformed_count()
            for rig, stream, first, last in store.evicted_ranges():
                evicted.setdefault((rig, stream), set()).update(range(first, last + 1))
            for row in store.rows():
                if row.type == "status":
                    continue
                key = (row.rig, row.stream)
                received[key] = received.get(key, 0) + 1
                seen = seqs.setdefault(key, {})
                if row.seq in seen:
                    resent_dups[key] = resent_dups.get(key, 0) + row.resend
                    continue
                latency = row.received_at - row.t_rig
                seen[row.seq] = (latency, row.historical)
        finally:
            store.close()
    reports = []
    for key in sorted(seqs):
        seen = seqs[key]
        lo, hi = min(seen), max(seen)
        ev = evicted.get(key, set())
        gaps = sum(1 for n in range(lo, hi + 1) if n not in seen and n not in ev)
        live = np.array([lat for lat, hist in seen.values() if not hist]) * 1000.0
        pct = [float(np.percentile(live, q)) if live.size else None for q in (50, 95, 99)]
        reports.append(StreamReport(
            key[0], key[1], received[key], len(seen), received[key] - len(seen),
            resent_dups.get(key, 0), gaps, len(ev), sum(h for _, h in seen.values()), lo, hi,
            *pct))
    return reports, malformed


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="counts, gaps, duplicates, latency of recordings")
    p.add_argument("recordings", nargs="+", type=Path, help="files written by `record`")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_main, needs_broker=False)


def _main(args: argparse.Namespace, settings: object) -> int:
    reports, malformed = build_report(args.recordings)
    if args.json:
        print(json.dumps({"streams": [asdict(r) for r in reports], "malformed": malformed},
                         indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{', '.join(map(str, args.recordings))}  (malformed: {malformed})")
    for col in ("rig", "stream", "received", "unique", "dup", "gaps", "evicted", "historical",
                "seq range", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(col, justify="left" if col in ("rig", "stream") else "right")

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for r in reports:
        table.add_row(r.rig, r.stream, str(r.received), str(r.unique), str(r.duplicates),
                      str(r.gaps), str(r.evicted), str(r.historical),
                      f"{r.first_seq}..{r.last_seq}", ms(r.latency_p50_ms),
                      ms(r.latency_p95_ms), ms(r.latency_p99_ms))
    Console().print(table)
    return 0
