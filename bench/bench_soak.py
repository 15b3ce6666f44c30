"""Soak: repeated missions for many simulated hours, with faults and a broker that
comes and goes. Watches the controller process for leaks. Not part of CI.

Two modes; both fly one mission after another (a fresh controller per mission
on the same downlink, as the service's restarts would), inject a fault every
``--fault-every`` simulated seconds (rocks, sensor spikes, a pulled cable, a
firmware reset, a stuck sensor, in turn), stop a real Mosquitto for a while
every ``--outage-every-h`` simulated hours, and every simulated hour print the
process's RSS, its open file descriptors, the outbox depth and size, and the
missions flown and completed in that hour. At the end: the least-squares RSS
slope after the first hour.

* ``--mode lockstep`` (default): the service's ``RigController`` (its tasks,
  bridge, sensor feed, firmware requests and telemetry publisher, through the
  real ``Downlink`` and its on-disk outbox to the real broker) against the
  simulator's ``Rig`` over the in-memory link, in simulated time
  (``rig_bench.lockstep``; each mission on its own virtual-clock loop in a
  worker thread, the downlink on the main loop; the simulator's own faults;
  ``soak_rig.py``). Simulated time is not tied to the wall clock and every
  mission is controlled at its configured rate. Left out: the pty and the
  child process; the pty mode has them.
* ``--mode pty``: ``RigController`` over a real pty against the simulator
  as a child process (``python -m sim_hw``) with the same fault kinds on its
  own schedule. The simulated hour is wall time x ``--time-scale``, so the
  simulator must keep up with it: on a loaded 2-core machine it runs at most
  about 20x with a 200 Hz plant (at 100x it ran at 40x, the controller stepped
  every 2 simulated seconds and no mission finished with its mass).

Goals: RSS slope < 1 MiB per simulated hour after the first hour; descriptors
flat (spread <= 4 after the first hour); outbox within its disk budget; and
missions completed, with their mass, in every hour.

    nice .venv/bin/python bench/bench_soak.py [--hours 24] [--mode lockstep|pty]
                                              [--time-scale 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local_broker import Broker
from soak_process import replay, soak_process
from soak_rig import FAULTS, FaultClock, ThreadedDownlink

from control.core.auto_operator import AutoOperator
from control.core.config import ControllerConfig, load_config
from control.core.mission import MissionPlan, MissionSite
from control.demo.sim_process import SimulatorProcess
from control.runtime.app import RigController
from rig_bench.lockstep import LockstepRunner
from sim_hw.rig import Rig, RigConfig
from telemetry.rover.downlink import Downlink, DownlinkConfig

MISSION = MissionPlan("soak", (MissionSite("A", 1.5, 0.0, 25.0, 4),), dump_x=0.0, dump_y=0.0)
TARGET_KG = sum(s.target_kg for s in MISSION.sites)
HOUR = 3600.0
BUDGET = 64 << 20  # outbox disk budget for the run
MAX_MISSION_S = 900.0  # simulated; a mission not done by then is given up
STARTED = time.monotonic()


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@dataclass
class Tally:
    """Missions flown and completed (complete with their mass), in all and this hour."""

    flown: int = 0
    completed: int = 0
    hour_flown: int = 0
    hour_completed: int = 0
    per_hour: list[int] = field(default_factory=list)  # completed in each hour

    def add(self, complete: bool, dumped_kg: float) -> None:
        ok = complete and dumped_kg >= TARGET_KG - 0.5
        self.flown += 1
        self.hour_flown += 1
        self.completed += ok
        self.hour_completed += ok

    def close_hour(self) -> tuple[int, int]:
        out = (self.hour_flown, self.hour_completed)
        self.per_hour.append(self.hour_completed)
        self.hour_flown = self.hour_completed = 0
        return out


Row = tuple[float, float, int, int, int]


def hourly(hour: int, dl: Downlink, tally: Tally, broker: Broker, rows: list[Row],
           sim_h: float) -> None:
    c = dl.counters
    row = (sim_h, rss_mib(), open_fds(), c.outbox_depth, c.outbox_bytes)
    rows.append(row)
    flown, done = tally.close_hour() if hour else (0, 0)
    print(f"hour {hour:3d}  RSS {row[1]:7.1f} MiB  fds {row[2]:4d}  "
          f"outbox {row[3]:6d} msgs {row[4] / 1e6:7.2f} MB  "
          f"missions this hour {done}/{flown} complete (total {tally.completed}/{tally.flown})  "
          f"broker outages {broker.outages}  wall {time.monotonic() - STARTED:.0f} s",
          flush=True)


def downlink_config(cfg, work: Path, broker: Broker) -> DownlinkConfig:  # type: ignore[no-untyped-def]
    return DownlinkConfig(rig_id=cfg.ground.rig_id, outbox_path=work / "outbox.db",
                          broker_url=broker.url, disk_budget_bytes=BUDGET,
                          reconnect_initial_s=0.1, reconnect_cap_s=1.0)


# --- lockstep mode ---------------------------------------------------------------------


@dataclass
class Schedule:
    """What happens at soak times: hourly lines, broker outages, faults. Read by each
    mission's runner thread at every control tick; the hourly line and the broker's
    stop and start run on the main loop (the downlink's)."""

    args: argparse.Namespace
    dl: Downlink
    broker: Broker
    rows: list[Row]
    tally: Tally
    main: asyncio.AbstractEventLoop
    faults: FaultClock
    hour: int = 0
    broker_back_at: float = -1.0
    next_at: float = 0.0  # the next soak time anything is due (faults aside)

    def at(self, soak_t: float, rig: Rig) -> None:
        """Called from a runner's thread: inject due faults, post hourly work."""
        for fault in self.faults.due(soak_t):
            rig.inject(fault)
        if soak_t < self.next_at:
            return
        if self.broker_back_at >= 0 and soak_t >= self.broker_back_at:
            self.main.call_soon_threadsafe(self.broker.start)
            self.broker_back_at = -1.0
        while soak_t >= self.hour * HOUR and self.hour <= self.args.hours:
            self.main.call_soon_threadsafe(self.hourly, self.hour, soak_t)
            if self.hour and self.hour % self.args.outage_every_h == 0:
                self.broker_back_at = soak_t + self.args.outage_min * 60.0
                self.main.call_soon_threadsafe(self.outage)
            self.hour += 1
        self.next_at = min(self.hour * HOUR, self.broker_back_at if self.broker_back_at >= 0
                           else math.inf)

    def hourly(self, hour: int, soak_t: float) -> None:
        hourly(hour, self.dl, self.tally, self.broker, self.rows, soak_t / HOUR)

    def outage(self) -> None:
        if self.broker.up:
            self.broker.stop()  # the broker goes away for a while
            self.broker.outages += 1


def fly(cfg: ControllerConfig, seed: int, args: argparse.Namespace, port: ThreadedDownlink,
        schedule: Schedule, t0: float) -> tuple[bool, float, float]:
    """One mission on its own virtual-clock loop (a worker thread): (done, kg, seconds)."""
    rig = RigConfig(seed=seed, sample_rate_hz=args.sample_rate, plant_rate_hz=args.plant_rate,
                    batch_ms=1000.0 * max(1, round(args.sample_rate / args.control_hz))
                    / args.sample_rate)
    with LockstepRunner(cfg, rig, MISSION, operator=AutoOperator(), downlink=port,
                        record_every=10) as runner:
        runner.observers.append(lambda r: schedule.at(t0 + r.now, r.rig))
        runner.run(max_s=MAX_MISSION_S)
        return runner.done, runner.rig.plant.state.dumped, runner.now


async def soak_lockstep(args: argparse.Namespace, work: Path, broker: Broker,
                        rows: list[Row], tally: Tally) -> None:
    cfg = load_config(None, loop={"rate_hz": args.control_hz,
                                  "stats_interval_s": args.telemetry_s})
    main = asyncio.get_running_loop()
    async with Downlink(downlink_config(cfg, work, broker)) as dl:
        schedule = Schedule(args, dl, broker, rows, tally, main,
                            FaultClock(args.fault_every / 2, args.fault_every))
        port = ThreadedDownlink(dl, main)
        soak_t = 0.0  # simulated seconds since the soak began
        seed = 0
        while soak_t < args.hours * HOUR:
            seed += 1
            done, kg, seconds = await main.run_in_executor(
                None, fly, cfg, seed, args, port, schedule, soak_t)
            tally.add(done, kg)
            soak_t += seconds
        await asyncio.sleep(0.1)  # the last hand-overs
        while schedule.hour <= args.hours:  # the last hour's line
            hourly(schedule.hour, dl, tally, broker, rows, soak_t / HOUR)
            schedule.hour += 1
    print(f"faults injected: {schedule.faults.injected}")


# --- pty mode -----------------------------------------------------------------------------


def pty_faults(hours: float, every_s: float) -> list[str]:
    """Simulated-time faults over the run (the simulator's --fault grammar)."""
    out, t, i = [], every_s / 2, 0
    while t < hours * HOUR:
        kind, _, params = FAULTS[i % len(FAULTS)].partition(":")
        out.append(f"{kind}@{round(t)}:{params}")
        i += 1
        t += every_s
    return out


async def soak_pty(args: argparse.Namespace, work: Path, broker: Broker,
                   rows: list[Row], tally: Tally) -> None:
    scale = args.time_scale
    sim_args = ["--pty", "--link", str(work / "rig.pty"), "--seed", "11",
                "--time-scale", str(scale), "--rate", str(args.sample_rate),
                "--plant-rate", str(args.plant_rate)]
    for spec in pty_faults(args.hours, args.fault_every):
        sim_args += ["--fault", spec]
    # control_hz is per simulated second: the wall rate is that times the scale
    cfg = load_config(None, loop={"time_scale": scale,
                                  "rate_hz": min(500.0, args.control_hz * scale)})
    loop = asyncio.get_running_loop()
    async with SimulatorProcess(sim_args, stderr=subprocess.DEVNULL) as sim, \
            Downlink(downlink_config(cfg, work, broker)) as dl:
        t0 = loop.time()

        def sim_hours() -> float:
            return (loop.time() - t0) * scale / HOUR

        async def sample() -> None:
            hour = 0
            while hour <= args.hours:
                while sim_hours() < hour:
                    await asyncio.sleep(0.05)
                hourly(hour, dl, tally, broker, rows, sim_hours())
                if hour and hour % args.outage_every_h == 0:  # the broker goes away
                    broker.stop()
                    broker.outages += 1
                    await asyncio.sleep(args.outage_min * 60.0 / scale)
                    broker.start()
                hour += 1

        sampler = asyncio.create_task(sample(), name="soak-sampler")
        try:
            while sim_hours() < args.hours:
                ctl = RigController(cfg, sim.url, MISSION, downlink=dl,
                                    operator=AutoOperator(), record_every=10)
                left_wall = (args.hours - sim_hours()) * HOUR / scale
                try:
                    s = await ctl.run(until_complete=True,
                                      max_wall_s=max(1.0, min(left_wall,
                                                              MAX_MISSION_S / scale)))
                    tally.add(s.mission_complete, s.mass_dumped_kg)
                except Exception as err:
                    logging.error("mission failed: %s", err)
                    tally.add(False, 0.0)
                del ctl
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sampler, 60.0)
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler


