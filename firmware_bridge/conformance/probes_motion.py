"""Checks of the safety rules: e-stop latch, watchdog, one-way link loss, standstill.

``estop.latch`` never enables anything. The others ENABLE the motors (and
``standstill`` spins the drum to the dig speed), so the runner only runs them
with ``--allow-motion``. Timing is measured twice where it can be: by the
host (local receive times, within the run's tolerance) and as the firmware
reports it (event values, compared with the bound exactly).
"""

from __future__ import annotations

from ..messages import (
    CommandCode,
    CommandResult,
    EStop,
    EventCode,
    FirmwareSeverity,
    Flags,
    Heartbeat,
    Reason,
    ResultStatus,
    Setpoints,
    Status,
)
from .checks import SPEC, CheckResult, Outcome, check_spec, within
from .harness import Harness, standstill_from_samples

__all__ = ["MOTION_PROBES"]


def _result(check_id: str, problems: list[str], ok_detail: str, measured: float | None = None,
            bound: float | None = None) -> CheckResult:
    spec = check_spec(check_id)
    return CheckResult(spec.id, spec.section, Outcome.FAIL if problems else Outcome.PASS,
                       "; ".join(problems) or ok_detail, measured, bound)


def _enabled(status: int) -> bool:
    return bool(status & Status.MOTORS_ENABLED)


async def _enable(h: Harness, problems: list[str]) -> bool:
    res = await h.run(CommandCode.ENABLE, 1.0)
    if res is None or res.status is not ResultStatus.DONE:
        problems.append(f"ENABLE(1) answered {res}")
        return False
    if await h.heartbeat_where(_enabled, h.now(), 0.5) is None:
        problems.append("no heartbeat with MOTORS_ENABLED after ENABLE")
        return False
    return True


async def check_estop_latch(h: Harness) -> CheckResult:
    problems: list[str] = []
    t0 = h.now()
    await h.port.reliable(EStop(7, "conformance"))  # 1.2: an unknown source latches too
    await h.port.wait(lambda: bool(h.events(EventCode.ESTOP_LATCHED, t0)), 0.5)
    latched = h.events(EventCode.ESTOP_LATCHED, t0)
    took = (latched[0].t - t0) * 1000 if latched else None
    if not latched:
        problems.append("no EVENT(ESTOP_LATCHED) for an ESTOP with source 7")
    elif latched[0].message.severity is not FirmwareSeverity.CRITICAL:
        problems.append(f"ESTOP_LATCHED severity {latched[0].message.severity.name}, "
                        "expected CRITICAL")
    if await h.heartbeat_where(lambda st: st & Status.ESTOP, t0, 0.3) is None:
        problems.append("heartbeat never shows ESTOP")
    await _second_estop(h, problems)
    for code, arg in ((CommandCode.ENABLE, 1.0), (CommandCode.ENABLE, 0.0),
                      (CommandCode.STOP, 0.0)):  # 1.2: precondition 2 is literal
        refused = await h.run(code, arg)
        if refused is None or refused.status is not ResultStatus.REJECTED \
                or refused.reason is not Reason.ESTOP_LATCHED:
            problems.append(f"{code.name}({arg:g}) while latched answered {refused}")
    if len(h.events(EventCode.ESTOP_LATCHED, t0)) != 1:
        problems.append("a second ESTOP while latched raised another ESTOP_LATCHED")
    t1 = h.now()
    reset = await h.run(CommandCode.RESET_ESTOP)
    if reset is None or reset.status is not ResultStatus.DONE:
        problems.append(f"RESET_ESTOP answered {reset}")
    if not await h.port.wait(lambda: bool(h.events(EventCode.ESTOP_RESET, t1)), 0.5):
        problems.append("no EVENT(ESTOP_RESET)")
    clear = await h.heartbeat_where(lambda st: not st & Status.ESTOP, h.now(), 0.3)
    if clear is None or _enabled(clear.message.status):
        problems.append("after RESET_ESTOP the latch is not clear or motors are enabled")
    return _result("estop.latch", problems, "latched, ENABLE refused, reset clears it and "
                   "leaves the motors disabled", took, 2 * SPEC.heartbeat_ms)


