"""The firmware end's rules, written once: the model behind the simulator and the loopback.

Theory of operation. ``FirmwareCore`` is the sans-I/O firmware logic that
needs no physics (docs/protocol.md sections 3.1, 4.7-4.13, 6): sessions and
the watchdog, set-points, the command preconditions and their order (one
table, ``COMMAND_RULES``, keyed by ``CommandCode``), ENABLE / STOP /
RESET_ESTOP, the e-stop latch, parameters (keyed by ``Param``), controlled
stops and the action bookkeeping (results for the session that asked).

What depends on the machine is handed in, not reached for: a ``RigModel``
says whether motors may be enabled (CAUSE_PRESENT), hears the power being
cut or enabled, and runs the long actions (DRIVE_TO, DUMP, STOW) through
the core's public result calls. ``sim_hw.Firmware`` is this core with the
simulated rig's plant; ``firmware_bridge.loopback`` is this core with a
one-number drum and no drive, so every rule exists once.

Inputs: ``on_session``, ``controller_heard``, ``on_message`` (what the link
delivered), ``check_watchdog`` / ``link_lost`` (wall time ``now``, like every
link deadline), ``standstill_reached`` (the machine saw the drum at rest).
Outputs: ``outbox`` of (message, session) pairs: results and parameter
values belong to the session that asked (``session`` id) and are dropped if
it is gone; events (session None) wait for the next session.
``time`` is the firmware's clock in seconds since boot; the owner keeps it.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .messages import (
    Command,
    CommandCode,
    CommandResult,
    EStop,
    Event,
    EventCode,
    FirmwareSeverity,
    Hello,
    Message,
    Param,
    ParamGet,
    ParamSet,
    ParamStatus,
    ParamValue,
    Reason,
    ResultStatus,
    Setpoints,
    Status,
)
from .params import STANDARD_PARAMS, f32, in_range_f32

log = logging.getLogger(__name__)

__all__ = [
    "COMMAND_RULES",
    "ESTOP_SOURCES",
    "Action",
    "CommandRule",
    "FirmwareCore",
    "MotionHandler",
    "Power",
    "RigModel",
    "round_half_away",
]

ESTOP_SOURCES = {0: "controller", 1: "ground", 2: "operator panel"}  # section 4.10


class Power(Enum):
    OFF = "off"
    ON = "on"
    STOPPING = "stopping"  # controlled stop in progress, then OFF


@dataclass(slots=True)
class Action:
    code: CommandCode
    seq: int
    session: int
    started: float  # firmware time, s
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    start_mass: float = 0.0
    arm_follow: bool = False  # DRIVE_TO arg3 = 1: the arm follows the set-points


@dataclass(frozen=True, slots=True)
class CommandRule:
    """How a command is checked before it runs (docs/protocol.md section 4.8)."""

    refused_when_latched: bool  # ESTOP_LATCHED while the e-stop is latched (1.2: literal)
    needs_enabled: bool  # NOT_ENABLED unless the motors are on
    used_args: tuple[int, ...]  # arguments it reads: non-finite is BAD_VALUE (1.2)


COMMAND_RULES: dict[CommandCode, CommandRule] = {
    CommandCode.RESET_ESTOP: CommandRule(False, False, ()),
    CommandCode.ENABLE: CommandRule(True, False, (0,)),
    CommandCode.STOP: CommandRule(True, False, ()),
    CommandCode.DRIVE_TO: CommandRule(True, True, (0, 1, 2, 3)),
    CommandCode.DUMP: CommandRule(True, True, ()),
    CommandCode.STOW: CommandRule(True, True, ()),
}

MotionHandler = Callable[[Command, int, int], None]


class RigModel(Protocol):
    """What the core asks of the machine it runs on (the plant side)."""

    def enable_refusal(self) -> str | None:
        """Why the motors may not be enabled now (CAUSE_PRESENT), or None."""

    def power_enabled(self) -> None:
        """The motors were switched on (from off or stopping)."""

    def power_cut(self) -> None:
        """An e-stop cut the motor power (category 0)."""

    def motion_handlers(self) -> dict[CommandCode, MotionHandler]:
        """DRIVE_TO, DUMP, STOW: run after the core's preconditions passed."""


def round_half_away(x: float) -> float:
    """Nearest whole number, halves away from zero (C ``roundf``; section 4.13, 1.2)."""
    return float(math.copysign(math.floor(abs(x) + 0.5), x))


