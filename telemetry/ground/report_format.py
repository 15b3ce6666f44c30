"""How ``rig-ground report`` prints a summary: a table for people, JSON and CSV for tools.

Nothing is ever cut short. On a terminal the table is drawn with rich: numbers never
wrap, names wrap inside their cells instead of ending in "...", and a terminal too
narrow for the columns gets one small field/value table per stream; anywhere else
(a pipe, a file, ``--width``) it is plain fixed-width text as wide as its longest
value, one stream per line, easy to ``grep`` and ``awk``. The JSON layout is
documented in docs/telemetry.md ("report --json"); bump ``REPORT_SCHEMA`` when it
changes incompatibly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import IO

from telemetry.ground.summary import StoreSummary, StreamReport

__all__ = ["REPORT_SCHEMA", "render_csv", "render_json", "render_rich", "render_text"]

REPORT_SCHEMA = 1

_HEADERS = ("rig", "stream", "received", "unique", "dup", "resent", "gaps", "evicted",
            "historical", "seq range", "p50 ms", "p95 ms", "p99 ms")


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _cells(r: StreamReport) -> tuple[str, ...]:
    return (r.rig, r.stream, str(r.received), str(r.unique), str(r.duplicates),
            str(r.resent_duplicates), str(r.gaps), str(r.evicted), str(r.historical),
            f"{r.first_seq}..{r.last_seq}", _ms(r.latency_p50_ms), _ms(r.latency_p95_ms),
            _ms(r.latency_p99_ms))


def _title(sources: Sequence[str], summary: StoreSummary) -> str:
    return f"{', '.join(sources)}  (malformed: {summary.malformed})"


def render_text(summary: StoreSummary, sources: Sequence[str]) -> str:
    """Fixed-width plain text: every column as wide as its widest value, never cut."""
    rows = [_HEADERS, *(_cells(r) for r in summary.streams)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    lines = [_title(sources, summary)]
    for row in rows:
        cells = [cell.ljust(w) if i < 2 else cell.rjust(w)
                 for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    if not summary.streams:
        lines.append("(no messages)")
    return "\n".join(lines) + "\n"


_NAME_MIN = 8  # a name column narrower than this reads worse than the per-stream layout


def render_rich(summary: StoreSummary, sources: Sequence[str], file: IO[str] | None = None,
                width: int | None = None) -> None:
    """A rich table for a terminal; names wrap, nothing is truncated at any width."""
    from rich.console import Console
    from rich.table import Table

    console = Console(file=file, width=width)
    cells = [_cells(r) for r in summary.streams]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(_HEADERS)]
    name_min = [min(_NAME_MIN, w) for w in widths[:2]]
    # no box: a column costs its width plus one space of padding on each side
    if sum(widths[2:]) + sum(name_min) + 2 * len(_HEADERS) <= console.width:
        table = Table(title=_title(sources, summary), box=None, header_style="bold")
        for i, col in enumerate(_HEADERS):
            if i < 2:
                table.add_column(col, overflow="fold", min_width=name_min[i])
            else:
                table.add_column(col, justify="right", no_wrap=True, min_width=widths[i])
        for row in cells:
            table.add_row(*row)
        console.print(table)
        return
    console.print(_title(sources, summary), overflow="fold")
    for row in cells:
        table = Table(show_header=False)
        table.add_column("field", no_wrap=True)
        table.add_column("value", overflow="fold")
        for header, cell in zip(_HEADERS, row, strict=True):
            table.add_row(header, cell)
        console.print(table)


def render_json(summary: StoreSummary, sources: Sequence[str]) -> str:
    return json.dumps({"schema": REPORT_SCHEMA, "sources": list(sources),
                       "malformed": summary.malformed,
                       "streams": [asdict(r) for r in summary.streams]}, indent=2) + "\n"


def render_csv(summary: StoreSummary) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    names = [f.name for f in fields(StreamReport)]
    writer.writerow(names)
    for r in summary.streams:
        writer.writerow(["" if v is None else v for v in (getattr(r, n) for n in names)])
    return out.getvalue()
