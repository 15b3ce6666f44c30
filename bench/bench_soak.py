"""Soak: repeated missions for many simulated hours, with faults and a broker that
comes and goes. Watches the controller process for leaks. Not part of CI.

The simulator runs as a child process (``python -m sim_hw``, at a high time
scale, with a fault schedule: rocks, sensor spikes, cable pulls and firmware
resets spread over the run); a real Mosquitto runs as another child and is
stopped for a while every few simulated hours; the controller runs in THIS
process with its downlink (outbox on disk), the auto operator and one mission
after another (a fresh ``RigController`` per mission on the same downlink, as
the service's restarts would). Every simulated hour (controller plant time) it
prints the process's RSS, its open file descriptors and the outbox depth and
size. At the end: the least-squares RSS slope after the first hour.

Goals: RSS slope < 1 MiB per simulated hour after the first hour; descriptors
flat (spread <= 4 after the first hour); outbox within its disk budget.

    .venv/bin/python bench/bench_soak.py [--hours 24] [--time-scale 100]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from control.app import RigController
from control.config import load_config
from control.mission import MissionPlan, MissionSite
from control.operator import AutoOperator
from control.sim_process import SimulatorProcess
from telemetry.downlink import Downlink, DownlinkConfig

MISSION = MissionPlan("soak", (MissionSite("A", 1.5, 0.0, 25.0, 4),), dump_x=0.0, dump_y=0.0)
HOUR = 3600.0
BUDGET = 64 << 20  # outbox disk budget for the run


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def fault_schedule(hours: float) -> list[str]:
    """Simulated-time faults over the run (the simulator's --fault grammar)."""
    out = []
    t = 900.0
    kinds = ["rock@{t}:torque=250", "spikes@{t}:channel=drum_current,duration=5",
             "disconnect@{t}:duration=3", "reset@{t}:reason=watchdog",
             "stuck@{t}:channel=vibration,duration=120"]
    i = 0
    while t < hours * HOUR:
        out.append(kinds[i % len(kinds)].format(t=round(t)))
        i += 1
        t += 1800.0
    return out


class Broker:
    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        conf = workdir / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                        f"persistence false\n")
        self.argv = [binary, "-c", str(conf)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.outages = 0

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


async def soak(args: argparse.Namespace) -> int:
    scale = args.time_scale
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        broker = Broker(work)
        broker.start()
        sim_args = ["--pty", "--link", str(work / "rig.pty"), "--seed", "11",
                    "--time-scale", str(scale), "--rate", str(args.sample_rate),
                    "--batch-ms", str(args.batch_ms), "--plant-rate", str(args.plant_rate)]
        for spec in fault_schedule(args.hours):
            sim_args += ["--fault", spec]
        cfg = load_config(None, loop={"time_scale": scale, "rate_hz": args.loop_rate})
        dl_cfg = DownlinkConfig(rig_id=cfg.ground.rig_id, outbox_path=work / "outbox.db",
                                broker_url=broker.url, disk_budget_bytes=BUDGET,
                                reconnect_initial_s=0.1, reconnect_cap_s=1.0)
        loop = asyncio.get_running_loop()
        rows: list[tuple[float, float, int, int, int]] = []
        missions = completed = 0
        try:
            async with SimulatorProcess(sim_args, stderr=subprocess.DEVNULL) as sim, \
                    Downlink(dl_cfg) as dl:
                t0 = loop.time()

                def sim_hours() -> float:
                    return (loop.time() - t0) * scale / HOUR

                async def sample() -> None:
                    hour = 0
                    next_outage = args.outage_every_h
                    while True:
                        while sim_hours() < hour:
                            await asyncio.sleep(0.05)
                        c = dl.counters
                        row = (sim_hours(), rss_mib(), open_fds(), c.outbox_depth,
                               c.outbox_bytes)
                        rows.append(row)
                        print(f"hour {hour:3d}  RSS {row[1]:8.1f} MiB  fds {row[2]:4d}  "
                              f"outbox {row[3]:7d} msgs {row[4] / 1e6:8.2f} MB  "
                              f"missions {missions} ({completed} complete)  "
                              f"broker outages {broker.outages}", flush=True)
                        if hour >= next_outage:  # the broker goes away for a while
                            broker.stop()
                            broker.outages += 1
                            await asyncio.sleep(args.outage_s)
                            broker.start()
                            next_outage += args.outage_every_h
                        hour += 1

                sampler = asyncio.create_task(sample(), name="soak-sampler")
                try:
                    while sim_hours() < args.hours:
                        missions += 1
                        ctl = RigController(cfg, sim.url, MISSION, downlink=dl,
                                            operator=AutoOperator(), record_every=10)
                        left_wall = (args.hours - sim_hours()) * HOUR / scale
                        with contextlib.suppress(Exception):
                            s = await ctl.run(until_complete=True,
                                              max_wall_s=max(1.0, min(left_wall, 600.0)))
                            completed += int(s.mission_complete)
                        del ctl
                    while len(rows) <= int(args.hours) and not sampler.done():
                        await asyncio.sleep(0.05)
                finally:
                    sampler.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await sampler
        finally:
            broker.stop()
    return report(rows, missions, completed, args)


def report(rows: list[tuple[float, float, int, int, int]], missions: int, completed: int,
           args: argparse.Namespace) -> int:
    after = [r for r in rows if r[0] >= 1.0]
    print(f"\nmissions {missions}, completed {completed}, simulated hours "
          f"{rows[-1][0] if rows else 0:.1f}, time scale {args.time_scale:g}")
    if len(after) < 2:
        print("too few hourly samples for a slope: NOT met")
        return 1
    h = np.array([r[0] for r in after])
    rss = np.array([r[1] for r in after])
    slope = float(np.polyfit(h, rss, 1)[0])
    fds = [r[2] for r in after]
    biggest = max(r[4] for r in rows)
    ok_rss = slope < 1.0
    ok_fds = max(fds) - min(fds) <= 4
    ok_outbox = biggest <= BUDGET
    print(f"RSS slope after hour 1: {slope:+.3f} MiB per simulated hour (goal < 1.0): "
          f"{'met' if ok_rss else 'NOT met'}")
    print(f"open fds after hour 1: {min(fds)}..{max(fds)} (goal: spread <= 4): "
          f"{'met' if ok_fds else 'NOT met'}")
    print(f"outbox at most {biggest / 1e6:.2f} MB (budget {BUDGET / 1e6:.0f} MB): "
          f"{'met' if ok_outbox else 'NOT met'}")
    return 0 if ok_rss and ok_fds and ok_outbox else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    ap.add_argument("--time-scale", type=float, default=100.0)
    ap.add_argument("--loop-rate", type=float, default=50.0, help="control loop Hz (wall)")
    ap.add_argument("--sample-rate", type=int, default=1000, help="fast stream, simulated Hz")
    ap.add_argument("--batch-ms", type=float, default=20.0)
    ap.add_argument("--plant-rate", type=int, default=200, help="physics, simulated Hz")
    ap.add_argument("--outage-every-h", type=int, default=3)
    ap.add_argument("--outage-s", type=float, default=3.0, help="wall seconds")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    started = time.monotonic()
    code = asyncio.run(soak(args))
    print(f"wall time {time.monotonic() - started:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
