"""The process mode of the soak (bench_soak.py --mode process): the real service, watched
from outside.

Three child processes, as on a rover: a real Mosquitto (``local_broker.Broker``,
stopped for ``--outage-s`` wall seconds every ``--outage-every-min`` wall
minutes), ``rig-sim --pty --link`` with the soak's faults on its own schedule
(rocks, spikes, a pulled cable, a firmware reset, a stuck sensor), and
``rig-control run --autonomous`` on the pty's stable link with a mission
that never ends (one site, a million kilograms), its outbox in the work
directory. Every ``--sample-s`` wall seconds the bench reads the controller's
RSS and open descriptors from ``/proc``, the size of its outbox files, and the
live asyncio task count from the controller's own probe
(``control/runtime/memory_probe.py``, switched on through the environment).
At the end: the least-squares RSS slope after ``--warmup-min``, in KB per wall
second, fitted to the settled samples (not in a broker outage or the
``--settle-min`` after it: ``in_lift``), and the spread of the descriptors.

``--replay FILE`` judges the sample lines a run printed (FILE, its saved
output) again, with this run's ``--warmup-min``: the allocator's high-water
mark is reached at the first broker outage, and an hour is too long to fly
again to move the warm-up past it.

``--tracemalloc N`` also asks the controller to trace its allocations and the
bench prints the probe's last top-growth lines (tracing changes the RSS: take
the slope from a run without it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from local_broker import Broker
from soak_rig import FAULTS

from control.runtime.memory_probe import rss_kib

# a mission the soak never finishes: the controller digs and dumps all the time
ENDLESS_MISSION = """name = "soak-endless"
[dump]
x = 0.0
y = 0.0
[[site]]
name = "A"
x = 1.5
y = 0.0
target_kg = 1000000.0
max_cycles = 1000000
"""


@dataclass
class Sample:
    wall_s: float
    rss_kib: int
    fds: int
    outbox_bytes: int
    tasks: int


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def _probe_tail(path: Path) -> dict[str, object]:
    try:
        lines = path.read_text().splitlines()
        return json.loads(lines[-1]) if lines else {}
    except (OSError, ValueError):
        return {}


def _faults(wall_s: float, scale: float, every_sim_s: float) -> list[str]:
    out, t, i = [], every_sim_s / 2, 0
    while t < wall_s * scale:
        kind, _, params = FAULTS[i % len(FAULTS)].partition(":")
        out.append(f"--fault={kind}@{round(t)}:{params}")
        i += 1
        t += every_sim_s
    return out


def _bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def _start_sim(args: argparse.Namespace, work: Path) -> subprocess.Popen[str]:
    argv = [_bin("rig-sim"), "--pty", "--link", str(work / "rig.pty"), "--seed", "11",
            "--time-scale", str(args.time_scale), "--rate", str(args.sample_rate),
            "--plant-rate", str(args.plant_rate),
            *_faults(args.minutes * 60 + 600, args.time_scale, args.fault_every)]
    sim = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(work / "sim.log", "w"),
                           text=True)
    assert sim.stdout is not None
    line = sim.stdout.readline()
    if not line.startswith("READY"):
        sim.kill()
        sys.exit(f"rig-sim did not start: {line!r} (see {work / 'sim.log'})")
    return sim


def _start_controller(args: argparse.Namespace, work: Path,
                      broker: Broker) -> subprocess.Popen[bytes]:
    (work / "mission.toml").write_text(ENDLESS_MISSION)
    (work / "rig.toml").write_text(f'[ground]\noutbox_path = "{work / "outbox.db"}"\n')
    env = dict(os.environ, RIG_CONTROL_PROBE=str(work / "probe.jsonl"),
               RIG_CONTROL_PROBE_EVERY=str(args.sample_s),
               RIG_CONTROL_PROBE_WARMUP=str(args.warmup_min * 60))
    if args.tracemalloc:
        env["RIG_CONTROL_TRACEMALLOC"] = str(args.tracemalloc)
    if args.tracemalloc or args.types:
        env["RIG_CONTROL_PROBE_TYPES"] = "1"
    rate = min(500.0, args.control_hz * args.time_scale)
    argv = [_bin("rig-control"), "run", "--port", str(work / "rig.pty"), "--broker", broker.url,
            "--config", str(work / "rig.toml"), "--mission", str(work / "mission.toml"),
            "--autonomous", "--time-scale", str(args.time_scale), "--rate", str(rate)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(work / "control.log", "w"))


def _sample(pid: int, work: Path, t0: float) -> Sample:
    outbox = sum(p.stat().st_size for p in work.glob("outbox.db*") if p.is_file())
    tasks = _probe_tail(work / "probe.jsonl").get("tasks", -1)
    return Sample(time.monotonic() - t0, rss_kib(pid), _fds(pid), outbox,
                  int(tasks) if isinstance(tasks, int) else -1)


def soak_process(args: argparse.Namespace, work: Path) -> int:
    """Run the three processes for ``args.minutes`` wall minutes; print and judge."""
    broker = Broker(work)
    broker.start()
    try:
        sim = _start_sim(args, work)
    except BaseException:  # SystemExit when it does not start: take the broker down too
        broker.stop()
        raise
    ctl = _start_controller(args, work, broker)
    t0 = time.monotonic()
    samples: list[Sample] = []
    outages = 0
    next_outage = args.outage_every_min * 60.0
    try:
        while (elapsed := time.monotonic() - t0) < args.minutes * 60:
            if ctl.poll() is not None:
                print(f"rig-control exited with {ctl.returncode} (see {work / 'control.log'})")
                break
            if elapsed >= next_outage and broker.up:
                broker.stop()
                outages += 1
            if not broker.up and elapsed >= next_outage + args.outage_s:
                broker.start()
                next_outage += args.outage_every_min * 60.0
            if elapsed >= len(samples) * args.sample_s:
                s = _sample(ctl.pid, work, t0)
                samples.append(s)
                print(f"min {s.wall_s / 60:5.1f}  RSS {s.rss_kib / 1024:7.1f} MiB  "
                      f"fds {s.fds:3d}  outbox {s.outbox_bytes / 1e6:6.2f} MB  "
                      f"tasks {s.tasks:3d}  broker outages {outages}", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopped early", flush=True)
    finally:
        for proc in (ctl, sim):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        broker.stop()
    if args.tracemalloc or args.types:
        tail = _probe_tail(work / "probe.jsonl")
        for line in [*tail.get("top", []), *tail.get("types", [])]:  # type: ignore[misc]
            print(f"  grew: {line}")
    return report_process(samples, args)


def replay(path: Path, args: argparse.Namespace) -> int:
    """``report_process`` over the ``min ...`` lines of a saved run's output."""
    samples = []
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) >= 12 and f[0] == "min" and f[2] == "RSS" and f[10] == "tasks":
            samples.append(Sample(float(f[1]) * 60, round(float(f[3]) * 1024), int(f[6]),
                                  round(float(f[8]) * 1e6), int(f[11])))
    print(f"replayed {len(samples)} samples of {path}")
    return report_process(samples, args)


