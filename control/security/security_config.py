"""The ``[security]`` configuration: authorised ground keys, their rights, the windows.

TOML shape (docs/commands.md, "Rover configuration")::

    [security]
    replay_db = "rig-replay.db"     # per-key counters, persisted across restarts
    rover_key_file = "rover.key"    # the rover's own key (signs the ledger)
    ledger_path = "ledger.jsonl"
    replay_window = 64              # how far a command may be overtaken in transit
    always_allowed = ["estop"]      # commands every key may send

    [security.keys.ops-1]
    public_key = "<64 hex>"
    role = "operator"               # "observer" (status only) or "operator" (everything)
    # commands = ["status", "stop"] # or an explicit list instead of a role

``security_config_from_dict`` validates everything and raises
``SecurityConfigError`` naming the key (``security.keys.ops-1.role``).

Timing (expiry, clock skew, age, lifetime) is one set of rules for every ground
command, signed or not: ``SecurityConfig.timing``, which the controller fills from
its ``[ground]`` table (``control.core.command_timing``). The older spellings
``max_age_s``, ``max_future_s`` and ``max_ttl_s`` are still read here, into
``timing``; the controller's configuration loader moves them to ``[ground]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import VerifyKey

from control.core.command_timing import CommandTiming
from control.core.commands import CommandName
from rig_common import finite_in, int_in
from telemetry.contract.keys import KEY_ID_RE, parse_public_key_hex

from .errors import SecurityConfigError
from .replay import DEFAULT_WINDOW

DEFAULT_TIMING = CommandTiming()
ALL_COMMANDS: frozenset[CommandName] = frozenset(CommandName)
ROLES: dict[str, frozenset[CommandName]] = {
    "observer": frozenset({CommandName.STATUS}),
    "operator": ALL_COMMANDS,
}


@dataclass(frozen=True, slots=True)
class StationConfig:
    key_id: str
    public_key: VerifyKey
    commands: frozenset[CommandName]  # what this key may send (always_allowed included)
    role: str = "custom"


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    stations: Mapping[str, StationConfig] = field(default_factory=dict)
    replay_db: str = "rig-replay.db"
    rover_key_file: str = "rover.key"
    ledger_path: str = "ledger.jsonl"
    timing: CommandTiming = field(default_factory=CommandTiming)
    replay_window: int = DEFAULT_WINDOW
    always_allowed: frozenset[CommandName] = frozenset({CommandName.ESTOP})


_SCALARS = {"replay_db", "rover_key_file", "ledger_path", "max_age_s", "max_future_s",
            "max_ttl_s", "replay_window", "always_allowed", "keys"}


def _seconds(data: Mapping[str, Any], name: str, where: str, default: float, lo: float,
             hi: float) -> float:
    return finite_in(data.get(name, default), f"{where}{name}", lo, hi,
                     error=SecurityConfigError)


def _commands(value: Any, key: str) -> frozenset[CommandName]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SecurityConfigError(key, f"expected a list of command names, got {value!r}")
    names = {v: CommandName.lookup(v) for v in value}
    unknown = sorted(v for v, name in names.items() if name is None)
    if unknown:
        raise SecurityConfigError(key, f"unknown command {unknown[0]!r} (expected some of: "
                                       f"{', '.join(sorted(ALL_COMMANDS))})")
    return frozenset(name for name in names.values() if name is not None)


def _text(data: Mapping[str, Any], name: str, where: str, default: str) -> str:
    value = data.get(name, default)
    if not isinstance(value, str) or not value:
        raise SecurityConfigError(f"{where}{name}", f"expected a non-empty string, got {value!r}")
    return value


def security_config_from_dict(data: Mapping[str, Any], prefix: str = "security."
                              ) -> SecurityConfig:
    """Validate a parsed ``[security]`` table; raises ``SecurityConfigError`` naming the key."""
    where = prefix
    if not isinstance(data, Mapping):
        raise SecurityConfigError(where.rstrip("."), f"expected a table, got {data!r}")
    for name in data:
        if name not in _SCALARS:
            raise SecurityConfigError(f"{where}{name}", "unknown key (expected one of: "
                                                        f"{', '.join(sorted(_SCALARS))})")
    window = int_in(data.get("replay_window", DEFAULT_WINDOW), f"{where}replay_window", 1,
                    4096, error=SecurityConfigError)
    always = _commands(data.get("always_allowed", [CommandName.ESTOP]),
                       f"{where}always_allowed")
    keys = data.get("keys", {})
    if not isinstance(keys, Mapping):
        raise SecurityConfigError(f"{where}keys", f"expected a table of keys, got {keys!r}")
    stations: dict[str, StationConfig] = {}
    seen_public: dict[bytes, str] = {}
    for key_id, entry in keys.items():
        kw = f"{where}keys.{key_id}"
        if not KEY_ID_RE.match(key_id):
            raise SecurityConfigError(kw, "key id: expected 1-64 characters of [A-Za-z0-9_.-]")
        if not isinstance(entry, Mapping):
            raise SecurityConfigError(kw, f"expected a table, got {entry!r}")
        unknown = sorted(set(entry) - {"public_key", "role", "commands"})
        if unknown:
            raise SecurityConfigError(f"{kw}.{unknown[0]}",
                                      "unknown key (expected public_key, role, commands)")
        if "public_key" not in entry:
            raise SecurityConfigError(f"{kw}.public_key", "missing")
        try:
            public = parse_public_key_hex(entry["public_key"])
        except ValueError as err:
            raise SecurityConfigError(f"{kw}.public_key", str(err)) from None
        if bytes(public) in seen_public:
            raise SecurityConfigError(f"{kw}.public_key", f"same key as "
                                      f"{where}keys.{seen_public[bytes(public)]}")
        seen_public[bytes(public)] = key_id
        has_role, has_cmds = "role" in entry, "commands" in entry
        if has_role == has_cmds:
            raise SecurityConfigError(kw, "expected exactly one of 'role' "
                                          f"({' or '.join(ROLES)}) or 'commands'")
        if has_role:
            role = entry["role"]
            if role not in ROLES:
                raise SecurityConfigError(f"{kw}.role", f"expected one of "
                                          f"{', '.join(sorted(ROLES))}, got {role!r}")
            allowed = ROLES[role]
        else:
            role, allowed = "custom", _commands(entry["commands"], f"{kw}.commands")
        stations[key_id] = StationConfig(key_id, public, allowed | always, role)
    return SecurityConfig(
        stations=stations,
        replay_db=_text(data, "replay_db", where, "rig-replay.db"),
        rover_key_file=_text(data, "rover_key_file", where, "rover.key"),
        ledger_path=_text(data, "ledger_path", where, "ledger.jsonl"),
        timing=CommandTiming(
            max_ttl_s=_seconds(data, "max_ttl_s", where, DEFAULT_TIMING.max_ttl_s, 0.1,
                               86400.0),
            max_future_s=_seconds(data, "max_future_s", where, DEFAULT_TIMING.max_future_s,
                                  0.0, 3600.0),
            max_age_s=_seconds(data, "max_age_s", where, DEFAULT_TIMING.max_age_s, 1.0,
                               86400.0)),
        replay_window=window,
        always_allowed=always,
    )


__all__ = [
    "ALL_COMMANDS",
    "ROLES",
    "SecurityConfig",
    "StationConfig",
    "security_config_from_dict",
]