async def _second_estop(h: Harness, problems: list[str]) -> None:
    """An ESTOP while latched gets no answer but its ack, within ACK_DELAY (4.4, 4.10)."""
    seq, data = h.s.encode(EStop(1, "again"))
    sent = h.now()
    h.s.send_raw(data)
    h.port.flush()
    bound = SPEC.ack_delay_ms + h.tol
    if not await h.port.wait(lambda: h.s.acked(seq), bound / 1000):
        problems.append(f"a second ESTOP (no other answer) was not acknowledged within "
                        f"{bound:g} ms: an ack must not wait for a result to ride on")
        await h.port.reliable(EStop(1, "again"), timeout=0.5)
        return
    acked_at = next((r.t for r in h.s.since(sent) if r.frame.flags & Flags.ACK_VALID
                     and (r.frame.ack - seq) % (1 << 32) < (1 << 31)), h.now())
    took = (acked_at - sent) * 1000
    if not within(took, SPEC.ack_delay_ms, h.tol):
        problems.append(f"second ESTOP acknowledged after {took:.1f} ms")


async def check_estop_power(h: Harness) -> CheckResult:
    problems: list[str] = []
    if not await _enable(h, problems):
        return _result("estop.power_cut", problems, "")
    t0 = h.now()
    await h.port.reliable(EStop(0, "conformance power cut"))
    off = await h.heartbeat_where(lambda st: not _enabled(st) and st & Status.ESTOP, t0, 0.5)
    took = (off.t - t0) * 1000 if off else None
    if not within(took, SPEC.estop_power_cut_ms, h.tol):
        problems.append("heartbeat did not show the motors off at once")
    await h.run(CommandCode.RESET_ESTOP)
    after = await h.heartbeat_where(lambda st: not st & Status.ESTOP, h.now(), 0.3)
    if after is None or _enabled(after.message.status):
        problems.append("motors enabled again after RESET_ESTOP")
    return _result("estop.power_cut", problems, "motors off at the next heartbeat", took,
                   SPEC.estop_power_cut_ms)


async def _after_loss(h: Harness, since: float, problems: list[str],
                      detail: str) -> float | None:
    """New session after a loss: FIRMWARE_INFO flag, the WATCHDOG_STOP event and its value."""
    await h.port.pause(0.05)
    h.port.silent = False
    h.s.auto_ack, h.s.ack_override, h.s.echo_override = True, None, None
    if not await h.new_session():
        problems.append("no handshake after the stop")
        return None
    if h.s.info is None or not h.s.info.watchdog_tripped:
        problems.append("FIRMWARE_INFO does not report WATCHDOG_TRIPPED")
    t_up = h.session_start
    await h.port.wait(lambda: bool(h.events(EventCode.WATCHDOG_STOP, t_up)), 1.0)
    ev = h.events(EventCode.WATCHDOG_STOP, t_up)
    if not ev:
        problems.append(f"EVENT(WATCHDOG_STOP) not delivered in the next session ({detail})")
        return None
    hb = await h.heartbeat_where(lambda st: st & Status.WATCHDOG_TRIPPED, t_up, 0.3)
    if hb is None:
        problems.append("heartbeat in the new session lacks WATCHDOG_TRIPPED")
    reported = ev[0].message.value
    if not within(reported, h.watchdog_ms, h.tol):
        problems.append(f"firmware reports the stop {reported:.0f} ms after the last frame")
    if await _enable(h, problems):
        cleared = await h.heartbeat_where(
            lambda st: not st & Status.WATCHDOG_TRIPPED, h.now(), 0.3)
        if cleared is None:
            problems.append("ENABLE did not clear WATCHDOG_TRIPPED")
    await h.run(CommandCode.ENABLE, 0.0)
    return reported


async def check_watchdog(h: Harness) -> CheckResult:
    problems: list[str] = []
    if not await _enable(h, problems):
        return _result("watchdog.stop", problems, "")
    h.port.silent = True
    t_last = h.port.last_tx_at
    hb = await h.heartbeat_where(lambda st: st & Status.WATCHDOG_TRIPPED, t_last,
                                 h.watchdog_ms / 1000 + 0.5)
    measured = (hb.t - t_last) * 1000 if hb else None
    if hb is None:
        problems.append("no last heartbeat showing WATCHDOG_TRIPPED while the host listened")
    elif _enabled(hb.message.status):
        problems.append("the watchdog heartbeat still shows MOTORS_ENABLED")
    if not within(measured, h.watchdog_ms, h.tol) and hb is not None:
        problems.append(f"stop seen {measured:.0f} ms after the last frame")
    await h.port.pause(max(0.0, t_last + 2 * h.watchdog_ms / 1000 - h.now()))
    reported = await _after_loss(h, t_last, problems, "silence")
    return _result("watchdog.stop", problems,
                   f"firmware reports {reported:.1f} ms; event delivered in the next session"
                   if reported is not None else "", measured, h.watchdog_ms)