def in_lift(wall_s: float, args: argparse.Namespace) -> bool:
    """Whether a sample falls in a broker outage or the ``--settle-min`` after it.

    Each outage lifts the RSS by a few MB for a minute or two (the backlog's
    payloads, held for the publisher until delivered, then trimmed): a transient
    bounded by the outbox's cache, not growth, and one that tilts a least-squares
    line by far more than 0.1 KB/s depending on where the run starts and ends. The
    slope is fitted to the settled samples, the lifts are reported on their own.
    """
    cycle_s = args.outage_every_min * 60.0
    if cycle_s <= 0 or wall_s < cycle_s:
        return False
    since = wall_s - (wall_s // cycle_s) * cycle_s
    return since < args.outage_s + args.settle_min * 60.0


def before_outages(samples: list[Sample], cycle_s: float) -> list[Sample]:
    """The last sample before each outage: the RSS the process settles at between them."""
    if cycle_s <= 0 or not samples:
        return []
    out: dict[int, Sample] = {}
    for s in samples:
        out[int(s.wall_s // cycle_s)] = s
    return [s for k, s in sorted(out.items()) if k + 1 <= samples[-1].wall_s // cycle_s]


def report_process(samples: list[Sample], args: argparse.Namespace) -> int:
    cycle_s = args.outage_every_min * 60.0
    warm = [s for s in samples if s.wall_s >= args.warmup_min * 60]
    after = [s for s in warm if not in_lift(s.wall_s, args)]
    lifted = [s for s in warm if in_lift(s.wall_s, args)]
    how = "replay" if args.replay else f"time scale {args.time_scale:g}"
    print(f"\nmode process ({how}); wall minutes "
          f"{samples[-1].wall_s / 60 if samples else 0:.1f}; samples {len(samples)}, "
          f"after warm-up ({args.warmup_min:g} min) {len(warm)}, of which {len(lifted)} "
          f"in a broker outage or the {args.settle_min:g} min after it")
    settled = before_outages(samples, cycle_s)
    if settled:
        print("RSS just before each broker outage: "
              + ", ".join(f"{s.rss_kib / 1024:.1f}" for s in settled) + " MiB")
    if lifted and after:
        print(f"highest RSS in an outage or just after: {max(s.rss_kib for s in lifted) / 1024:.1f}"
              f" MiB (settled samples: {min(s.rss_kib for s in after) / 1024:.1f}.."
              f"{max(s.rss_kib for s in after) / 1024:.1f} MiB)")
    if len(after) < 3:
        print("too few samples after warm-up for a slope: NOT met")
        return 1
    t = np.array([s.wall_s for s in after])
    rss_kb = np.array([s.rss_kib * 1.024 for s in after])  # KiB -> kB
    slope = float(np.polyfit(t, rss_kb, 1)[0])  # the settled samples only (in_lift)
    thirds = [float(np.polyfit(part_t, part_r, 1)[0])
              for part_t, part_r in zip(np.array_split(t, 3), np.array_split(rss_kb, 3),
                                        strict=True) if len(part_t) >= 2]
    # descriptors and tasks dip while the pty or the broker is away: flat means the
    # last third's highest is not above the first third's
    fds, tasks = [s.fds for s in after], [s.tasks for s in after]
    k = max(1, len(after) // 3)
    goals = {
        f"RSS slope after warm-up: {slope:+.3f} KB/s ({slope * 86.4:+.1f} MB/day; per third "
        f"{', '.join(f'{x:+.3f}' for x in thirds)}) (goal < 0.1 KB/s)": slope < 0.1,
        f"open fds after warm-up: {min(fds)}..{max(fds)}, highest first third {max(fds[:k])}, "
        f"last third {max(fds[-k:])} (goal: not higher)": max(fds[-k:]) <= max(fds[:k]),
        f"asyncio tasks after warm-up: {min(tasks)}..{max(tasks)}, highest first third "
        f"{max(tasks[:k])}, last third {max(tasks[-k:])} (goal: not higher)":
            max(tasks[-k:]) <= max(tasks[:k]),
    }
    for text, ok in goals.items():
        print(f"{text}: {'met' if ok else 'NOT met'}")
    return 0 if all(goals.values()) else 1
