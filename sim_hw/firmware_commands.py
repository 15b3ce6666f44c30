"""The firmware's command handling (docs/protocol.md section 4.8), a mixin of ``Firmware``.

``_command`` checks the preconditions in the order the protocol lists them
(expiry, e-stop latch, motors enabled) from a rule table, then dispatches to
one named handler per command code. Results go to the firmware's outbox for
the session that asked. The attributes used here are ``Firmware``'s own
(declared below for readers and type checkers).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from firmware_bridge.messages import (
    Command,
    CommandCode,
    CommandResult,
    EventCode,
    FirmwareSeverity,
    Message,
    Reason,
    ResultStatus,
)
from firmware_bridge.params import f32

from .drum_loop import DrumSpeedLoop
from .plant import RigPlant

if TYPE_CHECKING:
    from .firmware import FirmwareConfig

log = logging.getLogger(__name__)

__all__ = ["Action", "CommandHandlers", "Power"]


class Power(Enum):
    OFF = "off"
    ON = "on"
    STOPPING = "stopping"  # controlled stop in progress, then OFF


@dataclass(slots=True)
class Action:
    code: CommandCode
    seq: int
    session: int
    started: float  # firmware sim time
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    start_mass: float = 0.0
    arm_follow: bool = False  # DRIVE_TO arg3 = 1: the arm follows the set-points


@dataclass(frozen=True, slots=True)
class _CommandRule:
    """How a command is checked before it runs (docs/protocol.md section 4.8)."""

    handler: Callable[[Command, int, int], None]
    refused_when_latched: bool  # ESTOP_LATCHED while the e-stop is latched
    needs_enabled: bool  # NOT_ENABLED unless the motors are on


class CommandHandlers:
    """Command rules and handlers; mixed into ``Firmware`` (one object, one state)."""

    config: FirmwareConfig
    plant: RigPlant
    power: Power
    estop_latched: bool
    estop_cause: bool
    overtemp: bool
    watchdog_tripped: bool
    action: Action | None
    time: float
    outbox: deque[tuple[Message, int | None]]
    counters: dict[str, int]
    drum: DrumSpeedLoop
    _arm_hold: float
    _rules: dict[CommandCode, _CommandRule]
    # provided by Firmware: event(), controlled_stop(), _begin_stop()

    def _result(self, seq: int, session: int, code: int, status: ResultStatus,
                reason: Reason = Reason.NONE, detail: str = "") -> None:
        if status is ResultStatus.REJECTED:
            self.counters["commands_rejected"] += 1
        self.outbox.append((CommandResult(seq, code, status, reason, detail), session))

    def _reject(self, cmd: Command, seq: int, session: int, reason: Reason,
                detail: str = "") -> None:
        log.info("command %s rejected: %s %s", cmd.code.name, reason.name, detail)
        self._result(seq, session, cmd.code, ResultStatus.REJECTED, reason, detail)

    def _command(self, cmd: Command, seq: int, session: int, fw_time_us: int) -> None:
        """Check the preconditions of docs/protocol.md section 4.8 in order, then dispatch."""
        if fw_time_us > cmd.deadline_us:
            self._reject(cmd, seq, session, Reason.EXPIRED,
                         f"deadline passed {(fw_time_us - cmd.deadline_us) / 1000:.1f} ms ago")
            return
        rule = self._rules.get(cmd.code)
        if rule is None:  # pragma: no cover - the codec only decodes known codes
            self._reject(cmd, seq, session, Reason.UNKNOWN_COMMAND)
            return
        if rule.refused_when_latched and self.estop_latched:
            self._reject(cmd, seq, session, Reason.ESTOP_LATCHED)
            return
        if rule.needs_enabled and self.power is not Power.ON:
            self._reject(cmd, seq, session, Reason.NOT_ENABLED)
            return
        rule.handler(cmd, seq, session)

    def _command_rules(self) -> dict[CommandCode, _CommandRule]:
        return {
            CommandCode.RESET_ESTOP: _CommandRule(self._cmd_reset_estop, False, False),
            CommandCode.ENABLE: _CommandRule(self._cmd_enable, True, False),
            CommandCode.STOP: _CommandRule(self._cmd_stop, True, False),
            CommandCode.DRIVE_TO: _CommandRule(self._cmd_drive_to, True, True),
            CommandCode.DUMP: _CommandRule(self._cmd_dump, True, True),
            CommandCode.STOW: _CommandRule(self._cmd_stow, True, True),
        }

    def _busy(self) -> CommandCode | None:
        return self.action.code if self.action is not None else None

    def _cmd_reset_estop(self, cmd: Command, seq: int, session: int) -> None:
        if self.estop_latched and self.estop_cause:
            self._reject(cmd, seq, session, Reason.CAUSE_PRESENT, "panel e-stop still pressed")
            return
        if self.estop_latched:
            self.estop_latched = False
            self.event(EventCode.ESTOP_RESET, FirmwareSeverity.INFO, 0.0, "e-stop reset")
        self._accept_done(seq, session, cmd.code)

    def _cmd_enable(self, cmd: Command, seq: int, session: int) -> None:
        if cmd.args[0] < 0.5:
            self.controlled_stop("disabled by controller")
            self._accept_done(seq, session, cmd.code)
            return
        p = self.plant.state
        if self.overtemp:
            self._reject(cmd, seq, session, Reason.CAUSE_PRESENT,
                         f"motor over temperature ({p.motor_temp:.0f} degC)")
            return
        if p.soc < self.config.critical_soc:
            self._reject(cmd, seq, session, Reason.CAUSE_PRESENT,
                         f"battery critical ({p.soc:.1f} %)")
            return
        if self.power is not Power.ON:
            self.drum.reset(p.omega)
            self._arm_hold = p.arm_pos
        self.power = Power.ON
        self.watchdog_tripped = False
        self._accept_done(seq, session, cmd.code)

    def _cmd_stop(self, cmd: Command, seq: int, session: int) -> None:
        self._abort(ResultStatus.FAILED, Reason.INTERRUPTED, "STOP")
        self._result(seq, session, cmd.code, ResultStatus.ACCEPTED)
        if self.power is Power.OFF:
            self._result(seq, session, cmd.code, ResultStatus.DONE)
        else:
            self._begin_stop("STOP")
            self.action = Action(cmd.code, seq, session, self.time)

    def _cmd_drive_to(self, cmd: Command, seq: int, session: int) -> None:
        cfg = self.config
        x, y, speed, arm = cmd.args
        # bounds compare in float32 (section 4.8): f32(0.3) is 0.30000001
        if not all(map(math.isfinite, (x, y, speed))) or not 0 < speed <= f32(cfg.max_drive_speed):
            self._reject(cmd, seq, session, Reason.BAD_VALUE,
                         f"speed must be in (0, {cfg.max_drive_speed}] m/s, got {speed}")
            return
        if arm not in (0.0, 1.0):
            self._reject(cmd, seq, session, Reason.BAD_VALUE,
                         f"arg3 (arm while driving) must be 0 (hold) or 1 (follow the "
                         f"set-points, at least {cfg.drive_arm_clearance} m up), got {arm}")
            return
        if not self.plant.site.contains(x, y):
            self._reject(cmd, seq, session, Reason.BAD_VALUE,
                         f"({x:.2f}, {y:.2f}) is outside the site")
            return
        if self.plant.cut_depth > cfg.dig_depth_for_busy:
            self._reject(cmd, seq, session, Reason.BUSY,
                         f"digging at {self.plant.cut_depth * 100:.1f} cm")
            return
        busy = self._busy()
        if busy in (CommandCode.DUMP, CommandCode.STOW):
            self._reject(cmd, seq, session, Reason.BUSY, f"{busy.name} in progress")
            return
        if busy is CommandCode.DRIVE_TO:
            self._abort(ResultStatus.FAILED, Reason.INTERRUPTED, "superseded by DRIVE_TO")
        self._arm_hold = self.plant.state.arm_pos
        self._start(Action(cmd.code, seq, session, self.time, (x, y, speed),
                           arm_follow=arm == 1.0))

    def _cmd_dump(self, cmd: Command, seq: int, session: int) -> None:
        p = self.plant.state
        if p.arm_pos < self.plant.config.arm_stow - 0.01:
            self._reject(cmd, seq, session, Reason.BUSY, f"arm not stowed ({p.arm_pos:.3f} m)")
            return
        if self._arriving():
            # dump while arriving (section 4.8): the drive ends here, the rig stops
            self._abort(ResultStatus.FAILED, Reason.INTERRUPTED, "superseded by DUMP on arrival")
        elif not self._supersede(cmd, seq, session):
            return
        self._start(Action(cmd.code, seq, session, self.time, start_mass=p.bucket_mass))

    def _arriving(self) -> bool:
        """An arm-follow DRIVE_TO runs and is within ``dump_arrival_m`` of its target."""
        a, p = self.action, self.plant.state
        return a is not None and a.code is CommandCode.DRIVE_TO and a.arm_follow and \
            math.hypot(a.target[0] - p.x, a.target[1] - p.y) <= self.config.dump_arrival_m

    def _cmd_stow(self, cmd: Command, seq: int, session: int) -> None:
        if self._supersede(cmd, seq, session):
            self._start(Action(cmd.code, seq, session, self.time))

    def _supersede(self, cmd: Command, seq: int, session: int) -> bool:
        """A long action of the same kind is replaced; another kind makes *cmd* BUSY."""
        busy = self._busy()
        if busy is not None and busy is not cmd.code:
            self._reject(cmd, seq, session, Reason.BUSY, f"{busy.name} in progress")
            return False
        if busy is cmd.code:
            self._abort(ResultStatus.FAILED, Reason.INTERRUPTED, f"superseded by {cmd.code.name}")
        return True

    def _accept_done(self, seq: int, session: int, code: int) -> None:
        self._result(seq, session, code, ResultStatus.ACCEPTED)
        self._result(seq, session, code, ResultStatus.DONE)

    def _start(self, action: Action) -> None:
        self.action = action
        self._result(action.seq, action.session, action.code, ResultStatus.ACCEPTED)

    def _finish(self, event: EventCode | None = None, value: float = 0.0, text: str = "") -> None:
        a = self.action
        assert a is not None
        self.action = None
        self._result(a.seq, a.session, a.code, ResultStatus.DONE, detail=text)
        if event is not None:
            self.event(event, FirmwareSeverity.INFO, value, text)

    def _abort(self, status: ResultStatus, reason: Reason, detail: str) -> None:
        a = self.action
        if a is None:
            return
        self.action = None
        self._result(a.seq, a.session, a.code, status, reason, detail)
