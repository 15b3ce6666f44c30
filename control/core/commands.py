"""Ground commands: names, settable parameters, and validation against the rig's state.

Wire format (JSON object on the command topic, UTF-8)::

    {"id": "c-17", "command": "set_param", "args": {"name": "current_target_a",
     "value": 16.0}, "issued_at": 1732540000.1, "expires_at": 1732540005.1}

``expires_at`` (or ``ttl_s`` relative to ``issued_at``) is mandatory: a
command without an expiry, or received after it, is rejected, never executed.
Times are the ground's wall clock (UTC epoch seconds); ``control.core.command_timing``
holds the rules the rover applies to them.

Bytes become a ``GroundCommand`` in ``control.security.command_intake`` (plain JSON) or
``control.security`` (signed); this module is what the core needs after that:
``check_command`` is the pure state check (given a ``CommandContext`` snapshot it returns
``None`` to accept or the reason for rejecting) and ``check_param`` the bounds of
the parameters the ground may set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from rig_common import bounded_problem
from rig_common.bounded import short_repr
from telemetry.contract.json_fields import JsonValue
from telemetry.contract.names import CommandName

from .supervisor import Mode


@dataclass(frozen=True, slots=True)
class SettableParam:
    """A controller parameter the ground may change with ``set_param``, and its bounds.

    ``control.core.param_report`` publishes this table to the ground (with each value's
    unit and whether the active strategy reads it), so the console never hard-codes it."""

    section: str
    key: str
    lo: float
    hi: float
    doc: str
    unit: str = ""  # "" for a fraction or a count
    only: str = ""  # the one strategy kind (``strategy.kind``) that reads it; "": every kind


#: Parameters the ground may set, with the bounds it may set them within, in the order the
#: console lists them (those every strategy reads first).
PARAMS: dict[str, SettableParam] = {
    "dig_speed_rad_s": SettableParam("strategy", "dig_speed_rad_s", 1.0, 12.0, "drum speed",
                                     "rad/s"),
    "max_depth_m": SettableParam("strategy", "max_depth_m", 0.01, 0.15, "deepest cut", "m"),
    "full_fraction": SettableParam("strategy", "full_fraction", 0.3, 1.0, "bucket-full mark"),
    "max_stall_retries": SettableParam("strategy", "max_stall_retries", 0, 10,
                                       "stalls before an obstacle is reported"),
    "current_target_a": SettableParam("strategy", "current_target_a", 5.0, 30.0,
                                      "PI set-point for drum current", "A", "pi_current"),
}


@dataclass(frozen=True, slots=True)
class GroundCommand:
    command_id: str
    name: CommandName
    expires_at: float  # wall clock, epoch seconds
    issued_at: float | None = None
    args: dict[str, JsonValue] = field(default_factory=dict)
    source: str = "ground"


@dataclass(frozen=True, slots=True)
class CommandAck:
    command_id: str
    accepted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CommandContext:
    """What command validation needs to know about the rig, at one instant."""

    mode: Mode
    cut_depth: float = 0.0  # m, measured
    immediate_causes: tuple[str, ...] = ()  # reasons of active immediate-stop trips
    causes: tuple[str, ...] = ()  # reasons of every active trip
    mission_loaded: bool = True
    mission_complete: bool = False
    mission_running: bool = False


def check_param(args: Mapping[str, JsonValue]) -> tuple[SettableParam, float] | str:
    """The parameter and its new value, or why the ``set_param`` arguments are refused."""
    name, value = args.get("name"), args.get("value")
    spec = PARAMS.get(name) if isinstance(name, str) else None
    if spec is None:
        return f"unknown parameter {short_repr(name)} (settable: {', '.join(sorted(PARAMS))})"
    problem = bounded_problem(value)
    if problem is not None:
        return f"{name}: {problem}"
    number = float(value)  # type: ignore[arg-type]
    if not spec.lo <= number <= spec.hi:
        return f"{name}: {value} outside [{spec.lo}, {spec.hi}]"
    return spec, number


def check_command(cmd: GroundCommand, view: CommandContext) -> str | None:
    """State rules; ``None`` to accept, else the reason for rejecting."""
    mode, n = view.mode, cmd.name
    if n in (CommandName.STOP, CommandName.ESTOP, CommandName.STATUS):
        return None
    if n is CommandName.ARM:
        if mode is not Mode.IDLE:
            return f"cannot arm in mode {mode.value} (arm from idle)"
        if view.causes:
            return "interlock active: " + "; ".join(view.causes)
        return None
    if n is CommandName.DISARM:
        return None if mode is Mode.ARMED else f"cannot disarm in mode {mode.value}"
    if n is CommandName.START:
        if mode is not Mode.ARMED:
            return f"cannot start in mode {mode.value} (arm first)"
        if not view.mission_loaded:
            return "no mission loaded"
        if view.mission_complete:
            return "mission already complete"
        if view.mission_running:
            return "mission already running"
        return None
    if n is CommandName.DUMP:
        if mode is Mode.DIGGING:
            depth = "" if math.isnan(view.cut_depth) else f" at depth {view.cut_depth:.3f} m"
            return f"cannot dump while digging{depth}; stop first"
        if mode not in (Mode.ARMED, Mode.FULL):
            return f"cannot dump in mode {mode.value} (needs armed or full)"
        if view.mission_running:
            return "mission running: stop it before a manual dump"
        return None
    if n is CommandName.RESET_ESTOP:
        if mode is not Mode.ESTOP:
            return f"no e-stop to reset (mode {mode.value})"
        if view.immediate_causes:
            return "cause still present: " + "; ".join(view.immediate_causes)
        return None
    if n is CommandName.CLEAR_FAULT:
        if mode is not Mode.FAULT:
            return f"no fault to clear (mode {mode.value})"
        if view.causes:
            return "cause still present: " + "; ".join(view.causes)
        return None
    if n is CommandName.NEW_MISSION:
        if not view.mission_loaded:
            return "no mission loaded"
        if view.mission_running or mode not in (Mode.IDLE, Mode.ARMED):
            return f"cannot begin a new mission in mode {mode.value}" + (
                " while the mission runs" if view.mission_running else "") + "; stop first"
        return None
    if n is CommandName.SET_PARAM:
        checked = check_param(cmd.args)
        return checked if isinstance(checked, str) else None
    return f"unhandled command {n.value}"  # pragma: no cover - every name is handled above


__all__ = [
    "PARAMS",
    "CommandAck",
    "CommandContext",
    "CommandName",
    "GroundCommand",
    "SettableParam",
    "check_command",
    "check_param",
]
