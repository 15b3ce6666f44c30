"""Run the controller against the in-process simulator over a real pty."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

from control.core.auto_operator import AutoOperator
from control.core.config import load_config
from control.core.mission import MissionPlan, MissionSite
from control.runtime.app import RigController
from sim_hw.rig import Rig, RigConfig
from sim_hw.scenario import parse_fault

TIME_SCALE = 8.0
SMALL_MISSION = MissionPlan("it", (MissionSite("A", 1.5, 0.0, 25.0, 4),), dump_x=0.0, dump_y=0.0)


def controller_config(**loop: Any):
    return load_config(None, loop={"time_scale": TIME_SCALE, "rate_hz": 250.0, **loop})


@asynccontextmanager
async def simulator(*faults: str, seed: int = 3, time_scale: float = TIME_SCALE):
    rig = Rig(RigConfig(seed=seed, time_scale=time_scale,
                        faults=tuple(parse_fault(f) for f in faults)))
    url = await rig.start()
    try:
        yield rig, url
    finally:
        await rig.stop()


async def run_mission(url: str, mission: MissionPlan = SMALL_MISSION, *,
                      max_wall_s: float = 60.0, operator: AutoOperator | None = None,
                      **loop: Any):
    ctl = RigController(controller_config(**loop), url, mission,
                        operator=operator or AutoOperator(), record_every=5)
    summary = await ctl.run(until_complete=True, max_wall_s=max_wall_s)
    return ctl, summary


async def wait_for(predicate, timeout: float, what: str, interval: float = 0.01) -> None:
    """Poll *predicate* until true; fail after an explicit deadline (no hoping sleeps)."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(interval)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout} s") from None
