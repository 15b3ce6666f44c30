"""``rig-ground report`` output: never truncated (pipes, narrow terminals), JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from telemetry.ground.report_format import render_rich, render_text
from telemetry.ground.stores import open_store
from telemetry.ground.summary import StoreSummary, StreamReport
from tests.ground.helpers import message

LONG_RIG = "regolith-excavator-north-quarry-unit-0042"
LONG_STREAM = "batch/drum_motor_current_filtered_100hz"


def _summary() -> StoreSummary:
    return StoreSummary([
        StreamReport(LONG_RIG, LONG_STREAM, 1200, 1190, 10, 7, 3, 12, 40, 0, 1204,
                     12.25, 80.5, 950.125),
        StreamReport("rig-2", "state", 5, 5, 0, 0, 0, 0, 0, 0, 4, None, None, None),
    ], malformed=2)


def test_plain_text_keeps_every_name_whole_and_aligns_columns() -> None:
    text = render_text(_summary(), ["run.db"])
    lines = text.splitlines()
    assert lines[0] == "run.db  (malformed: 2)"
    header, first, second = lines[1:]
    assert header.split()[:2] == ["rig", "stream"]
    assert first.split()[:2] == [LONG_RIG, LONG_STREAM]
    assert first.split()[2:] == ["1200", "1190", "10", "7", "3", "12", "40", "0..1204",
                                 "12.2", "80.5", "950.1"]
    assert second.split() == ["rig-2", "state", "5", "5", "0", "0", "0", "0", "0", "0..4",
                              "-", "-", "-"]
    # fixed width: right-aligned columns end at the same offset on every line
    assert len(header) == len(first) == len(second)
    assert header.index("stream") == first.index(LONG_STREAM) == second.index("state")
    assert "…" not in text and "..." not in text


@pytest.mark.parametrize("width", [40, 80, 113, 114, 200])
def test_rich_table_wraps_cells_instead_of_cutting_them(width: int) -> None:
    out = io.StringIO()
    render_rich(_summary(), ["run.db"], file=out, width=width)
    text = out.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= width
    flat = "".join(ch for ch in text if ch.isascii() and not ch.isspace())
    for value in ("1200", "1190", "0..1204", "950.1", "rig-2"):
        assert value in flat  # numbers are never wrapped
    # every character of the long names is there, in order, however they wrapped
    for name in (LONG_RIG, LONG_STREAM):
        rest = iter(flat)
        assert all(ch in rest for ch in name), name


async def test_cli_piped_prints_full_names_json_and_csv(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = await open_store(path)
    await store.write([message(LONG_RIG, LONG_STREAM, s, type_="batch") for s in (0, 1, 3)])
    await store.close()

    def run(*args: str) -> str:
        # a real pipe: stdout is not a terminal, whatever the terminal width
        done = subprocess.run([sys.executable, "-m", "telemetry.ground.cli", "report",
                               *args, str(path)], capture_output=True, text=True, timeout=60,
                              env={"COLUMNS": "30", "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, done.stderr
        return done.stdout

    text = run()
    assert LONG_RIG in text and LONG_STREAM in text and "…" not in text
    data = json.loads(run("--json"))
    assert data["schema"] == 1 and data["sources"] == [str(path)] and data["malformed"] == 0
    (stream,) = data["streams"]
    assert stream == {"rig": LONG_RIG, "stream": LONG_STREAM, "received": 3, "unique": 3,
                      "duplicates": 0, "resent_duplicates": 0, "gaps": 1, "evicted": 0,
                      "historical": 0, "first_seq": 0, "last_seq": 3,
                      "latency_p50_ms": pytest.approx(50.0),
                      "latency_p95_ms": pytest.approx(50.0),
                      "latency_p99_ms": pytest.approx(50.0)}
    rows = list(csv.DictReader(io.StringIO(run("--csv"))))
    assert len(rows) == 1 and rows[0]["rig"] == LONG_RIG and rows[0]["gaps"] == "1"
    assert list(rows[0]) == list(stream)


def test_unreadable_source_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "telemetry.ground.cli", "report",
                           "mysql://db/x"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("rig-ground report: store: expected a file path")
