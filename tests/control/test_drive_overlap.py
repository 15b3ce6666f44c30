"""power_limited's sequencing: the arm moves while the rig drives (control.core.drive_overlap)
and the core's mission flow around it; the baseline keeps today's sequence."""

from dataclasses import replace

import pytest

from control.core.commands import CommandName
from control.core.config import StrategyConfig
from control.core.drive_overlap import Leg, leg_setpoint
from control.core.mission import MissionPlan, MissionSite
from control.core.step import ControlCore, LinkDown, RequestFinished
from control.core.strategy import BASELINE_STRATEGY
from control.core.supervisor import Mode, Trigger
from firmware_bridge.messages import Capability, CommandCode

from .helpers import Driver, config, meas
from .test_step import WALL, cmd, requests

C = StrategyConfig()
SITE = Leg(2.0, 0.0, to_dig=True)
PLAN = MissionPlan("t", (MissionSite("A", 2.0, 0.0, 20.0, 3),), dump_x=0.0, dump_y=0.0)


@pytest.mark.parametrize("x", [-3.0, 0.0, 2.0 - C.lower_within_m - 0.01])
def test_far_from_the_site_the_arm_rides_stowed_and_the_drum_is_still(x: float) -> None:
    sp = leg_setpoint(C, SITE, meas(x=x))
    assert (sp.drum_speed, sp.cut_depth) == (0.0, C.stow_depth_m)


def test_near_the_site_the_arm_comes_down_to_the_clearance_then_the_drum_spins_up() -> None:
    lowering = leg_setpoint(C, SITE, meas(x=2.0 - C.lower_within_m + 0.01))
    assert lowering.cut_depth == pytest.approx(-C.drive_clearance_m)
    assert lowering.drum_speed == 0.0
    spinning = leg_setpoint(C, SITE, meas(x=2.0 - C.spin_up_within_m + 0.01))
    assert spinning.drum_speed == C.dig_speed_rad_s
    assert spinning.cut_depth == pytest.approx(-C.drive_clearance_m)


def test_never_asks_for_the_drum_below_the_ground_while_driving() -> None:
    c = replace(C, drive_clearance_m=0.0)
    for x in (1.0, 1.9, 2.0, 2.1):
        assert leg_setpoint(c, SITE, meas(x=x)).cut_depth <= 0.0


def test_to_the_dump_the_arm_rises_to_the_stow_height_with_the_drum_still() -> None:
    for x in (2.0, 1.0, 0.1):
        sp = leg_setpoint(C, Leg(0.0, 0.0, to_dig=False), meas(x=x))
        assert (sp.drum_speed, sp.cut_depth) == (0.0, C.stow_depth_m)


def started(strategy: dict | None = None, capabilities: int | None = None) -> Driver:
    d = Driver(ControlCore(config(**({"strategy": strategy} if strategy else {})), PLAN))
    if capabilities is None:
        d.connect()
    else:
        d.connect(capabilities)
    assert d.core.handle_command(cmd(CommandName.ARM), d.now, WALL).accepted
    d.step()
    d.step()
    assert d.core.handle_command(cmd(CommandName.START, "s"), d.now, WALL).accepted
    d.step()
    assert d.core.mode is Mode.DRIVING
    return d


def test_power_limited_drives_with_the_arm_following_the_setpoints() -> None:
    d = started()
    drive = requests(d, CommandCode.DRIVE_TO)[-1]
    assert drive.args == (2.0, 0.0, PLAN.drive_speed_m_s, 1.0)
    far = d.step(meas(x=0.2), auto_ok=False)
    assert far.setpoints is not None and far.setpoints.cut_depth == C.stow_depth_m
    near = d.step(meas(x=1.8), auto_ok=False)
    assert near.setpoints is not None
    assert near.setpoints.cut_depth == pytest.approx(-C.drive_clearance_m)
    assert near.setpoints.drum_speed == C.dig_speed_rad_s


def test_the_baseline_keeps_todays_drive_with_the_arm_held() -> None:
    d = started(dict(BASELINE_STRATEGY))
    drive = requests(d, CommandCode.DRIVE_TO)[-1]
    assert drive.args == (2.0, 0.0, PLAN.drive_speed_m_s)
    near = d.step(meas(x=1.8), auto_ok=False)
    assert near.setpoints is not None and near.setpoints.drum_speed == 0.0
    assert near.setpoints.cut_depth == pytest.approx(-0.3)  # where the arm was: held


def test_a_firmware_without_the_arm_follow_drive_gets_todays_drive() -> None:
    # FIRMWARE_INFO capabilities without DRIVE_ARM_FOLLOW: the host never sends arg3 = 1
    d = started(capabilities=0)
    drive = requests(d, CommandCode.DRIVE_TO)[-1]
    assert drive.args == (2.0, 0.0, PLAN.drive_speed_m_s)
    near = d.step(meas(x=1.8), auto_ok=False)
    assert near.setpoints is not None and near.setpoints.drum_speed == 0.0


