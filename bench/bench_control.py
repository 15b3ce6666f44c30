"""Control-loop timing under sensor load: the demo mission against the simulator.

Runs the controller in this process against ``python -m sim_hw`` on a pty
(time scale 1, so plant time is wall time) twice for the same wall duration:

* full load: 10 kHz raw x 12 fast channels (+ the 20 Hz navigation stream);
* reference: the same loop with (almost) no sensor load: 100 Hz raw.

Prints control-loop lateness p50/p99/max, sensor-to-setpoint latency p50/p99,
the controller process's CPU and the channel-samples filtered per second.
Goals: p99 lateness < 2 ms at 100 Hz with full load, sensor-to-setpoint
p99 < 15 ms, controller < 40 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from control.app import RigController
from control.config import load_config
from control.mission import DEFAULT_MISSION
from control.operator import AutoOperator
from control.sim_process import SimulatorProcess


async def one_run(rate_hz: int, batch_ms: float, seconds: float, loop_hz: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-control-") as tmp:
        args = ["--pty", "--link", str(Path(tmp) / "rig.pty"), "--seed", "7", "--rate",
                str(rate_hz), "--batch-ms", str(batch_ms), "--time-scale", "1"]
        async with SimulatorProcess(args) as sim:
            cfg = load_config(None, loop={"time_scale": 1.0, "rate_hz": loop_hz})
            ctl = RigController(cfg, sim.url, DEFAULT_MISSION, operator=AutoOperator(),
                                record_every=10)
            cpu0, t0 = time.process_time(), time.monotonic()
            s = await ctl.run(max_wall_s=seconds)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
    return {"summary": s, "cpu": cpu / wall, "wall": wall,
            "filtered_per_s": s.samples_filtered / wall}


def show(name: str, r: dict) -> None:
    lp = r["summary"].loop
    print(f"{name:<28} lateness p50 {lp['lateness_p50_ms']:6.3f} ms  p99 "
          f"{lp['lateness_p99_ms']:6.3f} ms  max {lp['lateness_max_ms']:7.3f} ms | "
          f"sensor->setpoint p50 {lp['latency_p50_ms']:6.3f} ms  p99 "
          f"{lp['latency_p99_ms']:6.3f} ms | CPU {100 * r['cpu']:5.1f} % | "
          f"{r['filtered_per_s']:12,.0f} ch-samples/s | ticks {lp['ticks']:.0f} "
          f"missed {lp['missed']:.0f} | mode {r['summary'].final_mode}")


async def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--loop-hz", type=float, default=100.0)
    a = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    print(f"control loop {a.loop_hz:g} Hz, {a.seconds:g} s per run, time scale 1")
    ref = await one_run(100, 10.0, a.seconds, a.loop_hz)
    show("reference (100 Hz raw)", ref)
    full = await one_run(10_000, 2.0, a.seconds, a.loop_hz)
    show("full load (10 kHz x 12 ch)", full)
    lp = full["summary"].loop
    ok = lp["lateness_p99_ms"] < 2.0 and lp["latency_p99_ms"] < 15.0 and full["cpu"] < 0.4
    print("goals (p99 lateness < 2 ms, sensor->setpoint p99 < 15 ms, CPU < 40 %):",
          "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
