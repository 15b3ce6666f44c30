"""The firmware rules of docs/protocol.md 1.2, on the one core both firmwares run (pure).

Each test drives ``FirmwareCore`` with plain numbers for time and reads its
outbox; the loopback's ``DrumOnly`` is the machine. The same core is
``sim_hw.Firmware``'s (``tests/sim_hw`` drives it with the plant).
"""

from __future__ import annotations

import math

import pytest

from firmware_bridge.firmware_core import COMMAND_RULES, FirmwareCore, Power, round_half_away
from firmware_bridge.loopback import DrumOnly
from firmware_bridge.messages import (
    Command,
    CommandCode,
    CommandResult,
    EStop,
    Event,
    EventCode,
    FirmwareSeverity,
    Hello,
    Param,
    ParamSet,
    ParamStatus,
    Reason,
    ResultStatus,
    Setpoints,
)
from firmware_bridge.params import STANDARD_PARAMS

NAN = math.nan
S = 7  # session id


def core() -> tuple[FirmwareCore, DrumOnly]:
    c = FirmwareCore({Param(p): d.default for p, d in STANDARD_PARAMS.items()})
    drum = DrumOnly(20.0, 60.0)
    c.attach(drum)
    c.on_session(Hello(S), now=0.0)
    return c, drum


def cmd(c: FirmwareCore, seq: int, code: CommandCode, *args: float) -> list[CommandResult]:
    padded = (*args, 0.0, 0.0, 0.0, 0.0)[:4]
    c.on_message(Command(code, 10_000_000, padded), seq, S, 0.0, 0)  # type: ignore[arg-type]
    return [m for m, _ in c.outbox if isinstance(m, CommandResult) and m.command_seq == seq]


def events(c: FirmwareCore, code: EventCode) -> list[Event]:
    return [m for m, _ in c.outbox if isinstance(m, Event) and m.code == code]


def final(results: list[CommandResult]) -> tuple[ResultStatus, Reason]:
    return results[-1].status, results[-1].reason


def test_one_rule_table_for_every_protocol_command() -> None:
    assert set(COMMAND_RULES) == set(CommandCode)


def test_preconditions_in_order_then_non_finite_used_arguments() -> None:
    c, _ = core()
    late = Command(CommandCode.DRIVE_TO, 5, (NAN, 0.0, 0.1, 0.0))
    c.estop_latched = True
    c.on_message(late, 1, S, 0.0, fw_time_us=10)
    assert final([m for m, _ in c.outbox if isinstance(m, CommandResult)]) == (
        ResultStatus.REJECTED, Reason.EXPIRED)
    assert final(cmd(c, 2, CommandCode.DRIVE_TO, NAN, 0, 0.1)) == (ResultStatus.REJECTED,
                                                                   Reason.ESTOP_LATCHED)
    c.estop_latched = False
    assert final(cmd(c, 3, CommandCode.DRIVE_TO, NAN, 0, 0.1)) == (ResultStatus.REJECTED,
                                                                   Reason.NOT_ENABLED)
    assert final(cmd(c, 4, CommandCode.ENABLE, NAN)) == (ResultStatus.REJECTED,
                                                         Reason.BAD_VALUE)
    assert c.power is Power.OFF  # 1.1 read ENABLE(NaN) as a disable; nothing enabled
    assert final(cmd(c, 5, CommandCode.STOP, NAN, NAN, NAN, NAN)) == (ResultStatus.DONE,
                                                                      Reason.NONE)
    cmd(c, 6, CommandCode.ENABLE, 1.0)
    assert final(cmd(c, 7, CommandCode.DRIVE_TO, 50.01, 0.0, 0.1)) == (ResultStatus.REJECTED,
                                                                      Reason.BAD_VALUE)
    assert final(cmd(c, 8, CommandCode.DRIVE_TO, 50.0, -50.0, 0.1)) == (ResultStatus.DONE,
                                                                       Reason.NONE)