async def _echo_latest(h: Harness, problems: list[str]) -> None:
    """The firmware echoes the seq of the best-effort frame that arrived last, not the
    highest (4.3, 1.2): one heartbeat far ahead, then the host's own lower seqs again."""
    low, high = h.s.tx_be, (h.s.tx_be + 1000) % (1 << 32)
    t0 = h.now()
    h.s.send(Heartbeat(int(t0 * 1e6), 0, h.s.last_echo_sent or 0), seq=high)
    h.port.flush()

    def echoed_later() -> bool:  # a heartbeat well after ours, echoing a later, lower seq
        return any(low <= r.message.echo_seq < high  # type: ignore[union-attr]
                   for r in h.heartbeats(t0 + 0.1))

    if not await h.port.wait(echoed_later, 0.5):
        problems.append(f"after a best-effort seq {high} then lower ones, echo_seq never "
                        "showed a lower one (1.2: the last to arrive, not the highest)")


async def check_one_way(h: Harness) -> CheckResult:
    problems: list[str] = []
    if not await _enable(h, problems):
        return _result("linkloss.one_way", problems, "")
    await _echo_latest(h, problems)
    # keep talking, stop showing that we hear the firmware: frozen echo, no acks
    h.s.echo_override = h.s.last_echo_sent or 0
    h.s.auto_ack = False
    h.s.ack_override = h.s.ack_field()
    t_f = h.s.last_echo_changed_at  # the firmware last saw that we hear it then
    hb = await h.heartbeat_where(lambda st: not _enabled(st), t_f, h.watchdog_ms / 1000 + 0.5)
    measured = (hb.t - t_f) * 1000 if hb else None
    if hb is None:
        problems.append("motors still enabled: the firmware never acted on the one-way loss")
    elif not within(measured, h.watchdog_ms, h.tol):
        problems.append(f"motors stopped {measured:.0f} ms after the host went deaf")
    h.port.silent = True
    await h.port.pause(h.watchdog_ms / 1000 + 0.05)
    reported = await _after_loss(h, t_f, problems, "one-way loss")
    return _result("linkloss.one_way", problems,
                   f"stopped; firmware reports {reported:.1f} ms" if reported is not None else "",
                   measured, h.watchdog_ms)


async def _spin(h: Harness, problems: list[str]) -> bool:
    if not await _enable(h, problems):
        return False
    t0 = h.now()
    h.setpoints = (h.config.dig_speed, h.config.cut_depth)
    if not await h.wait_drum_speed(0.9 * h.config.dig_speed, t0, h.config.spinup_s):
        problems.append(f"drum never reached {0.9 * h.config.dig_speed:.2f} rad/s")
        return False
    return True


def _stop_order(h: Harness, stop_seq: int, event_seq: int, problems: list[str]) -> None:
    """EVENT(STANDSTILL) before STOP's DONE, in reliable order (4.9, 1.2)."""
    done = [r for r in h.s.since(h.session_start, CommandResult)
            if r.message.command_seq == stop_seq and r.message.status is ResultStatus.DONE]
    if done and (done[0].frame.seq - event_seq) % (1 << 32) >= (1 << 31):
        problems.append("STOP's DONE came before EVENT(STANDSTILL)")


async def _disable_order(h: Harness, problems: list[str]) -> None:
    """ENABLE(0) is DONE at once, before its stop's EVENT(STANDSTILL) (4.8, 1.2)."""
    if not await _spin(h, problems):
        return
    h.setpoints = None
    t0 = h.now()
    seq = await h.command(CommandCode.ENABLE, 0.0)
    done = await h.final_result(seq, 1.0)
    await h.port.wait(lambda: bool(h.events(EventCode.STANDSTILL, t0)), 1.0)
    ev = h.events(EventCode.STANDSTILL, t0)
    if done is None or done.status is not ResultStatus.DONE:
        problems.append(f"ENABLE(0) answered {done}")
    elif not ev:
        problems.append("no EVENT(STANDSTILL) after ENABLE(0)")
    else:
        done_rx = next(r for r in h.s.since(t0, CommandResult) if r.message.command_seq == seq
                       and r.message.status is ResultStatus.DONE)
        if (ev[0].frame.seq - done_rx.frame.seq) % (1 << 32) >= (1 << 31):
            problems.append("ENABLE(0)'s DONE waited for standstill (1.2: DONE at once)")


