"""The chaos test's rig: the simulator in a process of its own, telling the test what it does.

    python -m tests.integration.chaos_rig --seed 5 --time-scale 3

Runs ``sim_hw.rig.Rig`` behind a pty and prints ``READY <pty>``, then one JSON line
per change of the firmware's state and at least every ``--every`` wall seconds::

    {"wall": 1234.5, "sim": 12.25, "motors": true, "tripped": false, "slipped": 0.0}

``wall`` is ``time.monotonic()`` (the same clock in every process of the machine),
``sim`` the simulated seconds, ``motors`` whether the firmware powers the motors,
``tripped`` whether its watchdog stopped them, ``slipped`` the simulated seconds lost
because the machine was too slow. Runs until SIGTERM or SIGINT, then exits 0.

Why a process: the simulator is the firmware of a real rig, which no other program
starves. In the test's own process it shares one interpreter with the noise proxy,
the ground subscriber and the test's polling, and a loaded machine then stalls it for
longer than the link's wall-time liveness deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import Sequence

from sim_hw.rig import Rig, RigConfig

__all__ = ["main"]

log = logging.getLogger(__name__)


def _state(rig: Rig) -> dict[str, object]:
    fw = rig.firmware
    return {"motors": fw.motors_enabled, "tripped": fw.watchdog_tripped}


async def _run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    rig = Rig(RigConfig(seed=args.seed, time_scale=args.time_scale, sensors=args.sensors))
    url = await rig.start()
    try:
        print(f"READY {url}", flush=True)
        last: dict[str, object] | None = None
        last_wall = 0.0
        while not stop.is_set():
            now = time.monotonic()
            state = _state(rig)
            if state != last or now - last_wall >= args.every:
                line = {"wall": round(now, 4), "sim": round(rig.sim_time, 4), **state,
                        "slipped": round(rig.stats.slipped_s, 3)}
                print(json.dumps(line), flush=True)
                last, last_wall = state, now
            await asyncio.sleep(args.poll)
    finally:
        await rig.stop()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="chaos_rig", description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--sensors", default="noisy", help="sensor profile (rig-sim --sensors)")
    p.add_argument("--poll", type=float, default=0.002, help="state poll period (wall s)")
    p.add_argument("--every", type=float, default=0.25, help="report at least this often")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