def test_the_arm_follow_drive_follows_the_firmware_of_each_session() -> None:
    d = started()
    assert requests(d, CommandCode.DRIVE_TO)[-1].args[-1] == 1.0
    for caps, overlap in ((0, False), (int(Capability.DRIVE_ARM_FOLLOW), True)):
        d.step(notices=(LinkDown("cable pulled"),))
        d.connect(capabilities=caps)  # a reconnect: an older firmware, then a newer one
        assert d.core.overlap is overlap


def modes(d: Driver) -> list[Mode]:
    return [e.mode for o in d.outputs for e in o.events if hasattr(e, "mode")]


def dig_until_full(d: Driver, depth: float) -> None:
    at_site = meas(x=2.0, cut_depth=depth, drum_speed=6.0, drum_current=12.0)
    for _ in range(3):
        d.step(at_site)
    assert d.core.mode is Mode.DIGGING


def test_site_target_reached_in_the_soil_stops_the_drum_and_lifts_out_before_driving() -> None:
    d = started()
    d.step(meas(x=2.0))  # arrived
    dig_until_full(d, 0.05)
    loaded = meas(x=2.0, cut_depth=0.05, drum_speed=6.0, drum_current=12.0, bucket_load=21.0)
    out = d.step(loaded)  # 21 kg >= the 20 kg target, drum 5 cm deep
    out = d.step(loaded)
    assert d.core.mode is Mode.DIGGING  # not FULL yet: still in the soil
    assert out.setpoints is not None and out.setpoints.drum_speed == 0.0
    assert out.setpoints.cut_depth < 0.0  # lifting out
    n_drives = len(requests(d, CommandCode.DRIVE_TO))
    d.step(replace(loaded, cut_depth=-0.001, drum_speed=0.0))  # out of the soil
    assert d.core.mode in (Mode.FULL, Mode.DRIVING)
    d.step(replace(loaded, cut_depth=-0.002, drum_speed=0.0))
    assert d.core.mode is Mode.DRIVING  # FULL -> DRIVING, no STOW first
    drive = requests(d, CommandCode.DRIVE_TO)[n_drives:]
    assert [r.args for r in drive] == [(0.0, 0.0, PLAN.drive_speed_m_s, 1.0)]
    assert not requests(d, CommandCode.STOW)
    out = d.step(replace(loaded, x=1.5, cut_depth=-0.05, drum_speed=0.0), auto_ok=False)
    assert out.setpoints is not None and out.setpoints.cut_depth == C.stow_depth_m
    # arriving at the dump with the arm stowed: DUMP at once (it ends the drive)
    before = len(modes(d))
    d.step(replace(loaded, x=0.15, cut_depth=-0.3, drum_speed=0.0), auto_ok=False)
    assert modes(d)[before:] == [Mode.ARMED, Mode.DUMPING]
    assert requests(d, CommandCode.DUMP) and not requests(d, CommandCode.STOW)


def test_dumps_on_arrival_only_close_enough_and_stowed_and_ignores_the_ended_drive() -> None:
    d = started()
    d.step(meas(x=2.0))
    dig_until_full(d, 0.0)
    loaded = meas(x=2.0, cut_depth=-0.001, drum_speed=0.0, bucket_load=21.0)
    d.step(loaded)
    d.step(loaded)
    assert d.core.mode is Mode.DRIVING
    far = replace(loaded, x=C.dump_within_m + 0.02, cut_depth=-0.3)
    low = replace(loaded, x=0.1, cut_depth=-0.2)  # close, but the arm is not stowed yet
    for m in (far, low):
        d.step(m, auto_ok=False)
        assert d.core.mode is Mode.DRIVING and not requests(d, CommandCode.DUMP)
    drive_id = requests(d, CommandCode.DRIVE_TO)[-1].request_id
    d.step(replace(low, cut_depth=-0.3), auto_ok=False)
    assert d.core.mode is Mode.DUMPING
    # the firmware ends the drive: its FAILED(INTERRUPTED) result is no fault
    d.step(replace(low, cut_depth=-0.3),
           notices=(RequestFinished(drive_id, False, "superseded by DUMP on arrival"),),
           auto_ok=False)
    assert d.core.mode is Mode.DUMPING and d.core.mission_running


def test_full_with_the_drum_still_in_the_soil_stows_as_ever() -> None:
    d = started()
    d.step(meas(x=2.0))
    dig_until_full(d, 0.05)
    # e.g. an obstacle reported 5 cm deep: the bucket is full with the drum in the soil
    d.core.carrying = True
    d.core._fire(Trigger.BUCKET_FULL, d.now, "obstacle (test)")
    d.step(meas(x=2.0, cut_depth=0.05, bucket_load=10.0))
    assert d.core.mode is Mode.STOWING
    assert requests(d, CommandCode.STOW)
