"""Benchmark of the rig simulator: CPU share at 1 and 10 kHz, highest real-time raw rate.

Runs ``python -m sim_hw --tcp`` as a separate process (so its CPU time is its
own), connects a ``firmware_bridge.Bridge`` from this process and consumes the
batches, and reads the simulator's CPU time from /proc (Linux). A rate is
"sustained" when the simulated time carried by the batches keeps up with the
wall clock (>= 97 %) and the simulator uses less than 95 % of one core.
Prints only; not a test. Runtime about 30-50 s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from pathlib import Path

from firmware_bridge.bridge import Bridge
from firmware_bridge.link import MessageReceived
from firmware_bridge.messages import SampleBatch

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = 12
GOAL = 0.30
MEASURE_S = 3.0
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


async def run_at(rate: int) -> tuple[float, float]:
    """(CPU share of the simulator, simulated/wall time ratio) at *rate* Hz x 12 channels."""
    batch_ms = 5.0 if rate <= 20_000 else 100_000 / rate  # 100 samples per batch
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_hw", "--tcp", "127.0.0.1:0", "--rate", str(rate),
        "--batch-ms", repr(batch_ms), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    assert proc.stdout is not None
    try:
        line = (await proc.stdout.readline()).decode().split()
        if len(line) != 2 or line[0] != "READY":
            return 0.0, 0.0  # did not start (its stderr says why)
        url = line[1]
        async with Bridge(url) as bridge:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(0.5)  # warm up
            while bridge.get_event_nowait() is not None:
                pass
            c0, w0 = cpu_seconds(proc.pid), time.monotonic()
            t_first = t_last = None
            end = loop.time() + MEASURE_S
            async for ev in bridge.events():
                if isinstance(ev, MessageReceived) and isinstance(ev.message, SampleBatch) \
                        and ev.message.stream_id == 0:
                    t_last = ev.message.t0_us
                    t_first = t_first if t_first is not None else t_last
                if loop.time() >= end:
                    break
            c1, w1 = cpu_seconds(proc.pid), time.monotonic()
    finally:
        proc.terminate()
        await proc.wait()
    share = (c1 - c0) / (w1 - w0)
    keep_up = ((t_last or 0) - (t_first or 0)) / 1e6 / (w1 - w0)
    return share, keep_up


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # an overloaded run loses its link: expected
    print("rig-sim benchmark: one simulator process; CPU share = its CPU time / wall time")
    share1, _ = await run_at(1_000)
    print(f"   1 kHz x {CHANNELS} channels: CPU {share1 * 100:5.1f} % of one core")
    share10, keep10 = await run_at(10_000)
    verdict = "OK" if share10 < GOAL and keep10 > 0.97 else "MISSED"
    print(f"  10 kHz x {CHANNELS} channels: CPU {share10 * 100:5.1f} % of one core "
          f"(goal: < {GOAL * 100:.0f} %) {verdict}")
    best = None
    rate = 20_000
    while rate <= 2_560_000:
        share, keep = await run_at(rate)
        ok = keep > 0.97 and share < 0.95
        print(f"  {rate / 1000:6.0f} kHz x {CHANNELS}: CPU {share * 100:5.1f} %, simulated/wall "
              f"{keep:4.2f} -> {'sustained' if ok else 'not sustained'}")
        if not ok:
            break
        best = (rate, share)
        rate *= 2
    if best is None:
        best = (10_000, share10)
    r, s = best
    print(f"highest raw sample rate sustained in real time: {r / 1000:.0f} kHz x {CHANNELS} "
          f"channels = {r * CHANNELS / 1e6:.2f} M samples/s (CPU {s * 100:.0f} % of one core)")


if __name__ == "__main__":
    asyncio.run(main())
