"""The simulated rig's long actions (docs/protocol.md section 4.8): DRIVE_TO, DUMP, STOW.

The rules every command shares (preconditions and their order, ENABLE, STOP,
RESET_ESTOP, results) are ``firmware_bridge.firmware_core``'s, written once
for the simulator and the loopback. What is left here needs the plant:
``MotionCommands`` gets the core (its public result calls and action
state), the plant, the configuration and the arm hold it shares with the
control step, all passed in; it reaches into nobody's private members.
"""

from __future__ import annotations

import logging
import math

from firmware_bridge.firmware_core import Action, FirmwareCore, MotionHandler
from firmware_bridge.messages import Command, CommandCode, Reason, ResultStatus
from firmware_bridge.params import f32

from .firmware_config import FirmwareConfig
from .plant import RigPlant

log = logging.getLogger(__name__)

__all__ = ["ArmHold", "MotionCommands"]


class ArmHold:
    """Where the arm holds while nothing moves it (shared with the control step)."""

    def __init__(self, position: float) -> None:
        self.position = position


class MotionCommands:
    """DRIVE_TO, DUMP and STOW on the simulated plant (see the module docstring)."""

    def __init__(self, core: FirmwareCore, plant: RigPlant, config: FirmwareConfig,
                 hold: ArmHold) -> None:
        self.core = core
        self.plant = plant
        self.config = config
        self.hold = hold

    def handlers(self) -> dict[CommandCode, MotionHandler]:
        return {CommandCode.DRIVE_TO: self._cmd_drive_to, CommandCode.DUMP: self._cmd_dump,
                CommandCode.STOW: self._cmd_stow}

    def _cmd_drive_to(self, cmd: Command, seq: int, session: int) -> None:
        cfg = self.config
        x, y, speed, arm = cmd.args
        # finite and inside the site: the core checked (firmware_core.refusal)
        # bounds compare in float32 (section 4.8): f32(0.3) is 0.30000001
        if not all(map(math.isfinite, (x, y, speed))) or not 0 < speed <= f32(cfg.max_drive_speed):
            self.core.reject(cmd, seq, session, Reason.BAD_VALUE,
                         f"speed must be in (0, {cfg.max_drive_speed}] m/s, got {speed}")
            return
        if arm not in (0.0, 1.0):
            self.core.reject(cmd, seq, session, Reason.BAD_VALUE,
                         f"arg3 (arm while driving) must be 0 (hold) or 1 (follow the "
                         f"set-points, at least {cfg.drive_arm_clearance} m up), got {arm}")
            return
        if self.plant.cut_depth > cfg.dig_depth_for_busy:
            self.core.reject(cmd, seq, session, Reason.BUSY,
                         f"digging at {self.plant.cut_depth * 100:.1f} cm")
            return
        busy = self.core.busy()
        if busy in (CommandCode.DUMP, CommandCode.STOW):
            self.core.reject(cmd, seq, session, Reason.BUSY, f"{busy.name} in progress")
            return
        if busy is CommandCode.DRIVE_TO:
            self.core.abort(ResultStatus.FAILED, Reason.INTERRUPTED, "superseded by DRIVE_TO")
        self.hold.position = self.plant.state.arm_pos
        self.core.start(Action(cmd.code, seq, session, self.core.time, (x, y, speed),
                           arm_follow=arm == 1.0))

    def _cmd_dump(self, cmd: Command, seq: int, session: int) -> None:
        p = self.plant.state
        if p.arm_pos < self.plant.config.arm_stow - 0.01:
            self.core.reject(cmd, seq, session, Reason.BUSY,
                             f"arm not stowed ({p.arm_pos:.3f} m)")
            return
        if self._arriving():
            # dump while arriving (section 4.8): the drive ends here, the rig stops
            self.core.abort(ResultStatus.FAILED, Reason.INTERRUPTED,
                            "superseded by DUMP on arrival")
        elif not self.core.supersede(cmd, seq, session):
            return
        self.core.start(Action(cmd.code, seq, session, self.core.time, start_mass=p.bucket_mass))

    def _arriving(self) -> bool:
        """An arm-follow DRIVE_TO runs and is within ``dump_arrival_m`` of its target."""
        a, p = self.core.action, self.plant.state
        return a is not None and a.code is CommandCode.DRIVE_TO and a.arm_follow and \
            math.hypot(a.target[0] - p.x, a.target[1] - p.y) <= self.config.dump_arrival_m

    def _cmd_stow(self, cmd: Command, seq: int, session: int) -> None:
        if self.core.supersede(cmd, seq, session):
            self.core.start(Action(cmd.code, seq, session, self.core.time))
