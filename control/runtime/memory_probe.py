"""An opt-in look inside the running controller, for soaks: tasks, RSS and what grows.

Theory of operation
-------------------
A leak of a kilobyte a second is invisible in a 10-minute test and fatal after
a month. ``bench/bench_soak.py --mode process`` watches ``rig-control run`` from
outside (RSS, descriptors, outbox); what it cannot see from outside (how many
asyncio tasks are alive, which source lines hold the memory that grows) this
probe writes from inside. It is off unless the environment asks for it:

* ``RIG_CONTROL_PROBE=FILE``: every ``RIG_CONTROL_PROBE_EVERY`` wall seconds
  (default 60) append one JSON line to FILE: wall time, RSS, live tasks, and
  where the memory is: Python's allocated blocks, what C code holds through
  malloc (glibc ``mallinfo2``: in use, and free but kept), and SQLite's own
  count (``sqlite3_memory_used``), and the arenas Python's small-object
  allocator holds (not while tracing: tracemalloc's hooks hide them). A
  growth that tracemalloc does not see is in one of these.
* ``RIG_CONTROL_TRACEMALLOC=N`` (with the above): trace allocations (N frames)
  and add to each line the top 15 source lines by growth since the first
  snapshot taken after ``RIG_CONTROL_PROBE_WARMUP`` seconds (default 120; the
  caches and buffers that fill at start are not a leak).
* ``RIG_CONTROL_PROBE_TYPES=1`` (with the first): add the 12 object types whose
  live count (``gc.get_objects()``, containers only) grew most since warm-up.

Tracing costs CPU and memory of its own, so a soak measures its slope with
tracing off and runs again with it on to find the lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import json
import logging
import os
import sys
import time
import tracemalloc
from collections.abc import Mapping
from pathlib import Path

from .heap_trim import malloc_stats

log = logging.getLogger(__name__)

__all__ = ["ProbeConfig", "c_heap_kib", "probe_config", "pymalloc_kib", "rss_kib", "run_probe"]

TOP_LINES = 15


class ProbeConfig:
    """Where and how often to write (see the module docstring)."""

    def __init__(self, path: Path, every_s: float, trace_frames: int, warmup_s: float,
                 types: bool = False) -> None:
        self.types = types
        self.path = path
        self.every_s = every_s
        self.trace_frames = trace_frames
        self.warmup_s = warmup_s


def probe_config(env: Mapping[str, str] = os.environ) -> ProbeConfig | None:
    """The probe the environment asks for, or ``None`` (raises ``ValueError`` naming the
    variable when one is not a number)."""
    path = env.get("RIG_CONTROL_PROBE")
    if not path:
        return None
    values = {}
    for key, default in (("RIG_CONTROL_PROBE_EVERY", 60.0), ("RIG_CONTROL_TRACEMALLOC", 0.0),
                         ("RIG_CONTROL_PROBE_WARMUP", 120.0)):
        try:
            values[key] = float(env.get(key, default))
        except ValueError as err:
            raise ValueError(f"{key}: expected a number, got {env[key]!r}") from err
    return ProbeConfig(Path(path), max(0.1, values["RIG_CONTROL_PROBE_EVERY"]),
                       int(values["RIG_CONTROL_TRACEMALLOC"]),
                       values["RIG_CONTROL_PROBE_WARMUP"],
                       env.get("RIG_CONTROL_PROBE_TYPES", "") not in ("", "0"))


def rss_kib(pid: int | str = "self") -> int:
    """Resident set size of a process in KiB (0 when it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _census() -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in gc.get_objects():
        t = type(obj)
        key = f"{t.__module__}.{t.__qualname__}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _sqlite() -> ctypes.CDLL | None:
    with contextlib.suppress(OSError, TypeError, AttributeError):
        lib = ctypes.CDLL(ctypes.util.find_library("sqlite3"))
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return lib
    return None


def c_heap_kib() -> dict[str, int]:
    """What C code holds (glibc malloc: in use, free but kept; SQLite), in KiB; empty
    where the library is not there (musl, a static SQLite)."""
    out = {}
    stats = malloc_stats()
    if stats is not None:
        out["malloc_used_kib"], out["malloc_free_kib"] = stats[0] // 1024, stats[1] // 1024
    sqlite = _sqlite()
    if sqlite is not None:
        out["sqlite_kib"] = int(sqlite.sqlite3_memory_used()) // 1024
    return out


def pymalloc_kib() -> dict[str, int]:
    """Python's small-object allocator: arenas held and bytes in live blocks, in KiB
    (parsed from ``sys._debugmallocstats``, which writes to file descriptor 2)."""
    read_end, write_end = os.pipe()
    saved = os.dup(2)
    try:
        os.dup2(write_end, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    out = {}
    for line in b"".join(chunks).decode(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "# arenas allocated current":
            out["pymalloc_arenas"] = int(value.replace(",", ""))
        elif key.strip() == "# bytes in allocated blocks":
            out["pymalloc_used_kib"] = int(value.replace(",", "")) // 1024
    return out


async def run_probe(cfg: ProbeConfig) -> None:
    """Append a line every ``cfg.every_s`` until cancelled."""
    if cfg.trace_frames > 0:
        tracemalloc.start(cfg.trace_frames)
    started = time.monotonic()
    baseline: tracemalloc.Snapshot | None = None
    type_base: dict[str, int] | None = None
    try:
        while True:
            await asyncio.sleep(cfg.every_s)
            line: dict[str, object] = {"wall_s": round(time.monotonic() - started, 1),
                                       "rss_kib": rss_kib(),
                                       "tasks": len(asyncio.all_tasks()),
                                       "py_blocks": sys.getallocatedblocks(), **c_heap_kib(),
                                       **pymalloc_kib()}
            if cfg.trace_frames > 0 and time.monotonic() - started >= cfg.warmup_s:
                snap = tracemalloc.take_snapshot().filter_traces(
                    (tracemalloc.Filter(False, tracemalloc.__file__),))
                if baseline is None:
                    baseline = snap
                line["traced_kib"] = tracemalloc.get_traced_memory()[0] // 1024
                line["top"] = [str(s) for s in
                               snap.compare_to(baseline, "lineno")[:TOP_LINES]]
            if cfg.types and time.monotonic() - started >= cfg.warmup_s:
                census = _census()
                type_base = type_base or census
                grew = sorted(((n - type_base.get(k, 0), k) for k, n in census.items()),
                              reverse=True)[:12]
                line["types"] = [f"{k} {d:+d}" for d, k in grew]
            with cfg.path.open("a") as fh:
                fh.write(json.dumps(line) + "\n")
    finally:
        if cfg.trace_frames > 0:
            with contextlib.suppress(RuntimeError):
                tracemalloc.stop()