async def _non_finite_setpoint(h: Harness, problems: list[str]) -> None:
    """A SETPOINTS frame with an infinite drum_speed is ignored whole, not clamped (4.7, 1.2).
    Seen in the drum_speed channel if announced, else in the next STOP's standstill time."""
    t0 = h.now()
    h.s.send(Setpoints(h.deadline_us(0.5), float("inf"), h.config.cut_depth, True))
    h.port.flush()
    if h.drum_column() is None:
        await h.port.pause(0.25)
    elif await h.wait_drum_speed(0.5, t0, 0.4):
        problems.append("the drum moved for a SETPOINTS with drum_speed inf "
                        "(1.2: a non-finite set-point is ignored whole)")


async def _stop_from_rest(h: Harness, problems: list[str], from_dig: float | None) -> None:
    """A STOP with the motors on and the drum already still: STANDSTILL all the same (6)."""
    # latest wins: a set-point without ENABLE replaces the spin's, so nothing is fresh
    h.s.send(Setpoints(h.deadline_us(0.2), 0.0, h.config.cut_depth, False))
    h.port.flush()
    if not await _enable(h, problems):
        return
    await _non_finite_setpoint(h, problems)
    t0 = h.now()
    seq = await h.command(CommandCode.STOP)
    done = await h.final_result(seq, 1.0)
    if done is None or done.status is not ResultStatus.DONE:
        problems.append(f"STOP from rest answered {done}")
    if not await h.port.wait(lambda: bool(h.events(EventCode.STANDSTILL, t0)), 0.5):
        problems.append("no EVENT(STANDSTILL) for a STOP with the drum already at rest")
    elif from_dig is not None and (took := h.events(EventCode.STANDSTILL, t0)[0].message.value
                                   ) >= from_dig:
        problems.append(f"a STOP from rest took {took:.0f} ms to standstill, as long as from "
                        f"dig speed ({from_dig:.0f} ms): the drum moved for a SETPOINTS with "
                        "drum_speed inf (1.2: a non-finite set-point is ignored whole)")


async def check_standstill(h: Harness) -> CheckResult:
    problems: list[str] = []
    figures: list[float] = []
    t0 = h.now()
    if await _spin(h, problems):
        h.setpoints = None
        t_stop = h.now()
        seq = await h.command(CommandCode.STOP)
        done = await h.final_result(seq, 2.0)
        if done is None or done.status is not ResultStatus.DONE:
            problems.append(f"STOP answered {done}")
        await h.port.wait(lambda: bool(h.events(EventCode.STANDSTILL, t_stop)), 1.0)
        ev = h.events(EventCode.STANDSTILL, t_stop)
        if not ev:
            problems.append("no EVENT(STANDSTILL) after STOP")
        else:
            figures.append(ev[0].message.value)
            _stop_order(h, seq, ev[0].frame.seq, problems)
        if await h.heartbeat_where(_enabled, h.now() + 0.03, 0.1) is not None:
            problems.append("STOP left the motors enabled (1.2: STOP ends with power off)")
        await _disable_order(h, problems)
        await _stop_from_rest(h, problems, figures[0] if figures else None)
        await h.port.pause(0.1)
        seen = standstill_from_samples(h.drum_samples(t0), h.config.dig_speed)
        if seen is not None:
            figures.append(seen)
            if not within(seen, SPEC.standstill_ms, h.tol):
                problems.append(f"samples show {seen:.0f} ms from dig speed to standstill")
    t1 = h.now()
    if await _spin(h, problems):
        h.port.silent = True  # the watchdog stops it this time
        await h.port.pause(h.watchdog_ms / 1000 + SPEC.standstill_ms / 1000 + 0.2)
        h.setpoints = None
        h.port.silent = False
        if await h.new_session():
            await h.port.wait(lambda: bool(h.events(EventCode.STANDSTILL, t1)), 1.0)
        ev = h.events(EventCode.STANDSTILL, t1)
        if not ev:
            problems.append("no EVENT(STANDSTILL) after a watchdog stop")
        else:
            figures.append(ev[0].message.value)
    worst = max(figures) if figures else None
    if figures and not within(worst, SPEC.standstill_ms):
        problems.append(f"standstill took {worst:.0f} ms")
    shown = ", ".join(f"{f:.0f}" for f in figures)
    return _result("standstill", problems, f"STOP and watchdog stops at standstill after "
                   f"{shown} ms", worst, SPEC.standstill_ms)


MOTION_PROBES = {
    "estop.latch": check_estop_latch,
    "estop.power_cut": check_estop_power,
    "watchdog.stop": check_watchdog,
    "linkloss.one_way": check_one_way,
    "standstill": check_standstill,
}
