"""What ``ControlCore`` shows of itself: the rig view ground commands are checked against,
and the state message for the ground and the terminal.

Both are read-only views of the core's state, built on demand; nothing here changes it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

from .command_timing import ClockStatus
from .commands import RigView
from .interlocks import Interlocks, Reaction
from .mass_estimator import MassEstimator
from .measurements import Measurements
from .mission import MissionProgress
from .run_stats import RunStats
from .strategy import ExcavationStrategy
from .supervisor import Mode, Supervisor

__all__ = ["CoreView", "rig_view", "rounded", "state_message"]


class CoreView(Protocol):
    """What these views read of ``control.core.step.ControlCore`` (which satisfies it)."""

    supervisor: Supervisor
    strategy: ExcavationStrategy
    interlocks: Interlocks
    mass: MassEstimator
    mission: MissionProgress | None
    stats: RunStats
    mission_running: bool
    motors_enabled: bool
    last: Measurements

    @property
    def mode(self) -> Mode: ...


def rounded(x: float, nd: int = 2) -> float | None:
    """*x* rounded for a message; None for nan, inf or None."""
    return None if x is None or math.isnan(x) or math.isinf(x) else round(x, nd)


def rig_view(core: CoreView) -> RigView:
    """What ``control.core.commands.check_command`` needs to know of the rig."""
    active = core.interlocks.active
    m = core.mission
    return RigView(
        mode=core.mode, cut_depth=core.last.cut_depth,
        immediate_causes=tuple(t.reason for t in active
                               if t.reaction is Reaction.IMMEDIATE_STOP),
        causes=tuple(t.reason for t in active),
        mission_loaded=m is not None, mission_complete=bool(m and m.complete),
        mission_running=core.mission_running,
    )


def state_message(core: CoreView, clock: ClockStatus | None = None,
                  storage: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The state message for the ground and the terminal; with ``clock`` (the signed
    command gate's estimate of the ground's clock) also ``clock_offset_s``,
    ``clock_sync_age_s`` and ``clock_source``; with ``storage`` (the downlink
    outbox's) ``storage`` (docs/telemetry.md)."""
    _r = rounded
    m, est = core.last, core.mass.last
    out: dict[str, Any] = {
        "mode": core.mode.value,
        "since": round(core.supervisor.since, 3),
        "phase": core.strategy.phase.value if core.mode is Mode.DIGGING else "",
        "mission_running": core.mission_running,
        "motors_enabled": core.motors_enabled,
        "drum_current_a": _r(m.drum_current), "drum_speed_rad_s": _r(m.drum_speed),
        "cut_depth_m": _r(m.cut_depth, 4), "tilt_deg": _r(m.tilt),
        "motor_temp_c": _r(m.motor_temp), "battery_v": _r(m.battery_voltage),
        "x_m": _r(m.x), "y_m": _r(m.y),
        "bucket_kg": _r(est.estimate_kg), "load_cell_kg": _r(est.load_cell_kg),
        "model_kg": _r(est.model_kg), "load_cell_ok": est.load_cell_ok,
        "energy_j": _r(est.energy_j, 0),
        "interlocks": [t.name for t in core.interlocks.active],
        "interlock_trips": dict(core.stats.trips_by_cause),
        "stalls": dict(core.stats.stalls_by_cause),
    }
    if core.mission is not None:
        out["mission"] = core.mission.as_dict()
    if clock is not None:
        out.update(clock.state_fields())
    if storage is not None:
        out["storage"] = dict(storage)
    return out
