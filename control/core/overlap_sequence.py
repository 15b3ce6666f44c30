"""``ControlCore``'s mission steps that overlap arm travel with drives (a mixin).

With ``strategy.drive_overlap`` (power_limited), three steps of the dig cycle
change; everything else is the sequence of ``control.core.step``:

* FULL with the drum out of the soil: the arm starts rising and the rig drives
  off to the dump at once (FULL -> DRIVING) in DRIVE_TO's arm-follow mode; the
  arm reaches its stow height on the way (``control.core.drive_overlap``);
* arriving at the dump: once the rig is within ``dump_within_m`` of it with the
  arm stowed, the core counts it arrived and asks for the DUMP, which the
  firmware accepts within 0.3 m of an arm-follow drive's target (it ends the
  drive there: docs/protocol.md section 4.8); the drive's result is then
  superseded and ignored;
* drives to a dig site lower the arm and spin the drum up near the site
  (``control.core.drive_overlap.leg_setpoint``, served by ``ControlCore._run_mode``).

The attributes used here are ``ControlCore``'s own (declared for readers and
type checkers), as ``sim_hw.firmware_commands`` is to the firmware.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from firmware_bridge.messages import Capability

from .power_strategy import PowerLimitedStrategy
from .step_messages import RequestPurpose
from .supervisor import Trigger

if TYPE_CHECKING:
    from .config import ControllerConfig
    from .dig import DigStrategy
    from .drive_overlap import Leg
    from .measurements import Measurements
    from .mission import MissionProgress

__all__ = ["OverlapSteps"]

_ARM_FOLLOW = int(Capability.DRIVE_ARM_FOLLOW)


class OverlapSteps:
    """The overlapped steps; mixed into ``ControlCore`` (one object, one state)."""

    config: ControllerConfig
    strategy: DigStrategy
    mission: MissionProgress | None
    mission_running: bool
    carrying: bool
    manual_dump: bool
    stowed: bool
    firmware_capabilities: int
    _leg: Leg | None
    _pending: dict[int, RequestPurpose]
    # provided by ControlCore: busy, _at(), _drive(), _fire(), _next_action()

    @property
    def overlap(self) -> bool:
        """Drives move the arm (``strategy.drive_overlap``, power_limited only, and a
        firmware that says it implements the arm-follow drive)."""
        return (self.config.strategy.drive_overlap
                and bool(self.firmware_capabilities & _ARM_FOLLOW)
                and isinstance(self.strategy, PowerLimitedStrategy))

    def _drive_off_loaded(self, now: float, m: Measurements) -> bool:
        """FULL with the drum out of the soil: drive to the dump while the arm rises
        instead of stowing first; False: stow as ever."""
        plan = self.mission.plan if self.mission else None
        if not (self.overlap and self.mission_running and plan is not None and self.carrying
                and not self.manual_dump and not self.busy  # type: ignore[attr-defined]
                and not math.isnan(m.cut_depth) and m.cut_depth <= 0.0
                and not self._at(m, plan.dump_x, plan.dump_y,  # type: ignore[attr-defined]
                                 plan.arrive_tolerance_m)):
            return False
        self._drive(now, plan.dump_x, plan.dump_y,  # type: ignore[attr-defined]
                    plan.drive_speed_m_s, "dump site", to_dig=False)
        return True

    def _dump_on_arrival(self, now: float, m: Measurements) -> bool:
        """Driving to the dump, close enough and stowed: dump now (True)."""
        leg, plan = self._leg, self.mission.plan if self.mission else None
        c = self.config.strategy
        if leg is None or leg.to_dig or plan is None or math.isnan(m.cut_depth) \
                or m.cut_depth > c.stow_depth_m + 0.01 \
                or any(p is not RequestPurpose.DRIVE for p in self._pending.values()) \
                or not self._at(m, leg.x, leg.y,  # type: ignore[attr-defined]
                                min(c.dump_within_m, plan.arrive_tolerance_m)):
            return False
        self._pending.clear()  # the DUMP ends the drive: its FAILED result is expected
        self._fire(Trigger.ARRIVED, now,  # type: ignore[attr-defined]
                   f"within {c.dump_within_m:g} m of the dump site, arm stowed")
        self.stowed = True
        self._next_action(now, m)  # type: ignore[attr-defined]
        return True