async def soak(args: argparse.Namespace) -> int:
    rows: list[Row] = []
    tally = Tally()
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: the broker child too
        asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        broker = Broker(work)
        broker.start()
        try:
            run = soak_lockstep if args.mode == "lockstep" else soak_pty
            await run(args, work, broker, rows, tally)
        except asyncio.CancelledError:
            print("stopped early", flush=True)
        finally:
            broker.stop()
    return report(rows, tally, args)


def report(rows: list[Row], tally: Tally, args: argparse.Namespace) -> int:
    after = [r for r in rows if r[0] >= 1.0]
    scale = "lockstep" if args.mode == "lockstep" else f"time scale {args.time_scale:g}"
    print(f"\nmode {args.mode} ({scale}); simulated hours {rows[-1][0] if rows else 0:.1f}; "
          f"missions {tally.flown}, completed with their mass {tally.completed}; "
          f"completed per hour min {min(tally.per_hour, default=0)} "
          f"max {max(tally.per_hour, default=0)}")
    if len(after) < 2:
        print("too few hourly samples for a slope: NOT met")
        return 1
    h = np.array([r[0] for r in after])
    rss = np.array([r[1] for r in after])
    slope = float(np.polyfit(h, rss, 1)[0])
    fds = [r[2] for r in after]
    biggest = max(r[4] for r in rows)
    goals = {
        f"RSS slope after hour 1: {slope:+.3f} MiB per simulated hour (goal < 1.0)": slope < 1.0,
        f"open fds after hour 1: {min(fds)}..{max(fds)} (goal: spread <= 4)":
            max(fds) - min(fds) <= 4,
        f"outbox at most {biggest / 1e6:.2f} MB (budget {BUDGET / 1e6:.0f} MB)":
            biggest <= BUDGET,
        f"missions completed in every simulated hour (fewest {min(tally.per_hour, default=0)})":
            min(tally.per_hour, default=0) > 0,
    }
    for text, ok in goals.items():
        print(f"{text}: {'met' if ok else 'NOT met'}")
    return 0 if all(goals.values()) else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    ap.add_argument("--mode", choices=("lockstep", "pty", "process"), default="lockstep")
    ap.add_argument("--time-scale", type=float, default=20.0, help="pty and process modes")
    ap.add_argument("--minutes", type=float, default=60.0, help="process mode: wall minutes")
    ap.add_argument("--warmup-min", type=float, default=15.0,
                    help="process mode: wall minutes left out of the slope (the default "
                         "takes in the first broker outage: malloc's high-water mark)")
    ap.add_argument("--replay", metavar="FILE",
                    help="process mode: judge the sample lines of a saved run's output "
                         "again (with this --warmup-min) instead of running")
    ap.add_argument("--sample-s", type=float, default=60.0,
                    help="process mode: wall seconds between samples")
    ap.add_argument("--outage-every-min", type=float, default=12.0,
                    help="process mode: the broker goes away every this many wall minutes")
    ap.add_argument("--outage-s", type=float, default=90.0,
                    help="process mode: for this many wall seconds")
    ap.add_argument("--settle-min", type=float, default=3.0,
                    help="process mode: wall minutes after each outage left out of the "
                         "slope with the outage (the backlog drains, the heap is trimmed)")
    ap.add_argument("--workdir", help="process mode: keep the logs, outbox and probe here "
                                      "(default: a temporary directory, removed)")
    ap.add_argument("--types", action="store_true",
                    help="process mode: print the object types whose count grew most")
    ap.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                    help="process mode: trace the controller's allocations and print what "
                         "grew (distorts the RSS slope)")
    ap.add_argument("--control-hz", type=float, default=25.0,
                    help="control steps per simulated second")
    ap.add_argument("--sample-rate", type=int, default=200,
                    help="fast stream, simulated Hz (the rig's is 1000; 200 keeps a 24-hour "
                         "lockstep soak within about an hour of a loaded core)")
    ap.add_argument("--plant-rate", type=int, default=200, help="physics, simulated Hz")
    ap.add_argument("--fault-every", type=float, default=600.0, help="simulated seconds")
    ap.add_argument("--outage-every-h", type=int, default=3)
    ap.add_argument("--outage-min", type=float, default=15.0,
                    help="broker outage, simulated minutes")
    ap.add_argument("--telemetry-s", type=float, default=5.0,
                    help="lockstep: loop.stats_interval_s, simulated (the app publishes "
                         "each wall second: 5 simulated at the demo's scale)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    if args.mode == "process" and args.replay:
        code = replay(Path(args.replay), args)
    elif args.mode == "process" and args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        code = soak_process(args, Path(args.workdir).resolve())
    elif args.mode == "process":
        with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
            code = soak_process(args, Path(tmp))
    else:
        code = asyncio.run(soak(args))
    print(f"wall time {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
