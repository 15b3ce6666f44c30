"""What ``ControlCore`` shows of itself: the context ground commands are checked against,
and the state message (the contract's ``RigState``) for the ground and the terminal.

Both are read-only views built on demand from the parts of the core they read,
passed in by ``control.core.step.ControlCore`` (so this module needs nothing of
the step, and the step imports it); nothing here changes the core's state.
"""

from __future__ import annotations

import math

from telemetry.contract.rig_state import ResumeReport, RigState

from .commands import CommandContext
from .config import ControllerConfig
from .dig import DigPhase
from .interlocks import Reaction, Trip
from .mass_estimator import MassEstimate
from .measurements import Measurements
from .mission import MissionProgress
from .param_report import param_values
from .run_stats import RunStats
from .supervisor import Mode

__all__ = ["command_context", "rounded", "state_message"]


def rounded(x: float | None, nd: int = 2) -> float | None:
    """*x* rounded for a message; None for nan, inf or None."""
    return None if x is None or math.isnan(x) or math.isinf(x) else round(x, nd)


def command_context(mode: Mode, cut_depth: float, active: tuple[Trip, ...],
                    mission: MissionProgress | None, mission_running: bool) -> CommandContext:
    """What ``control.core.commands.check_command`` needs to know of the rig."""
    return CommandContext(
        mode=mode, cut_depth=cut_depth,
        immediate_causes=tuple(t.reason for t in active
                               if t.reaction is Reaction.IMMEDIATE_STOP),
        causes=tuple(t.reason for t in active),
        mission_loaded=mission is not None,
        mission_complete=bool(mission and mission.complete),
        mission_running=mission_running,
    )


def state_message(mode: Mode, since: float, phase: DigPhase, *, mission_running: bool,
                  motors_enabled: bool, m: Measurements, est: MassEstimate,
                  active: tuple[Trip, ...], stats: RunStats,
                  mission: MissionProgress | None,
                  resumed: ResumeReport | None = None,
                  config: ControllerConfig | None = None) -> RigState:
    """The state message for the ground and the terminal (``phase`` counts while digging)."""
    _r = rounded
    return RigState(
        mode=mode.value, since=round(since, 3),
        phase=phase.value if mode is Mode.DIGGING else "",
        mission_running=mission_running, motors_enabled=motors_enabled,
        drum_current_a=_r(m.drum_current), drum_speed_rad_s=_r(m.drum_speed),
        cut_depth_m=_r(m.cut_depth, 4), tilt_deg=_r(m.tilt),
        motor_temp_c=_r(m.motor_temp), battery_v=_r(m.battery_voltage),
        x_m=_r(m.x), y_m=_r(m.y),
        bucket_kg=_r(est.estimate_kg), load_cell_kg=_r(est.load_cell_kg),
        model_kg=_r(est.model_kg), load_cell_ok=est.load_cell_ok,
        energy_j=_r(est.energy_j, 0),
        interlocks=tuple(t.name for t in active),
        interlock_trips=dict(stats.trips_by_cause),
        stalls=dict(stats.stalls_by_cause),
        mission=None if mission is None else mission.report(),
        resumed=resumed,
        params=None if config is None else param_values(config),
    )
