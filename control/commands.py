"""Ground commands: parsing, expiry, and validation against the rig's state.

Wire format (JSON object on the command topic, UTF-8)::

    {"id": "c-17", "command": "set_param", "args": {"name": "current_target_a",
     "value": 16.0}, "issued_at": 1732540000.1, "expires_at": 1732540005.1}

``expires_at`` (or ``ttl_s`` relative to ``issued_at``) is mandatory: a
command without an expiry, or received after it, is rejected, never executed.
Times are the ground's wall clock (UTC epoch seconds); the rover compares them
with its own wall clock, allowing ``ground.max_clock_skew_wall_s`` for a
command issued "in the future".

``parse_command`` turns bytes into a ``GroundCommand`` or raises
``CommandFormatError`` (the reason goes into the rejection ack);
``check_command`` is the pure state check: given a ``RigView`` snapshot it
returns ``None`` (accept) or the reason for rejecting. Authentication (issue
8) happens before parsing, in a ``control.policy.CommandAuthenticator``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .errors import CommandFormatError
from .supervisor import Mode

MAX_PAYLOAD_BYTES = 4096


class CommandName(Enum):
    ARM = "arm"  # IDLE -> ARMED (explicit, acknowledged re-arm)
    DISARM = "disarm"  # ARMED -> IDLE
    START = "start"  # run the mission from ARMED
    STOP = "stop"  # controlled stop, always accepted
    DUMP = "dump"  # stow and dump the bucket where the rig stands
    ESTOP = "estop"  # immediate stop, always accepted
    RESET_ESTOP = "reset_estop"  # ESTOP -> IDLE, only when no immediate-stop cause remains
    CLEAR_FAULT = "clear_fault"  # FAULT -> IDLE, only when no cause remains
    SET_PARAM = "set_param"  # args: name, value (within PARAMS bounds)
    STATUS = "status"  # ask for a state message now


@dataclass(frozen=True, slots=True)
class ParamSpec:
    section: str
    key: str
    lo: float
    hi: float
    doc: str


#: Parameters the ground may set, with the bounds it may set them within.
PARAMS: dict[str, ParamSpec] = {
    "current_target_a": ParamSpec("strategy", "current_target_a", 5.0, 30.0,
                                  "PI set-point for drum current"),
    "dig_speed_rad_s": ParamSpec("strategy", "dig_speed_rad_s", 1.0, 12.0, "drum speed"),
    "max_depth_m": ParamSpec("strategy", "max_depth_m", 0.01, 0.15, "deepest cut"),
    "full_fraction": ParamSpec("strategy", "full_fraction", 0.3, 1.0, "bucket-full mark"),
    "max_stall_retries": ParamSpec("strategy", "max_stall_retries", 0, 10,
                                   "stalls before an obstacle is reported"),
}


@dataclass(frozen=True, slots=True)
class GroundCommand:
    command_id: str
    name: CommandName
    expires_at: float  # wall clock, epoch seconds
    issued_at: float | None = None
    args: dict[str, Any] = field(default_factory=dict)
    source: str = "ground"


@dataclass(frozen=True, slots=True)
class CommandAck:
    command_id: str
    accepted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RigView:
    """What command validation needs to know about the rig, at one instant."""

    mode: Mode
    cut_depth: float = 0.0  # m, measured
    immediate_causes: tuple[str, ...] = ()  # reasons of active immediate-stop trips
    causes: tuple[str, ...] = ()  # reasons of every active trip
    mission_loaded: bool = True
    mission_complete: bool = False
    mission_running: bool = False


def _number(obj: dict[str, Any], key: str, cid: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CommandFormatError(f"command {cid}: {key!r} must be a finite number, "
                                 f"got {value!r}")
    return float(value)


def parse_command(payload: bytes | str, *, source: str = "ground") -> GroundCommand:
    """Decode one command; raises ``CommandFormatError`` saying what is wrong."""
    if isinstance(payload, bytes | bytearray) and len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandFormatError(f"payload is {len(payload)} bytes, at most "
                                 f"{MAX_PAYLOAD_BYTES} accepted")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as err:
        raise CommandFormatError(f"payload is not JSON: {err}") from err
    if not isinstance(obj, dict):
        raise CommandFormatError(f"expected a JSON object, got {type(obj).__name__}")
    cid = obj.get("id")
    if not isinstance(cid, str) or not cid or len(cid) > 128:
        raise CommandFormatError(f"'id' must be a string of 1-128 characters, got {cid!r}")
    name = obj.get("command")
    try:
        cname = CommandName(name)
    except ValueError:
        known = ", ".join(c.value for c in CommandName)
        raise CommandFormatError(f"command {cid}: unknown command {name!r} "
                                 f"(expected one of {known})") from None
    args = obj.get("args", {})
    if not isinstance(args, dict):
        raise CommandFormatError(f"command {cid}: 'args' must be an object, got {args!r}")
    issued = _number(obj, "issued_at", cid)
    expires = _number(obj, "expires_at", cid)
    ttl = _number(obj, "ttl_s", cid)
    if expires is None and ttl is not None and issued is not None:
        expires = issued + ttl
    if expires is None:
        raise CommandFormatError(f"command {cid}: no expiry ('expires_at', or 'issued_at' "
                                 f"with 'ttl_s'); commands without one are never executed")
    return GroundCommand(cid, cname, expires, issued, dict(args), source)


def check_timing(cmd: GroundCommand, now_wall: float, max_skew: float, max_ttl: float
                 ) -> str | None:
    """Expiry rules; ``None`` when the command is on time."""
    if now_wall > cmd.expires_at:
        return f"expired {now_wall - cmd.expires_at:.3f} s ago"
    if cmd.issued_at is not None and cmd.issued_at > now_wall + max_skew:
        return (f"issued {cmd.issued_at - now_wall:.1f} s in the future "
                f"(clock skew limit {max_skew} s)")
    if cmd.expires_at - now_wall > max_ttl:
        return f"expiry {cmd.expires_at - now_wall:.0f} s away exceeds the {max_ttl} s limit"
    return None


def check_param(args: dict[str, Any]) -> tuple[ParamSpec, float] | str:
    name, value = args.get("name"), args.get("value")
    spec = PARAMS.get(name) if isinstance(name, str) else None
    if spec is None:
        return f"unknown parameter {name!r} (settable: {', '.join(sorted(PARAMS))})"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"{name}: expected a finite number, got {value!r}"
    if not spec.lo <= value <= spec.hi:
        return f"{name}: {value} outside [{spec.lo}, {spec.hi}]"
    return spec, float(value)


def check_command(cmd: GroundCommand, view: RigView) -> str | None:
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
    if n is CommandName.SET_PARAM:
        checked = check_param(cmd.args)
        return checked if isinstance(checked, str) else None
    return f"unhandled command {n.value}"  # pragma: no cover - every name is handled above


__all__ = [
    "PARAMS",
    "CommandAck",
    "CommandName",
    "GroundCommand",
    "ParamSpec",
    "RigView",
    "check_command",
    "check_param",
    "check_timing",
    "parse_command",
]
