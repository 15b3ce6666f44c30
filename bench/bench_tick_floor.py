"""Where a control tick's CPU goes: a cost ladder from an idle loop to the controller.

Issue 14 asks the 100 Hz reference run (``bench/bench_control.py``) to cost at most
0.3 ms of CPU per tick. This benchmark measures, in one run on the same machine,
the CPU per 100 Hz tick of a ladder in which each rung adds one layer:

0. **bare wake-up**: ``time.sleep`` to each deadline, no event loop, no Python
   work: what this machine (its kernel and, on a virtual machine, its
   hypervisor) charges a process for waking at that rate;
1. **idle loop**: an asyncio loop woken by ``loop.call_at`` every period and
   nothing else (the floor any asyncio service pays at that rate);
2. **pty I/O**: the same loop reading a pseudo-terminal through the bridge's
   port and transport (``firmware_bridge.transport.open_link``, no link on top)
   while a child process writes the
   byte stream the simulator sends (the same bytes per second, in the same number
   of writes), and writing one set-point-sized frame per tick: what the
   operating system and the serial layer cost without any protocol;
3. **bridge**: the real ``firmware_bridge.Bridge`` against ``python -m sim_hw``
   (handshake, framing, CRC, decode, sequence accounting, heartbeats, events):
   a set-point each tick, every event drained; no control;
4. **controller**: ``control.runtime.app.RigController`` as in ``bench_control.py``'s
   reference run (the bridge plus the sensor feed, the control step, the
   interlocks, the mission, the records).

It prints each rung's CPU per tick and what it adds over the rung below, next to
the goal (0.3 ms per tick): the difference between rung 4 and rung 3 is the
control logic's share, and the rungs below it are what any design in this
process pays before it computes anything.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import subprocess
import sys
import tempfile
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_control import on_time  # bench/, this script's directory

from control.core.auto_operator import AutoOperator
from control.core.config import load_config
from control.core.mission import DEFAULT_MISSION
from control.demo.sim_process import SimulatorProcess
from control.runtime.app import RigController
from firmware_bridge import Bridge
from firmware_bridge.codec import encode_frame
from firmware_bridge.messages import Setpoints
from firmware_bridge.transport import open_link

GOAL_MS = 0.3
SIM_ARGS = ["--seed", "7", "--rate", "100", "--batch-ms", "10", "--time-scale", "1"]


def rung_wake(rate_hz: float, seconds: float) -> float:
    period = 1.0 / rate_hz
    cpu0, deadline, n = time.process_time(), time.monotonic(), 0
    end = deadline + seconds
    while deadline < end:
        deadline += period
        time.sleep(max(0.0, deadline - time.monotonic()))
        n += 1
    return (time.process_time() - cpu0) / n


async def rung_idle(rate_hz: float, seconds: float) -> float:
    cpu0 = time.process_time()
    n = await on_time(rate_hz, seconds, lambda _deadline: None)
    return (time.process_time() - cpu0) / n


class _Discard(asyncio.Protocol):
    def __init__(self) -> None:
        self.received = 0

    def data_received(self, data: bytes) -> None:
        self.received += len(data)


#: the firmware end, in its own process: writes the simulator's byte rate and reads
#: (discards) the set-points, so neither costs the measured process anything
FIRMWARE_END = """
import os, sys, time
fd = int(sys.argv[1])
per_s, writes_per_s, seconds = (float(a) for a in sys.argv[2:5])
os.set_blocking(fd, False)
size = max(1, round(per_s / writes_per_s))
chunk = (bytes(range(256)) * (1 + size // 256))[:size]
period, t = 1.0 / writes_per_s, time.monotonic()
end = t + seconds
while t < end:
    t += period
    time.sleep(max(0.0, t - time.monotonic()))
    try:
        os.write(fd, chunk)
        os.read(fd, 65536)
    except BlockingIOError:
        pass
"""


async def rung_pty(rate_hz: float, seconds: float, bytes_per_s: float, writes_per_s: float,
                   frame: bytes) -> tuple[float, int]:
    firmware_end, port_end = pty.openpty()  # the serial port opens the pty's slave end
    tty.setraw(firmware_end)
    tty.setraw(port_end)
    transport, proto = await open_link(os.ttyname(port_end), _Discard)  # the bridge's port
    peer = subprocess.Popen([sys.executable, "-c", FIRMWARE_END, str(firmware_end),
                             str(bytes_per_s), str(writes_per_s), str(seconds + 1.0)],
                            pass_fds=(firmware_end,))
    try:
        cpu0 = time.process_time()
        n = await on_time(rate_hz, seconds, lambda _deadline: transport.write(frame))
        cpu = (time.process_time() - cpu0) / n
    finally:
        transport.close()
        peer.kill()
        await asyncio.to_thread(peer.wait)
        for fd in (firmware_end, port_end):
            os.close(fd)
    return cpu, proto.received


async def rung_bridge(rate_hz: float, seconds: float) -> tuple[float, float, float]:
    """CPU per tick, and the bytes and reads per second the simulator sent."""
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        args = ["--pty", "--link", str(Path(tmp) / "rig.pty"), *SIM_ARGS]
        async with SimulatorProcess(args) as sim, Bridge(sim.url) as bridge:
            async def consume() -> None:
                async for _ev in bridge.events():
                    while bridge.get_event_nowait() is not None:
                        pass
            consumer = asyncio.create_task(consume())

            def tick(_deadline: float) -> None:
                if bridge.is_up:
                    bridge.send_setpoints(0.0, 0.0, enable=False, ttl=0.1)

            await asyncio.sleep(0.5)  # past the handshake and the first heartbeats
            c0 = bridge.link.counters()
            cpu0, t0 = time.process_time(), time.monotonic()
            n = await on_time(rate_hz, seconds, tick)
            cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
            c1 = bridge.link.counters()
            consumer.cancel()
    return (cpu / n, (c1.bytes_rx - c0.bytes_rx) / wall, (c1.frames_rx - c0.frames_rx) / wall)


async def rung_controller(rate_hz: float, seconds: float) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        args = ["--pty", "--link", str(Path(tmp) / "rig.pty"), *SIM_ARGS]
        async with SimulatorProcess(args) as sim:
            cfg = load_config(None, loop={"time_scale": 1.0, "rate_hz": rate_hz})
            ctl = RigController(cfg, sim.url, DEFAULT_MISSION, operator=AutoOperator(),
                                record_every=10)
            s = await ctl.run(max_wall_s=seconds)
    return s.cpu_s / max(s.loop["ticks"], 1)


async def main(seconds: float, rate_hz: float) -> None:
    print(f"CPU per {rate_hz:.0f} Hz tick, {seconds:.0f} s per rung, one run, this machine; "
          f"goal for the controller: {GOAL_MS} ms")
    frame = encode_frame(Setpoints(0, 0.0, 0.0, False), seq=1)
    wake = rung_wake(rate_hz, seconds)  # blocks this loop: nothing else runs yet
    idle = await rung_idle(rate_hz, seconds)
    bridge, bytes_per_s, frames_per_s = await rung_bridge(rate_hz, seconds)
    io, got = await rung_pty(rate_hz, seconds, bytes_per_s, frames_per_s, frame)
    ctl = await rung_controller(rate_hz, seconds)
    rows = [("0 bare wake-up (time.sleep, no event loop)", wake),
            ("1 idle asyncio loop", idle),
            (f"2 + pty I/O ({bytes_per_s:,.0f} B/s in {frames_per_s:.0f} writes/s, "
             f"{len(frame)} B out per tick)", io),
            ("3 + bridge (link, framing, codec, events)", bridge),
            ("4 + control (bench_control's reference run)", ctl)]
    below = 0.0
    for name, cost in rows:
        print(f"{name:<62} {1e3 * cost:6.3f} ms/tick  (+{1e3 * (cost - below):6.3f})  "
              f"{100 * cost * rate_hz:5.1f} % of a core")
        below = cost
    print(f"controller {1e3 * ctl:.3f} ms/tick = {ctl / (GOAL_MS / 1e3):.2f} x the goal; "
          f"rungs 1-3 (no control at all) {1e3 * bridge:.3f} ms/tick = "
          f"{bridge / (GOAL_MS / 1e3):.2f} x the goal")
    print(f"(pty rung read {got:,} bytes)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--rate-hz", type=float, default=100.0)
    a = p.parse_args()
    asyncio.run(main(a.seconds, a.rate_hz))
