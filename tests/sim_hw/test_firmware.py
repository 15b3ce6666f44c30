"""Firmware rules, pure (no I/O): commands, e-stop latch, parameters."""

from __future__ import annotations

from firmware_bridge.messages import (
    Command,
    CommandCode,
    CommandResult,
    EStop,
    Event,
    EventCode,
    Param,
    ParamGet,
    ParamSet,
    ParamStatus,
    ParamValue,
    Reason,
    ResultStatus,
)

from .test_plant import Bench


def results(b: Bench) -> list[CommandResult]:
    return [m for m, _ in b.fw.outbox if isinstance(m, CommandResult)]


def events(b: Bench) -> list[Event]:
    return [m for m, _ in b.fw.outbox if isinstance(m, Event)]


def last(b: Bench) -> CommandResult:
    return results(b)[-1]


def test_motion_needs_enable_and_expired_commands_are_rejected() -> None:
    b = Bench()
    b.setpoints(3.0, 0.0)
    b.run(1)
    assert b.plant.state.omega == 0.0
    b.command(CommandCode.STOW)
    assert last(b).reason is Reason.NOT_ENABLED
    b.fw.on_message(Command(CommandCode.ENABLE, 100, (1, 0, 0, 0)), 99, 1, b.now, 200)
    assert last(b).status is ResultStatus.REJECTED and last(b).reason is Reason.EXPIRED


def test_dump_needs_a_stowed_arm_and_drive_is_refused_while_digging() -> None:
    b = Bench()
    b.command(CommandCode.ENABLE, 1)
    b.setpoints(3.0, 0.04)
    b.run(9)
    b.command(CommandCode.DUMP)
    assert last(b).reason is Reason.BUSY and "stowed" in last(b).detail
    b.command(CommandCode.DRIVE_TO, 1.0, 0.0, 0.2)
    assert last(b).reason is Reason.BUSY
    b.command(CommandCode.STOW)
    assert last(b).status is ResultStatus.ACCEPTED
    b.run_until(lambda: b.fw.action is None, 15)
    assert last(b).status is ResultStatus.DONE
    assert any(e.code == EventCode.STOW_DONE for e in events(b))
    b.command(CommandCode.DRIVE_TO, 2.0, 1.0, 0.3)
    assert last(b).status is ResultStatus.ACCEPTED
    assert b.fw.status & 0x08  # DRIVING
    b.run_until(lambda: b.fw.action is None, 30)
    s = b.plant.state
    assert abs(s.x - 2.0) < 0.1 and abs(s.y - 1.0) < 0.1
    assert any(e.code == EventCode.DRIVE_DONE for e in events(b))


def test_estop_latches_until_reset_and_reset_never_restarts_motion() -> None:
    b = Bench()
    b.command(CommandCode.ENABLE, 1)
    b.setpoints(3.0, -0.3)
    b.run(2)
    b.fw.on_message(EStop(0, "test"), 5, 1, b.now, 0)
    assert b.fw.estop_latched and not b.fw.motors_enabled
    assert events(b)[-1].code == EventCode.ESTOP_LATCHED
    b.command(CommandCode.ENABLE, 1)
    assert last(b).reason is Reason.ESTOP_LATCHED
    b.fw.panel_estop(True)  # the panel button is held: the cause is present
    b.command(CommandCode.RESET_ESTOP)
    assert last(b).reason is Reason.CAUSE_PRESENT
    b.fw.panel_estop(False)
    b.command(CommandCode.RESET_ESTOP)
    assert last(b).status is ResultStatus.DONE and not b.fw.estop_latched
    b.run(3)
    assert b.plant.state.omega == 0.0 and not b.fw.motors_enabled


def test_parameters() -> None:
    b = Bench()

    def ask(msg: ParamGet | ParamSet) -> ParamValue:
        b.fw.on_message(msg, 1, 1, b.now, 0)
        out = b.fw.outbox.pop()[0]
        assert isinstance(out, ParamValue)
        return out

    assert ask(ParamGet(Param.WATCHDOG_MS)).value == 250
    assert ask(ParamSet(Param.WATCHDOG_MS, 500)).status is ParamStatus.OK
    assert b.fw.watchdog_s == 0.5
    assert ask(ParamSet(Param.DRUM_CURRENT_LIMIT_A, 1000)).status is ParamStatus.OUT_OF_RANGE
    assert ask(ParamSet(Param.SAMPLE_RATE_HZ, 5)).status is ParamStatus.READ_ONLY
    assert ask(ParamGet(Param.SAMPLE_RATE_HZ)).value == 1000
    assert ask(ParamGet(Param.BATCH_SAMPLES)).value == 5
    assert ask(ParamGet(0x999)).status is ParamStatus.UNKNOWN_PARAM
    for pid in (Param.ARM_RATE_LIMIT_M_S, Param.MAX_DRUM_SPEED_RAD_S, Param.DRUM_SPEED_KP,
                Param.DRUM_SPEED_KI):
        assert ask(ParamGet(pid)).status is ParamStatus.OK
