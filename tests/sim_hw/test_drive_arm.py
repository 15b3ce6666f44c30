"""DRIVE_TO's arm modes (docs/protocol.md section 4.8, arg3): hold, or follow the
set-points while driving, never lower than the drive clearance, slowly while low."""

from __future__ import annotations

import math

from firmware_bridge.messages import CommandCode, CommandResult, Reason, ResultStatus
from sim_hw.firmware import FirmwareConfig

from .test_plant import Bench

CFG = FirmwareConfig()


def last(b: Bench) -> CommandResult:
    return [m for m, _ in b.fw.outbox if isinstance(m, CommandResult)][-1]


def enabled(arm_height: float) -> Bench:
    """Motors on, drum still, the arm brought to *arm_height* above the ground."""
    b = Bench()
    b.command(CommandCode.ENABLE, 1)
    b.setpoints(0.0, -arm_height)
    b.run_until(lambda: abs(b.plant.state.arm_pos - arm_height) < 0.002, 15)
    return b


def test_hold_mode_keeps_the_arm_where_it_was_whatever_the_setpoints_say() -> None:
    b = enabled(0.30)
    b.command(CommandCode.DRIVE_TO, 2.0, 0.0, 0.25)  # arg3 = 0: today's behaviour
    assert last(b).status is ResultStatus.ACCEPTED
    b.setpoints(0.0, -0.05)  # asks for the arm 5 cm up
    b.run(3.0)
    assert abs(b.plant.state.arm_pos - 0.30) < 0.002
    assert b.plant.state.x > 0.1  # ...while it drives


def test_follow_mode_moves_the_arm_but_never_below_the_clearance() -> None:
    b = enabled(0.30)
    b.command(CommandCode.DRIVE_TO, 3.0, 0.0, 0.25, 1.0)
    assert last(b).status is ResultStatus.ACCEPTED
    b.setpoints(0.0, 0.05)  # 5 cm *into* the ground: refused by the clamp
    lowest = math.inf
    for _ in range(200):  # 10 s: long enough to reach any target
        b.run(0.05)
        lowest = min(lowest, b.plant.state.arm_pos)
    assert lowest >= CFG.drive_arm_clearance - 0.002
    assert abs(b.plant.state.arm_pos - CFG.drive_arm_clearance) < 0.005  # it did come down
    b.setpoints(0.0, -0.30)
    b.run(6.0)
    assert b.plant.state.arm_pos > 0.29  # and goes back up on request


def test_follow_mode_drives_slowly_while_the_arm_is_low() -> None:
    b = enabled(0.05)
    b.command(CommandCode.DRIVE_TO, 4.0, 0.0, 0.3, 1.0)
    b.setpoints(0.0, -0.05)
    fastest = 0.0
    for _ in range(100):
        b.run(0.05)
        fastest = max(fastest, abs(b.plant.state.speed))
    assert 0.05 < fastest <= CFG.drive_low_arm_speed + 1e-6
    b.setpoints(0.0, -0.30)  # raise it: full speed again once above the low height
    b.run(8.0)
    assert abs(b.plant.state.speed) > 0.25


def test_follow_mode_does_not_move_the_rig_before_the_drum_is_clear() -> None:
    b = enabled(0.0)  # drum on the surface
    b.command(CommandCode.DRIVE_TO, 0.0, 2.0, 0.25, 1.0)  # needs a turn too
    assert last(b).status is ResultStatus.ACCEPTED
    b.setpoints(0.0, 0.0)  # asks to stay on the surface: the clamp lifts it anyway
    start = (b.plant.state.x, b.plant.state.y, b.plant.state.heading)
    moved_at = None
    for i in range(80):
        b.run(0.05)
        s = b.plant.state
        if moved_at is None and (abs(s.heading - start[2]) > 1e-4
                                 or math.hypot(s.x - start[0], s.y - start[1]) > 1e-4):
            moved_at = i
            assert s.arm_pos >= CFG.drive_arm_clearance - CFG.stow_tolerance - 1e-3
    assert moved_at is not None and moved_at > 0


def test_follow_mode_with_stale_setpoints_holds_the_arm() -> None:
    b = enabled(0.30)
    b.command(CommandCode.DRIVE_TO, 2.0, 0.0, 0.25, 1.0)
    b.fw.setpoint = None  # nothing fresh from the controller
    b.run(2.0)
    assert abs(b.plant.state.arm_pos - 0.30) < 0.002


def test_other_arm_modes_are_refused() -> None:
    b = enabled(0.30)
    b.command(CommandCode.DRIVE_TO, 2.0, 0.0, 0.25, 0.5)
    r = last(b)
    assert r.status is ResultStatus.REJECTED and r.reason is Reason.BAD_VALUE
    assert "arg3" in r.detail
    assert b.fw.action is None


def test_dump_ends_a_follow_drive_near_its_target_only() -> None:
    b = enabled(0.30)
    b.command(CommandCode.DRIVE_TO, 1.0, 0.0, 0.25)  # hold mode: DUMP stays BUSY
    b.run_until(lambda: b.plant.state.x > 1.0 - CFG.dump_arrival_m + 0.05, 15)
    b.command(CommandCode.DUMP)
    assert last(b).reason is Reason.BUSY
    b.run_until(lambda: b.fw.action is None, 15)
    b.command(CommandCode.DRIVE_TO, 0.0, 0.0, 0.25, 1.0)
    b.setpoints(0.0, -0.30)
    b.run_until(lambda: b.plant.state.x < 0.7, 20)  # 0.7 m away: too far
    b.command(CommandCode.DUMP)
    assert last(b).reason is Reason.BUSY and b.fw.action.code is CommandCode.DRIVE_TO
    b.run_until(lambda: b.plant.state.x < CFG.dump_arrival_m - 0.05, 15)
    b.command(CommandCode.DUMP)
    outcome = [m for m, _ in b.fw.outbox if isinstance(m, CommandResult)][-2:]
    assert outcome[0].code == CommandCode.DRIVE_TO and outcome[0].status is ResultStatus.FAILED
    assert outcome[1].code == CommandCode.DUMP and outcome[1].status is ResultStatus.ACCEPTED
    b.run(2.0)
    assert abs(b.plant.state.speed) < 1e-3  # the drive ended: the rig stopped
