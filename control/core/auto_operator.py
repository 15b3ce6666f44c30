"""A local operator for unattended runs (the demo, tests, a rover without a ground link).

It issues the same commands a ground operator would, through the same
validation path (``ControlCore.handle_command``), so every one is checked
against the state and acknowledged: arm when idle and nothing is wrong, start
the mission when armed, clear a fault once its cause is gone. It never resets
an e-stop (a human must) unless ``reset_estops`` is set, and it paces its
attempts (``retry_wall_s``) so a refused command is not hammered.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .commands import CommandName, GroundCommand
from .step import ControlCore
from .supervisor import Mode


@dataclass
class AutoOperator:
    retry_wall_s: float = 0.5
    reset_estops: bool = False
    clear_faults: bool = True
    enabled: bool = True
    max_clears: int = 5  # faults cleared before the operator gives up (a person must look)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._last: dict[CommandName, float] = {}
        self.clears = 0

    def _cmd(self, name: CommandName, now_wall: float) -> GroundCommand | None:
        if now_wall - self._last.get(name, -1e18) < self.retry_wall_s:
            return None
        self._last[name] = now_wall
        return GroundCommand(f"op-{next(self._ids)}", name, now_wall + 2.0, now_wall,
                             source="operator")

    def decide(self, core: ControlCore, now_wall: float) -> GroundCommand | None:
        if not self.enabled or core.mission is None or core.mission.complete:
            return None
        mode = core.mode
        causes = core.interlocks.active
        if mode is Mode.IDLE and not causes and not core.busy:
            return self._cmd(CommandName.ARM, now_wall)
        if mode is Mode.ARMED and not core.mission_running and core.motors_enabled:
            return self._cmd(CommandName.START, now_wall)
        if mode is Mode.FAULT and self.clear_faults and not causes \
                and self.clears < self.max_clears:
            cmd = self._cmd(CommandName.CLEAR_FAULT, now_wall)
            if cmd is not None:
                self.clears += 1
            return cmd
        if mode is Mode.ESTOP and self.reset_estops and not causes:
            return self._cmd(CommandName.RESET_ESTOP, now_wall)
        return None
