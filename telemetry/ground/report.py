"""``rig-ground report``: per-stream counts, gaps, duplicates and latency of recordings.

Sources are SQLite files and/or PostgreSQL URLs. One PostgreSQL store is summarised
in the database (``summarize``); several sources (e.g. the files of recorders that
shared a subscription) are merged row by row on (rig, stream, seq), so a message is
counted once whichever source holds it (definitions: ``telemetry.ground.summary``).
Output: a table (rich on a terminal, fixed-width text otherwise), ``--json``
(documented in docs/telemetry.md) or ``--csv``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from telemetry.ground._sync import run_sync
from telemetry.ground.report_format import render_csv, render_json, render_rich, render_text
from telemetry.ground.stores import StoreError, open_store, redact_url
from telemetry.ground.summary import ReportBuilder, StoreSummary, StreamReport

__all__ = ["StreamReport", "build_report", "register", "summarize_sources"]


async def summarize_sources(sources: Sequence[str | Path]) -> StoreSummary:
    """One summary of every source; raises ``StoreError`` if one cannot be read."""
    if len(sources) == 1:
        store = await open_store(sources[0])
        try:
            return await store.summarize()
        finally:
            await store.close()
    builder = ReportBuilder()
    for source in sources:
        store = await open_store(source)
        try:
            builder.malformed += await store.malformed_count()
            for rig, stream, first, last in await store.evicted_ranges():
                builder.add_evicted(rig, stream, first, last)
            async for row in store.rows():
                builder.add_row(row.rig, row.stream, row.type, row.seq, row.received_at,
                                row.t_rig, row.historical, row.resend)
        finally:
            await store.close()
    return builder.finish()


async def build_report(sources: Sequence[str | Path]) -> tuple[list[StreamReport], int]:
    """Per-stream reports and the malformed total of *sources* merged."""
    summary = await summarize_sources(sources)
    return summary.streams, summary.malformed


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="counts, gaps, duplicates, latency of recordings")
    p.add_argument("recordings", nargs="+", metavar="SOURCE",
                   help="files written by `record`, or postgresql://... URLs")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true",
                     help="print JSON (layout in docs/telemetry.md)")
    fmt.add_argument("--csv", action="store_true", help="print CSV, one row per stream")
    fmt.add_argument("--text", action="store_true",
                     help="plain fixed-width text even on a terminal")
    p.add_argument("--width", type=int, help="table width on a terminal (default: its width)")
    p.set_defaults(func=_main, needs_broker=False)


def _main(args: argparse.Namespace, settings: object) -> int:
    try:
        summary = run_sync(summarize_sources(args.recordings))
    except StoreError as err:
        print(f"rig-ground report: {err}", file=sys.stderr)
        return 2
    sources = [redact_url(str(s)) for s in args.recordings]
    if args.json:
        sys.stdout.write(render_json(summary, sources))
    elif args.csv:
        sys.stdout.write(render_csv(summary))
    elif args.text or not sys.stdout.isatty():
        sys.stdout.write(render_text(summary, sources))
    else:
        render_rich(summary, sources, width=args.width)
    return 0
