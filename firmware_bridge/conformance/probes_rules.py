"""Checks of rules that 1.2 decided: command arguments, and a loss with the motors off.

``commands.arguments`` never moves the rig: without ``allow_motion`` it only
sends commands whose answer is a refusal or a no-op; with it, it also sends
ENABLE(NaN), which a conforming firmware refuses (a wrong one enables the
motors, with no set-point to move anything). ``linkloss.motors_off`` goes
silent and replaces a session with the motors off: nothing may trip.
"""

from __future__ import annotations

import math

from ..messages import (
    CommandCode,
    EventCode,
    FirmwareInfo,
    Param,
    ParamGet,
    Reason,
    ResultStatus,
    Status,
)
from .checks import CheckResult, Outcome, check_spec
from .harness import Harness

__all__ = ["RULE_PROBES"]

NAN = math.nan


def _result(check_id: str, problems: list[str], ok_detail: str) -> CheckResult:
    spec = check_spec(check_id)
    return CheckResult(spec.id, spec.section, Outcome.FAIL if problems else Outcome.PASS,
                       "; ".join(problems) or ok_detail)


def _expect(problems: list[str], what: str, got: object, status: ResultStatus,
            reason: Reason = Reason.NONE) -> None:
    ok = got is not None and got.status is status  # type: ignore[attr-defined]
    if ok and status is ResultStatus.REJECTED:
        ok = got.reason is reason  # type: ignore[attr-defined]
    if not ok:
        want = status.name + (f"({reason.name})" if status is ResultStatus.REJECTED else "")
        problems.append(f"{what} answered {got}, expected {want}")


async def check_arguments(h: Harness) -> CheckResult:
    """Unused arguments are ignored; a used non-finite one is BAD_VALUE, checked after
    expiry, e-stop and enabled (docs/protocol.md 4.8, 1.2)."""
    problems: list[str] = []
    _expect(problems, "STOP with NaN in its (unused) arguments",
            await h.run(CommandCode.STOP, NAN, NAN, NAN, NAN), ResultStatus.DONE)
    _expect(problems, "DRIVE_TO(NaN, ...) with the motors off",
            await h.run(CommandCode.DRIVE_TO, NAN, 0.0, 0.1, 0.0), ResultStatus.REJECTED,
            Reason.NOT_ENABLED)
    _expect(problems, "RESET_ESTOP with NaN arguments",
            await h.run(CommandCode.RESET_ESTOP, NAN, NAN), ResultStatus.DONE)
    site = await h.param(ParamGet(Param.SITE_HALF_SIZE_M))
    if h.config.allow_motion:
        _expect(problems, "ENABLE(NaN)", await h.run(CommandCode.ENABLE, NAN),
                ResultStatus.REJECTED, Reason.BAD_VALUE)
        if await h.heartbeat_where(lambda st: st & Status.MOTORS_ENABLED, h.now(), 0.1):
            problems.append("ENABLE(NaN) enabled the motors")
        _expect(problems, "ENABLE(1)", await h.run(CommandCode.ENABLE, 1.0), ResultStatus.DONE)
        _expect(problems, "DRIVE_TO(NaN, 0, 0.1, 0) enabled",
                await h.run(CommandCode.DRIVE_TO, NAN, 0.0, 0.1, 0.0), ResultStatus.REJECTED,
                Reason.BAD_VALUE)
        if site is not None and math.isfinite(site.value):
            _expect(problems, f"DRIVE_TO outside the site (x = {site.value + 1:g} m)",
                    await h.run(CommandCode.DRIVE_TO, site.value + 1.0, 0.0, 0.1, 0.0),
                    ResultStatus.REJECTED, Reason.BAD_VALUE)
        await h.run(CommandCode.ENABLE, 0.0)
    return _result("commands.arguments", problems,
                   "unused NaN ignored; NaN after NOT_ENABLED" + (
                       "; ENABLE(NaN), DRIVE_TO(NaN) and outside the site BAD_VALUE"
                       if h.config.allow_motion else " (ENABLE(NaN) needs --allow-motion)"))


async def check_motors_off_loss(h: Harness) -> CheckResult:
    """With the motors off, silence and a replaced session trip nothing (3.1, 6; 1.2)."""
    problems: list[str] = []
    tripped_before = h.s.info is not None and h.s.info.watchdog_tripped
    hb = await h.heartbeat_where(lambda st: True, h.now(), 0.2)
    if hb is not None and hb.message.status & Status.MOTORS_ENABLED:
        await h.run(CommandCode.ENABLE, 0.0)
        await h.port.pause(0.5)
    if hb is not None:
        tripped_before = bool(hb.message.status & Status.WATCHDOG_TRIPPED)
    t0 = h.now()
    h.port.silent = True
    await h.port.pause(2 * h.watchdog_ms / 1000 + 0.1)
    h.port.silent = False
    if not await h.new_session():
        return _result("linkloss.motors_off", ["no handshake after the silence"], "")
    await h.new_session()  # and a new session replacing a live one, motors still off
    await h.port.pause(0.3)
    info = [r.message for r in h.s.since(t0, FirmwareInfo)]
    if not tripped_before and any(i.watchdog_tripped for i in info):
        problems.append("FIRMWARE_INFO reports WATCHDOG_TRIPPED after a loss with the "
                        "motors off")
    if h.events(EventCode.WATCHDOG_STOP, t0):
        problems.append("EVENT(WATCHDOG_STOP) for a loss or a new session with the motors off")
    if not tripped_before and any(r.message.status & Status.WATCHDOG_TRIPPED
                                  for r in h.heartbeats(t0)):
        problems.append("heartbeat shows WATCHDOG_TRIPPED after a loss with the motors off")
    return _result("linkloss.motors_off", problems,
                   "silence past the watchdog and a replaced session, motors off: no trip, "
                   "no event" + (" (WATCHDOG_TRIPPED was set before)" if tripped_before else ""))


RULE_PROBES = {
    "commands.arguments": check_arguments,
    "linkloss.motors_off": check_motors_off_loss,
}