class FirmwareCore:
    """See the module docstring."""

    def __init__(self, params: dict[Param, float], *, watchdog_fixed: bool = False) -> None:
        self.params = params
        self.watchdog_fixed = watchdog_fixed  # True: a HELLO's watchdog_ms does not set it
        self.power = Power.OFF
        self.estop_latched = False
        self.estop_cause = False  # panel button still pressed
        self.watchdog_tripped = False
        self.action: Action | None = None
        self.setpoint: Setpoints | None = None
        self.setpoint_until = -math.inf  # wall time
        self.last_heard: float | None = None
        self.time = 0.0  # firmware seconds since boot
        self.outbox: deque[tuple[Message, int | None]] = deque()
        self.counters = {"setpoints": 0, "setpoints_expired": 0, "setpoints_invalid": 0,
                         "commands": 0, "commands_rejected": 0}
        self.stop_started = 0.0
        self.stop_cause = ""
        self.rig: RigModel | None = None
        self._motion: dict[CommandCode, MotionHandler] = {}

    def attach(self, rig: RigModel) -> None:
        """The machine this core runs; its long actions are registered here."""
        self.rig = rig
        self._motion = rig.motion_handlers()

    # --- state ------------------------------------------------------------------------
    @property
    def motors_enabled(self) -> bool:
        return self.power is Power.ON

    @property
    def status(self) -> int:
        st = 0
        if self.estop_latched:
            st |= Status.ESTOP
        if self.power is Power.ON:
            st |= Status.MOTORS_ENABLED
        if self.watchdog_tripped:
            st |= Status.WATCHDOG_TRIPPED
        if self.action is not None:
            st |= {CommandCode.DRIVE_TO: Status.DRIVING, CommandCode.DUMP: Status.DUMPING,
                   CommandCode.STOW: Status.STOWING}.get(self.action.code, 0)
        return int(st)

    @property
    def watchdog_s(self) -> float:
        return self.params[Param.WATCHDOG_MS] / 1000.0

    def time_us(self) -> int:
        return int(self.time * 1e6)

    def busy(self) -> CommandCode | None:
        return self.action.code if self.action is not None else None

    # --- inputs from the link -----------------------------------------------------------
    def on_session(self, hello: Hello | None, now: float) -> None:
        if hello is not None and hello.watchdog_ms and not self.watchdog_fixed:
            spec = STANDARD_PARAMS[Param.WATCHDOG_MS]
            self.params[Param.WATCHDOG_MS] = min(max(float(hello.watchdog_ms), spec.lo), spec.hi)
        if self.power is not Power.OFF:
            # a new session means the old host is gone: the link-loss stop (section 6)
            self.link_lost("a new session started", now, waited=0.0)
        self.last_heard = now

    def controller_heard(self, now: float) -> None:
        self.last_heard = now

    def on_message(self, msg: Message, seq: int, session: int, now: float,
                   fw_time_us: int) -> None:
        """A message the link delivered; firmware-only types are ignored (section 4, 1.2)."""
        if isinstance(msg, Setpoints):
            self._setpoints(msg, now, fw_time_us)
        elif isinstance(msg, Command):
            self.counters["commands"] += 1
            self.command(msg, seq, session, fw_time_us)
        elif isinstance(msg, EStop):
            src = ESTOP_SOURCES.get(msg.source, f"unknown source {msg.source}")
            self.latch_estop(f"e-stop from {src}" + (f": {msg.reason}" if msg.reason else ""))
        elif isinstance(msg, ParamGet | ParamSet):
            self.outbox.append((self.param(msg, seq), session))

    def _setpoints(self, msg: Setpoints, now: float, fw_time_us: int) -> None:
        self.counters["setpoints"] += 1
        if not (math.isfinite(msg.drum_speed) and math.isfinite(msg.cut_depth)):
            self.counters["setpoints_invalid"] += 1  # ignored whole (section 4.7, 1.2)
            return
        if fw_time_us > msg.deadline_us:
            self.counters["setpoints_expired"] += 1
            return
        self.setpoint = msg
        self.setpoint_until = now + (msg.deadline_us - fw_time_us) / 1e6

    def fresh_setpoint(self, now: float) -> Setpoints | None:
        sp = self.setpoint
        return sp if sp is not None and sp.enable and now <= self.setpoint_until else None

    # --- parameters (section 4.13) --------------------------------------------------------
    def param(self, msg: ParamGet | ParamSet, seq: int) -> ParamValue:
        pid = msg.param_id
        spec = STANDARD_PARAMS.get(pid)
        if spec is None or pid not in self.params:
            return ParamValue(seq, pid, ParamStatus.UNKNOWN_PARAM, 0.0)
        key = Param(pid)
        status = ParamStatus.OK
        if isinstance(msg, ParamSet):
            if not spec.writable:
                status = ParamStatus.READ_ONLY
            elif not in_range_f32(msg.value, spec.lo, spec.hi):  # range first (1.2) ...
                status = ParamStatus.OUT_OF_RANGE
            else:  # ... then round, halves away from zero
                value = round_half_away(msg.value) if spec.whole else msg.value
                self.params[key] = value
                log.info("parameter %s set to %s", key.name, value)
        return ParamValue(seq, pid, status, self.params[key])

    # --- safety --------------------------------------------------------------------------
    def event(self, code: EventCode, severity: FirmwareSeverity, value: float = 0.0,
              text: str = "") -> None:
        log.info("event %s (%s) %s %s", code.name, severity.name, value, text)
        self.outbox.append((Event(self.time_us(), code, severity, float(value), text), None))

    def latch_estop(self, text: str) -> None:
        """Category 0: power off at once; the event only on the transition (4.10, 1.2)."""
        self.abort(ResultStatus.FAILED, Reason.ESTOP_LATCHED, text)
        self.power = Power.OFF
        if self.rig is not None:
            self.rig.power_cut()
        if not self.estop_latched:
            self.estop_latched = True
            self.event(EventCode.ESTOP_LATCHED, FirmwareSeverity.CRITICAL, 0.0, text)

    def panel_estop(self, pressed: bool) -> None:
        """The operator panel's mushroom button (fault injection)."""
        self.estop_cause = pressed
        if pressed:
            self.latch_estop("e-stop from operator panel")

    def controlled_stop(self, why: str, reason: Reason = Reason.INTERRUPTED) -> None:
        self.abort(ResultStatus.FAILED, reason, why)
        self.begin_stop(why)

    def begin_stop(self, cause: str) -> None:
        """Category 1 stop: brake actively, then power off (section 6, "Stopping").

        Only from ON: a stop with the motors off stops nothing (1.2)."""
        if self.power is Power.ON:
            self.power = Power.STOPPING
            self.stop_started = self.time
            self.stop_cause = cause

    def standstill_reached(self) -> None:
        """The machine saw the drum at rest: power off, STANDSTILL, then STOP's DONE (4.9)."""
        if self.power is not Power.STOPPING:
            return
        self.power = Power.OFF
        took = (self.time - self.stop_started) * 1000
        self.event(EventCode.STANDSTILL, FirmwareSeverity.INFO, took,
                   f"standstill {took:.0f} ms after the stop ({self.stop_cause})")
        if self.busy() is CommandCode.STOP:
            self.finish(text="stopped")

    @property
    def watchdog_deadline(self) -> float | None:
        """Wall time at which the watchdog trips unless the controller is heard, or None."""
        if self.power is Power.OFF or self.watchdog_tripped or self.last_heard is None:
            return None
        return self.last_heard + self.watchdog_s

    def check_watchdog(self, now: float) -> None:
        deadline = self.watchdog_deadline
        if deadline is None or now < deadline:
            return
        assert self.last_heard is not None
        silent = now - self.last_heard
        log.warning("watchdog: nothing from the controller for %.0f ms", silent * 1000)
        self.trip(silent, f"no message from the controller for {silent * 1000:.0f} ms")

    def link_lost(self, why: str, now: float, waited: float | None = None) -> None:
        """The link was declared lost (either direction): stop as the watchdog does.

        *waited*: how long the failing direction was silent (s); default: since the
        controller was last heard. With the motors off nothing happens (3.1, 1.2)."""
        if self.power is Power.OFF or self.watchdog_tripped:
            return
        silent = now - self.last_heard if self.last_heard is not None else 0.0
        if waited is not None:
            silent = waited
        log.warning("link lost (%s): stopping the motors", why)
        self.trip(silent, f"link lost: {why}")

    def trip(self, silent: float, text: str) -> None:
        self.watchdog_tripped = True
        self.controlled_stop("watchdog")
        self.event(EventCode.WATCHDOG_STOP, FirmwareSeverity.FAULT, silent * 1000, text)

    # --- commands (section 4.8) -----------------------------------------------------------
    def command_expired(self, cmd: Command, fw_time_us: int) -> bool:
        return fw_time_us > cmd.deadline_us

    def refusal(self, cmd: Command, fw_time_us: int) -> tuple[Reason, str] | None:
        """The first precondition *cmd* fails, in the order of section 4.8, or None."""
        if self.command_expired(cmd, fw_time_us):
            late = (fw_time_us - cmd.deadline_us) / 1000
            return Reason.EXPIRED, f"deadline passed {late:.1f} ms ago"
        rule = COMMAND_RULES[cmd.code]
        if rule.refused_when_latched and self.estop_latched:
            return Reason.ESTOP_LATCHED, "e-stop latched"
        if rule.needs_enabled and self.power is not Power.ON:
            return Reason.NOT_ENABLED, "motors not enabled"
        bad = [i for i in rule.used_args if not math.isfinite(cmd.args[i])]
        if bad:
            return Reason.BAD_VALUE, f"arg{bad[0]} must be finite, got {cmd.args[bad[0]]}"
        if cmd.code is CommandCode.DRIVE_TO:  # inside the site (4.8, 1.2), float32 bound
            half = f32(self.params.get(Param.SITE_HALF_SIZE_M, math.inf))
            x, y = cmd.args[0], cmd.args[1]
            if abs(x) > half or abs(y) > half:
                return Reason.BAD_VALUE, f"({x:.2f}, {y:.2f}) is outside the site (+-{half:g} m)"
        return None

    def command(self, cmd: Command, seq: int, session: int, fw_time_us: int) -> None:
        refused = self.refusal(cmd, fw_time_us)
        if refused is not None:
            self.reject(cmd, seq, session, *refused)
        elif cmd.code is CommandCode.RESET_ESTOP:
            self._reset_estop(cmd, seq, session)
        elif cmd.code is CommandCode.ENABLE:
            self._enable(cmd, seq, session)
        elif cmd.code is CommandCode.STOP:
            self._stop(cmd, seq, session)
        else:
            handler = self._motion.get(cmd.code)
            if handler is None:  # a machine without this action: done at once
                self.accept_done(seq, session, cmd.code)
            else:
                handler(cmd, seq, session)

    def _reset_estop(self, cmd: Command, seq: int, session: int) -> None:
        if self.estop_latched and self.estop_cause:
            self.reject(cmd, seq, session, Reason.CAUSE_PRESENT, "panel e-stop still pressed")
            return
        if self.estop_latched:
            self.estop_latched = False
            self.event(EventCode.ESTOP_RESET, FirmwareSeverity.INFO, 0.0, "e-stop reset")
        self.accept_done(seq, session, cmd.code)

    def _enable(self, cmd: Command, seq: int, session: int) -> None:
        if cmd.args[0] < 0.5:  # ENABLE(0): DONE at once, the stop is reported by STANDSTILL
            self.controlled_stop("disabled by controller")
            self.accept_done(seq, session, cmd.code)
            return
        cause = self.rig.enable_refusal() if self.rig is not None else None
        if cause is not None:
            self.reject(cmd, seq, session, Reason.CAUSE_PRESENT, cause)
            return
        if self.power is not Power.ON and self.rig is not None:
            self.rig.power_enabled()
        self.power = Power.ON
        self.watchdog_tripped = False
        self.accept_done(seq, session, cmd.code)

    def _stop(self, cmd: Command, seq: int, session: int) -> None:
        """STOP: ACCEPTED, DONE at standstill (at once when off); the motors end off."""
        self.abort(ResultStatus.FAILED, Reason.INTERRUPTED, "STOP")
        self.result(seq, session, cmd.code, ResultStatus.ACCEPTED)
        if self.power is Power.OFF:
            self.result(seq, session, cmd.code, ResultStatus.DONE)
        else:
            self.begin_stop("STOP")
            self.action = Action(cmd.code, seq, session, self.time)

    # --- results -----------------------------------------------------------------------
    def result(self, seq: int, session: int, code: int, status: ResultStatus,
               reason: Reason = Reason.NONE, detail: str = "") -> None:
        if status is ResultStatus.REJECTED:
            self.counters["commands_rejected"] += 1
        self.outbox.append((CommandResult(seq, code, status, reason, detail), session))

    def reject(self, cmd: Command, seq: int, session: int, reason: Reason,
               detail: str = "") -> None:
        log.info("command %s rejected: %s %s", cmd.code.name, reason.name, detail)
        self.result(seq, session, cmd.code, ResultStatus.REJECTED, reason, detail)

    def accept_done(self, seq: int, session: int, code: int) -> None:
        self.result(seq, session, code, ResultStatus.ACCEPTED)
        self.result(seq, session, code, ResultStatus.DONE)

    def start(self, action: Action) -> None:
        self.action = action
        self.result(action.seq, action.session, action.code, ResultStatus.ACCEPTED)

    def finish(self, event: EventCode | None = None, value: float = 0.0, text: str = "") -> None:
        a = self.action
        assert a is not None
        self.action = None
        self.result(a.seq, a.session, a.code, ResultStatus.DONE, detail=text)
        if event is not None:
            self.event(event, FirmwareSeverity.INFO, value, text)

    def abort(self, status: ResultStatus, reason: Reason, detail: str) -> None:
        a = self.action
        if a is None:
            return
        self.action = None
        self.result(a.seq, a.session, a.code, status, reason, detail)

    def supersede(self, cmd: Command, seq: int, session: int) -> bool:
        """A long action of the same kind is replaced; another kind makes *cmd* BUSY."""
        busy = self.busy()
        if busy is not None and busy is not cmd.code:
            self.reject(cmd, seq, session, Reason.BUSY, f"{busy.name} in progress")
            return False
        if busy is cmd.code:
            self.abort(ResultStatus.FAILED, Reason.INTERRUPTED, f"superseded by {cmd.code.name}")
        return True
