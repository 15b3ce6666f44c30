"""The soak's look inside rig-control (control.runtime.memory_probe): off unless the
environment asks; then one JSON line per period with what the soak cannot see from
outside."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from control.runtime.memory_probe import probe_config, pymalloc_kib, run_probe


def test_off_unless_asked_and_bad_numbers_name_the_variable(tmp_path: Path) -> None:
    assert probe_config({}) is None
    cfg = probe_config({"RIG_CONTROL_PROBE": str(tmp_path / "p.jsonl"),
                        "RIG_CONTROL_PROBE_EVERY": "5", "RIG_CONTROL_TRACEMALLOC": "3"})
    assert cfg is not None and cfg.every_s == 5.0 and cfg.trace_frames == 3 and not cfg.types
    with pytest.raises(ValueError, match="RIG_CONTROL_PROBE_EVERY: expected a number"):
        probe_config({"RIG_CONTROL_PROBE": "x", "RIG_CONTROL_PROBE_EVERY": "soon"})


def test_pymalloc_stats_are_read_and_stderr_is_restored(capfd) -> None:
    stats = pymalloc_kib()
    assert stats["pymalloc_arenas"] >= 1 and stats["pymalloc_used_kib"] > 0
    print("still here", file=sys.stderr, flush=True)
    assert "still here" in capfd.readouterr().err


@pytest.mark.parametrize(("trace", "keys"), [
    ("0", {"pymalloc_arenas", "pymalloc_used_kib", "malloc_used_kib", "py_blocks"}),
    ("1", {"top", "traced_kib", "types"}),  # (tracing hides pymalloc's own statistics)
])
async def test_probe_writes_a_line_per_period_until_cancelled(tmp_path: Path, trace: str,
                                                              keys: set[str]) -> None:
    path = tmp_path / "probe.jsonl"
    cfg = probe_config({"RIG_CONTROL_PROBE": str(path), "RIG_CONTROL_PROBE_EVERY": "0.1",
                        "RIG_CONTROL_PROBE_WARMUP": "0", "RIG_CONTROL_TRACEMALLOC": trace,
                        "RIG_CONTROL_PROBE_TYPES": "1"})
    assert cfg is not None
    task = asyncio.create_task(run_probe(cfg))
    async with asyncio.timeout(20):
        while not path.exists() or len(path.read_text().splitlines()) < 2:
            await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(line["rss_kib"] > 0 and line["tasks"] >= 1 for line in lines)
    assert keys <= set(lines[-1]), sorted(lines[-1])