def test_every_command_but_reset_is_refused_while_latched() -> None:
    c, _ = core()
    c.on_message(EStop(0, "x"), 1, S, 0.0, 0)
    for seq, (code, arg) in enumerate(((CommandCode.STOP, 0.0), (CommandCode.ENABLE, 0.0),
                                       (CommandCode.ENABLE, 1.0)), start=2):
        assert final(cmd(c, seq, code, arg)) == (ResultStatus.REJECTED, Reason.ESTOP_LATCHED)
    assert final(cmd(c, 9, CommandCode.RESET_ESTOP)) == (ResultStatus.DONE, Reason.NONE)


def test_a_second_estop_and_an_unknown_source_raise_one_critical_event() -> None:
    c, _ = core()
    c.on_message(EStop(9, "odd panel"), 1, S, 0.0, 0)
    c.on_message(EStop(1, "again"), 2, S, 0.0, 0)
    latched = events(c, EventCode.ESTOP_LATCHED)
    assert len(latched) == 1 and c.estop_latched
    assert latched[0].severity is FirmwareSeverity.CRITICAL
    assert "unknown source 9" in latched[0].text


def test_a_loss_or_a_new_session_with_the_motors_off_trips_nothing() -> None:
    c, _ = core()
    c.check_watchdog(now=10.0)
    c.link_lost("rx: silence", now=10.0)
    c.on_session(Hello(S + 1), now=11.0)
    assert not c.watchdog_tripped and events(c, EventCode.WATCHDOG_STOP) == []
    cmd(c, 1, CommandCode.ENABLE, 1.0)
    c.check_watchdog(now=11.0 + c.watchdog_s)
    assert c.watchdog_tripped and len(events(c, EventCode.WATCHDOG_STOP)) == 1


def test_stop_disables_and_reports_standstill_before_done() -> None:
    c, drum = core()
    cmd(c, 1, CommandCode.ENABLE, 1.0)
    drum.speed = 3.0
    cmd(c, 2, CommandCode.STOP)
    assert c.power is Power.STOPPING
    for i in range(20):
        drum.step(c, 0.01, now=i * 0.01)
    assert c.power is Power.OFF
    kinds = [(type(m).__name__, getattr(m, "status", None)) for m, _ in c.outbox
             if (isinstance(m, Event) and m.code == EventCode.STANDSTILL)
             or (isinstance(m, CommandResult) and m.command_seq == 2)]
    assert kinds == [("CommandResult", ResultStatus.ACCEPTED), ("Event", None),
                     ("CommandResult", ResultStatus.DONE)]


def test_disable_is_done_at_once_and_standstill_follows() -> None:
    c, drum = core()
    cmd(c, 1, CommandCode.ENABLE, 1.0)
    drum.speed = 3.0
    assert final(cmd(c, 2, CommandCode.ENABLE, 0.0)) == (ResultStatus.DONE, Reason.NONE)
    assert events(c, EventCode.STANDSTILL) == []
    for i in range(20):
        drum.step(c, 0.01, now=i * 0.01)
    assert len(events(c, EventCode.STANDSTILL)) == 1


@pytest.mark.parametrize(("value", "status", "now_in_force"), [
    (19.6, ParamStatus.OUT_OF_RANGE, 250.0),  # the range check comes before the rounding
    (20.4, ParamStatus.OK, 20.0),
    (20.5, ParamStatus.OK, 21.0),  # half away from zero (C roundf), not to even
    (250.5, ParamStatus.OK, 251.0),
])
def test_whole_number_parameters_range_first_then_round(value, status, now_in_force) -> None:
    c, _ = core()
    pv = c.param(ParamSet(Param.WATCHDOG_MS, value), 1)
    assert (pv.status, pv.value) == (status, now_in_force)


def test_round_half_away_from_zero() -> None:
    assert [round_half_away(x) for x in (0.5, 1.5, 2.5, -2.5, 2.4999)] == [1, 2, 3, -3, 2]


def test_non_finite_setpoints_are_ignored_whole() -> None:
    c, _ = core()
    good = Setpoints(100_000, 2.0, 0.01)
    c.on_message(good, 0, S, 0.0, 0)
    c.on_message(Setpoints(100_000, NAN, 0.01), 1, S, 0.0, 0)
    c.on_message(Setpoints(100_000, 1.0, math.inf), 2, S, 0.0, 0)
    assert c.fresh_setpoint(0.05) == good
    assert c.counters["setpoints_invalid"] == 2
