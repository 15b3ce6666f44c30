"""power_limited's overlapped sequencing on the plant model (controller core + compiled
filters + simulated firmware, plant and sensors in lockstep simulated time): the arm
moves while the rig drives, within the firmware's rule, and the baseline's drives still
hold the arm."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from control.core.config import load_config
from control.core.mission import MissionPlan, MissionSite
from control.core.strategy import BASELINE_STRATEGY, DigPhase
from control.core.supervisor import Mode
from firmware_bridge.messages import CommandCode
from rig_bench.lockstep import LockstepRunner
from sim_hw.firmware import FirmwareConfig
from sim_hw.plant_config import SOIL_PRESETS
from sim_hw.rig import RigConfig

#: two buckets from a site 2.5 m from the dump (the second one ends at the site target)
TWO = MissionPlan("two", (MissionSite("A", 2.5, 0.0, 40.0, 3),), dump_x=0.0, dump_y=0.0)
FW = FirmwareConfig()


@dataclass
class Watch:
    lowest_driving_m: float = math.inf  # drum height while a DRIVE_TO moves the rig
    fastest_low_m_s: float = 0.0  # drive speed while the drum is below the low height
    arm_travel_driving_m: float = 0.0  # how far the arm moved during drives
    approach_s: list[float] = field(default_factory=list)  # per dig
    follow_drives: int = 0
    hold_drives: int = 0


def fly(kind: str, soil: str = "compacted", seed: int = 2) -> tuple[LockstepRunner, Watch]:
    strategy = dict(BASELINE_STRATEGY) if kind == "pi_current" else {"kind": kind}
    cfg = load_config(None, strategy=strategy, loop={"rate_hz": 50.0})
    runner = LockstepRunner(cfg, RigConfig(seed=seed, soil=SOIL_PRESETS[soil], batch_ms=20.0),
                            TWO)
    rig = runner.rig
    w = Watch()
    last_arm = [rig.plant.state.arm_pos]
    last_heading = [rig.plant.state.heading]

    def watch(r: LockstepRunner) -> None:
        s, action = rig.plant.state, rig.firmware.action
        driving = action is not None and action.code is CommandCode.DRIVE_TO
        if driving and (abs(s.speed) > 1e-3 or abs(s.heading - last_heading[0]) > 1e-5):
            w.lowest_driving_m = min(w.lowest_driving_m, s.arm_pos)
            if s.arm_pos < FW.drive_low_arm_height:
                w.fastest_low_m_s = max(w.fastest_low_m_s, abs(s.speed))
        if driving:
            w.arm_travel_driving_m += abs(s.arm_pos - last_arm[0])
        last_arm[0], last_heading[0] = s.arm_pos, s.heading
        for req in (r.last_output.requests if r.last_output else ()):
            if getattr(req, "code", None) is CommandCode.DRIVE_TO:
                if len(req.args) > 3 and req.args[3] == 1.0:
                    w.follow_drives += 1
                else:
                    w.hold_drives += 1

    approach: dict[float, float] = {}

    def time_approach(r: LockstepRunner) -> None:
        if r.core.mode is Mode.DIGGING and r.core.strategy.phase is DigPhase.APPROACHING:
            since = r.core.supervisor.since
            approach[since] = approach.get(since, 0.0) + r.period

    runner.observers += [watch, time_approach]
    result = runner.run(max_s=400.0)
    runner.close()
    assert result.complete
    w.approach_s = list(approach.values())
    return runner, w


@pytest.mark.parametrize("soil", ["loose", "compacted"])
def test_power_limited_moves_the_arm_while_driving_within_the_rule(soil: str) -> None:
    runner, w = fly("power_limited", soil)
    st = runner.core.stats
    assert (st.stalls, st.interlock_trips, st.obstacles) == (0, 0, 0)
    assert st.cycles == 2 and w.follow_drives >= 3 and w.hold_drives == 0
    # the rule the firmware enforces: drum clear of the ground, slow while low
    assert w.lowest_driving_m >= FW.drive_arm_clearance - FW.stow_tolerance - 1e-3
    assert w.fastest_low_m_s <= FW.drive_low_arm_speed + 1e-6
    # the overlap itself: the arm travels ~0.27 m down and ~0.3 m up per cycle while driving
    assert w.arm_travel_driving_m > 1.0
    # ...so a dig reaches the soil within a second or two of the arrival (6 s in the air
    # before, at the arm's 0.05 m/s)
    assert len(w.approach_s) == 2 and max(w.approach_s) < 2.0


def test_the_baseline_drives_with_the_arm_held_and_approaches_in_the_air() -> None:
    _, w = fly("pi_current")
    assert w.follow_drives == 0 and w.hold_drives >= 3
    assert w.arm_travel_driving_m < 0.01
    assert min(w.approach_s) > 4.0
