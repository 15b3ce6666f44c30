"""Controller configuration: one TOML file, typed frozen dataclasses, strict loading.

Every section is a frozen dataclass whose fields carry their bounds in
``metadata`` (``lo``/``hi``). ``load_config`` reads the TOML file, rejects
unknown keys, wrong types and out-of-bounds values with a ``ConfigError`` that
names the key (``strategy.kp: expected a number >= 0, got 'fast'``), and
checks cross-field rules (``interlocks.tilt_stop_deg`` below
``interlocks.tilt_estop_deg``...). The defaults run the simulator out of the
box; ``docs/control.md`` lists every key.

Units: seconds are *plant* seconds (see ``LoopConfig.time_scale``) unless the
name says ``wall``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import MISSING, dataclass, field, fields, is_dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any, get_type_hints

from rig_common import finite_in, int_in, load_toml

from .command_timing import CommandTiming
from .commands import CommandName
from .errors import ConfigError

log = logging.getLogger(__name__)


def _f(default: Any, lo: float | None = None, hi: float | None = None, doc: str = "") -> Any:
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


@dataclass(frozen=True, slots=True)
class LoopConfig:
    rate_hz: float = _f(100.0, 1.0, 500.0, "control-loop rate in wall-clock Hz")
    time_scale: float = _f(1.0, 0.01, 100.0,
                           "plant seconds per wall second (1 on the rover; the simulator's "
                           "--time-scale in the demo)")
    stats_interval_s: float = _f(1.0, 0.05, 60.0, "telemetry state/stats period (wall s)")
    realtime_priority: int = _f(0, 0, 99,
                                "SCHED_FIFO priority of the control loop's thread (0: normal "
                                "scheduling); refused by the OS -> normal, with a warning")
    heap_trim_s: float = _f(10.0, 0.0, 3600.0,
                            "rig-control run: wall seconds between returns of freed C heap to "
                            "the system (glibc malloc_trim, control.runtime.heap_trim); 0: never")


@dataclass(frozen=True, slots=True)
class LinkTimingConfig:
    """``[link]``: how the controller uses the firmware link (TTLs and timeouts, wall s).
    The link's own heartbeat and retransmit timing is ``firmware_bridge.link.LinkConfig``."""

    setpoint_ttl_wall_s: float = _f(0.1, 0.01, 1.0,
                                    "firmware drops setpoints older than this (wall s)")
    command_ttl_wall_s: float = _f(0.5, 0.05, 5.0, "firmware refuses commands older than this")
    command_timeout_wall_s: float = _f(2.0, 0.1, 30.0, "wait for ACCEPTED at most this long")
    motion_timeout_wall_s: float = _f(120.0, 1.0, 3600.0,
                                      "wait for DONE of drive/stow/dump at most this long")
    connect_timeout_wall_s: float = _f(5.0, 0.1, 120.0, "first handshake deadline")


class StrategyKind(Enum):
    """Which excavation strategy digs (``strategy.kind``)."""

    POWER_LIMITED = "power_limited"  # control.core.power_strategy: cut at the drum's power limit
    PI_CURRENT = "pi_current"  # control.core.strategy.ExcavationStrategy: the original PI


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    kind: StrategyKind = field(default=StrategyKind.POWER_LIMITED, metadata={
        "doc": "power_limited (control.core.power_strategy) or pi_current (the original PI on "
               "drum current, kept as the baseline)"})
    dig_speed_rad_s: float = _f(6.0, 0.1, 30.0, "drum speed while cutting")
    min_speed_rad_s: float = _f(3.0, 0.0, 30.0, "pi_current: drum speed floor when current-limited")
    current_target_a: float = _f(10.0, 1.0, 200.0,
                                 "pi_current: PI set-point for filtered drum current")
    kp_m_per_a: float = _f(0.002, 0.0, 1.0, "pi_current: proportional gain, depth per amp of error")
    ki_m_per_a_s: float = _f(0.01, 0.0, 1.0, "pi_current: integral gain")
    min_depth_m: float = _f(0.0, 0.0, 0.5, "shallowest commanded cut")
    max_depth_m: float = _f(0.095, 0.005, 0.5,
                            "deepest commanded cut (the arm's end stop is at 0.10 m)")
    depth_rate_m_s: float = _f(0.03, 0.001, 1.0, "pi_current: slew limit on the depth set-point")
    contact_margin_m: float = _f(0.005, 0.0, 0.1, "cutting starts this close to the surface")
    tilt_soft_deg: float = _f(8.0, 0.0, 45.0, "above this tilt the depth ceiling shrinks")
    bucket_capacity_kg: float = _f(30.0, 0.1, 1000.0, "nominal bucket capacity")
    full_fraction: float = _f(0.9, 0.1, 1.0, "bucket counts as full at this fraction")
    full_hold_s: float = _f(0.5, 0.0, 10.0, "pi_current: load must stay above the mark this long")
    stall_speed_fraction: float = _f(0.3, 0.0, 1.0,
                                     "drum speed below this fraction of command is a stall")
    stall_current_a: float = _f(15.0, 0.0, 500.0, "...and drum current above this")
    stall_time_s: float = _f(0.3, 0.01, 10.0, "...for this long")
    backoff_m: float = _f(0.03, 0.0, 0.5, "pi_current: depth given up after a stall")
    reverse_speed_rad_s: float = _f(2.0, 0.0, 30.0, "pi_current: reverse drum speed while clearing")
    reverse_time_s: float = _f(0.5, 0.0, 10.0, "pi_current: how long to reverse")
    backoff_time_s: float = _f(0.5, 0.0, 10.0, "pi_current: how long to lift before reversing")
    max_stall_retries: int = _f(3, 0, 20, "stalls in one dig (power_limited: within "
                                 "obstacle_window_s) before the obstacle is reported")
    stow_depth_m: float = _f(-0.30, -1.0, 0.0,
                             "cut depth of the stowed arm (negative: above ground); held "
                             "after STOW until the next dig")
    # power_limited only (docs/control.md, "Excavation strategy")
    load_current_a: float = _f(15.5, 1.0, 200.0,
                               "power_limited: filtered drum current the cut depth is held at")
    depth_gain_m_per_a: float = _f(0.005, 0.0, 0.1,
                                   "power_limited: depth lead per amp of current error (the "
                                   "arm, rate-limited, integrates it)")
    rock_current_a: float = _f(17.5, 1.0, 200.0,
                               "power_limited: above this filtered current (a rock strike) "
                               "the drum is lifted at the arm's full rate")
    rock_speed_fraction: float = _f(0.85, 0.0, 1.0,
                                    "power_limited: ...or while the drum turns slower than "
                                    "this fraction of the dig speed under more than "
                                    "load_current_a")
    spin_up_fraction: float = _f(0.8, 0.0, 1.0,
                                 "power_limited: the drum enters the soil only above this "
                                 "fraction of the dig speed")
    spin_up_s: float = _f(2.0, 0.0, 60.0,
                          "power_limited: ...or once it has been turning this long")
    lift_out_margin_s: float = _f(0.3, 0.0, 10.0,
                                  "power_limited: the lift-out starts this much earlier than "
                                  "the predicted fill needs")
    arm_rate_m_s: float = _f(0.05, 0.001, 1.0,
                             "power_limited: the firmware's arm rate limit (lift-out timing)")
    obstacle_window_s: float = _f(5.0, 0.0, 600.0,
                                  "power_limited: more than max_stall_retries stalls this close "
                                  "together are an obstacle")
    # power_limited's sequencing (docs/control.md, "Overlapping the dig cycle")
    drive_overlap: bool = field(default=True, metadata={
        "doc": "power_limited: lower the arm and spin the drum up on the way to a dig site, "
               "raise the arm on the way to the dump (DRIVE_TO arm-follow mode); pi_current "
               "never does"})
    drive_clearance_m: float = _f(0.03, 0.0, 0.3,
                                  "power_limited: lowest drum height above ground asked for "
                                  "while driving (the firmware enforces its own, 0.03 m)")
    lower_within_m: float = _f(1.1, 0.0, 100.0,
                               "power_limited: lower the arm to drive_clearance_m this far "
                               "from a dig site (stow height before)")
    spin_up_within_m: float = _f(0.3, 0.0, 100.0,
                                 "power_limited: spin the drum up this far from a dig site")
    dump_within_m: float = _f(0.2, 0.0, 0.3,
                              "power_limited: dump once this close to the dump site while "
                              "arriving (the firmware accepts it within 0.3 m)")


@dataclass(frozen=True, slots=True)
class InterlockConfig:
    drum_current_stop_a: float = _f(19.0, 1.0, 500.0, "controlled stop above this (sustained)")
    drum_current_stop_hold_s: float = _f(1.5, 0.0, 10.0, "for this long")
    drum_current_estop_a: float = _f(30.0, 1.0, 500.0, "immediate stop above this")
    drum_current_estop_hold_s: float = _f(0.1, 0.0, 10.0, "for this long")
    motor_temp_stop_c: float = _f(85.0, 0.0, 250.0, "controlled stop above this")
    tilt_stop_deg: float = _f(15.0, 1.0, 60.0, "controlled stop above this |pitch| or |roll|")
    tilt_estop_deg: float = _f(25.0, 1.0, 90.0, "immediate stop above this")
    battery_voltage_min_v: float = _f(40.0, 0.0, 1000.0, "controlled stop below this")
    battery_soc_min_pct: float = _f(15.0, 0.0, 100.0, "controlled stop below this")
    sensor_stale_s: float = _f(0.5, 0.01, 10.0,
                               "controlled stop when the fast stream is older than this")
    nav_stale_s: float = _f(2.0, 0.05, 60.0, "...or the 20 Hz navigation stream")
    stuck_s: float = _f(1.0, 0.05, 60.0,
                        "controlled stop when a channel does not respond this long: a noisy "
                        "one bit-identical, or one whose cause moved (control.core.stuck_sensors)")
    clear_hold_s: float = _f(0.5, 0.0, 60.0, "a cause counts as gone after this long clear")
    stuck_channels: tuple[str, ...] = field(
        default=("drum_current", "drum_speed", "cut_depth", "arm_current", "pitch", "roll",
                 "motor_temp", "battery_voltage", "battery_current", "vibration",
                 "arm_position"),
        metadata={"doc": "channels watched for a stuck sensor: flat while the firmware "
                         "declares them noisy, or flat after their set-point moved"})
    noisy_channels: tuple[str, ...] = field(
        default=(),
        metadata={"doc": "channels known to always show noise when the firmware does not say "
                         "(protocol < 1.2): flat for stuck_s is stuck whatever the rig does"})
    drum_response_rad_s: float = _f(1.0, 0.01, 100.0,
                                    "drum_speed and vibration must change once the drum "
                                    "speed set-point moved this far")
    arm_response_m: float = _f(0.005, 1e-4, 1.0,
                               "arm_position (and cut_depth in the ground) must change once "
                               "the arm depth set-point moved this far")


@dataclass(frozen=True, slots=True)
class MassConfig:
    specific_energy_j_per_kg: float = _f(90.0, 0.1, 1e6,
                                         "cutting energy per kg of regolith (drum + arm): the "
                                         "guess until the first lift calibrates it (loose "
                                         "soil ~50, compacted ~155)")
    no_load_current_a: float = _f(1.25, 0.0, 100.0, "drum current spinning in free air")
    torque_constant_nm_per_a: float = _f(4.0, 0.0, 100.0, "drum motor torque constant")
    arm_voltage_v: float = _f(12.0, 0.0, 1000.0, "arm actuator supply voltage")
    arm_efficiency: float = _f(0.0, 0.0, 1.0,
                               "fraction of arm power doing cutting work (0 for this rig: "
                               "its arm only positions the drum)")
    disagree_kg: float = _f(4.0, 0.0, 1000.0, "load cell and model may disagree by this")
    disagree_fraction: float = _f(0.5, 0.0, 10.0, "...or by this fraction of the estimate")
    disagree_hold_s: float = _f(2.0, 0.0, 60.0, "for this long before the cell is distrusted")
    load_cell_max_kg: float = _f(200.0, 1.0, 10000.0, "readings above this are implausible")
    stuck_s: float = _f(1.0, 0.05, 60.0,
                        "a load cell whose counts do not move this long failed: while the "
                        "cutting model's mass moved by stuck_response_kg, or at all when the "
                        "firmware declares it noisy")
    stuck_response_kg: float = _f(1.0, 0.01, 1000.0,
                                  "the cutting model's mass must move this far for a flat load "
                                  "cell to count as frozen")
    uncalibrated_ratio: float = _f(4.0, 1.0, 100.0,
                                   "before its first calibration the cutting model must be off "
                                   "by this factor (and disagree_kg) to distrust the cell")
    arm_rate_m_s: float = _f(0.05, 0.001, 1.0,
                             "the firmware's arm rate limit: the stow lifts at this speed")
    lift_speed_fraction: float = _f(0.95, 0.1, 1.0,
                                    "lift samples count at this fraction of arm_rate_m_s or more")
    lift_clear_m: float = _f(0.02, 0.0, 0.3, "...with the drum this far above the ground")
    lift_min_s: float = _f(0.5, 0.0, 60.0, "seconds of lift samples before the lift counts")
    arm_idle_current_a: float = _f(0.3, 0.0, 50.0, "arm actuator current with no load")
    arm_newton_per_amp: float = _f(150.0, 1.0, 1e5, "arm actuator force per amp at full rate")
    arm_assembly_kg: float = _f(15.0, 0.0, 1000.0, "mass the arm carries besides the regolith")
    gravity_m_s2: float = _f(1.62, 0.1, 30.0, "local gravity (Moon: 1.62)")
    cell_sigma_kg: float = _f(0.1, 0.001, 100.0, "load cell uncertainty, bucket still")
    lift_sigma_kg: float = _f(0.3, 0.001, 100.0, "lift-work uncertainty")
    still_speed_rad_s: float = _f(0.1, 0.0, 10.0,
                                  "below this drum speed the bucket (and the cell) is still")
    quota_margin_fraction: float = _f(0.06, 0.0, 1.0,
                                      "while cutting, a permit quota counts the bucket's estimate "
                                      "times 1 + this: the estimate at the stop reads up to ~5 % "
                                      "below what the dump then weighs")


@dataclass(frozen=True, slots=True)
class GroundConfig:
    rig_id: str = field(default="rig-1", metadata={"doc": "MQTT rig id"})
    topic_prefix: str = field(default="regolith", metadata={"doc": "MQTT topic prefix"})
    outbox_path: str = field(default="rig-control-outbox.db",
                             metadata={"doc": "on-board telemetry outbox (SQLite)"})
    outbox_free_space_floor_mb: float = _f(
        32.0, 0.0, 1e6, "the outbox's budget is also held to its filesystem's free space "
        "minus this (MB), at start and while running")
    outbox_memory_mb: float = _f(
        16.0, 0.0625, 4096.0, "a disk that refuses writes (full, read-only): at most this "
        "much telemetry kept in memory (MB; docs/telemetry.md)")
    link_required: bool = field(default=True, metadata={
        "doc": "with a broker: losing the ground link is a controlled stop"})
    link_loss_wall_s: float = _f(5.0, 0.1, 600.0, "ground link counts as lost after this")
    max_clock_skew_wall_s: float = _f(5.0, 0.0, 3600.0,
                                      "commands issued further in the future are rejected "
                                      "(signed path: in the ground time it learnt, and a "
                                      "sample this far behind is normal transit)")
    max_ttl_wall_s: float = _f(60.0, 0.1, 86400.0,
                               "the one command lifetime limit: expires_at may be at most "
                               "this far ahead when a command arrives (signed or not)")
    max_age_wall_s: float = _f(120.0, 1.0, 86400.0,
                               "commands issued longer ago than this are rejected (stale)")
    safe_direction_commands: tuple[str, ...] = field(
        default=("stop", "estop"), metadata={
            "doc": "commands that pass every timing rule (a valid signature and a fresh "
                   "counter still needed): refusing a stop is the unsafe direction"})
    clock_step_back_wall_s: float = _f(
        10.0, 0.0, 3600.0, "signed path: once synced, the ground-clock estimate moves "
        "backwards at most this far at once (docs/commands.md, \"Timing\")")
    clock_slew_back_rate: float = _f(
        0.01, 0.0, 1.0, "signed path: that allowance refills at this many seconds per "
        "second")

    def __post_init__(self) -> None:
        known = {c.value for c in CommandName}
        for name in self.safe_direction_commands:
            if name not in known:
                raise ConfigError("ground.safe_direction_commands",
                                  f"expected command names ({', '.join(sorted(known))}), "
                                  f"got {name!r}")

    @property
    def command_timing(self) -> CommandTiming:
        """The timing rules every ground command is checked against, once."""
        return CommandTiming(self.max_ttl_wall_s, self.max_clock_skew_wall_s,
                             self.max_age_wall_s, frozenset(self.safe_direction_commands))


@dataclass(frozen=True, slots=True)
class MissionStateConfig:
    state_path: str = field(default="rig-control-mission.db", metadata={
        "doc": "the mission's progress across restarts (SQLite; docs/control.md, \"Restarts\"); "
               "a relative path is beside ground.outbox_path; '' keeps none: a restart "
               "begins the mission anew", "empty": True})


@dataclass(frozen=True, slots=True)
class FiltersConfig:
    fast: dict[str, Any] = field(default_factory=lambda: {"stages": [
        {"type": "hampel", "window": 7, "threshold": 3.0},
        {"type": "lowpass", "order": 2, "cutoff_hz": 20.0},
    ]}, metadata={"doc": "filter chain of stream 0 (telemetry.rover.filters.FilterChain config)"})
    nav: dict[str, Any] = field(default_factory=lambda: {"stages": [
        {"type": "ema", "tau_s": 0.1},
    ]}, metadata={"doc": "filter chain of stream 1"})


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    loop: LoopConfig = field(default_factory=LoopConfig)
    link: LinkTimingConfig = field(default_factory=LinkTimingConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    interlocks: InterlockConfig = field(default_factory=InterlockConfig)
    mass: MassConfig = field(default_factory=MassConfig)
    ground: GroundConfig = field(default_factory=GroundConfig)
    mission: MissionStateConfig = field(default_factory=MissionStateConfig)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    # signed commands, the ledger and the site plan: validated by control.runtime.security_setup
    # when the controller starts (docs/commands.md); empty means the feature is off
    security: dict[str, Any] = field(default_factory=dict)
    site_plan: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        il, st = self.interlocks, self.strategy
        _order("interlocks.tilt_stop_deg", il.tilt_stop_deg,
               "interlocks.tilt_estop_deg", il.tilt_estop_deg)
        _order("interlocks.drum_current_stop_a", il.drum_current_stop_a,
               "interlocks.drum_current_estop_a", il.drum_current_estop_a)
        _order("strategy.min_depth_m", st.min_depth_m, "strategy.max_depth_m", st.max_depth_m)
        _order("strategy.min_speed_rad_s", st.min_speed_rad_s,
               "strategy.dig_speed_rad_s", st.dig_speed_rad_s, strict=False)
        _order("strategy.current_target_a", st.current_target_a,
               "interlocks.drum_current_stop_a", il.drum_current_stop_a)
        _order("strategy.load_current_a", st.load_current_a,
               "interlocks.drum_current_stop_a", il.drum_current_stop_a)

    @property
    def control_period_s(self) -> float:
        """Plant seconds between two control steps."""
        return self.loop.time_scale / self.loop.rate_hz


def _order(lo_key: str, lo: float, hi_key: str, hi: float, strict: bool = True) -> None:
    if lo > hi or (strict and lo == hi):
        raise ConfigError(hi_key, f"expected {'>' if strict else '>='} {lo_key} ({lo}), got {hi}")


def _coerce(key: str, kind: Any, value: Any, meta: Any) -> Any:
    if isinstance(kind, type) and issubclass(kind, Enum):
        if isinstance(value, kind):
            return value
        names = [m.value for m in kind]
        if value not in names:
            raise ConfigError(key, f"expected one of {', '.join(names)}, got {value!r}")
        return kind(value)
    lo = -math.inf if meta.get("lo") is None else meta["lo"]
    hi = math.inf if meta.get("hi") is None else meta["hi"]
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {value!r}")
        return value
    if kind is int:
        return int_in(value, key, lo, hi, error=ConfigError)
    if kind is float:
        return finite_in(value, key, lo, hi, error=ConfigError)
    if kind is str:
        if not isinstance(value, str) or not (value or meta.get("empty")):
            raise ConfigError(key, f"expected a non-empty string, got {value!r}")
        return value
    if getattr(kind, "__origin__", None) is tuple:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"expected a list of strings, got {value!r}")
        return tuple(value)
    # dict-valued (filter chains): validated by the consumer, named here
    if not isinstance(value, dict):
        raise ConfigError(key, f"expected a table, got {value!r}")
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(prefix or "<root>", f"expected a table, got {data!r}")
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}", f"unknown key (expected one of: "
                                                f"{', '.join(sorted(known))})")
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            continue
        kind = hints[name]
        if isinstance(kind, type) and is_dataclass(kind):
            kwargs[name] = _build(kind, data[name], f"{prefix}{name}.")
        else:
            kwargs[name] = _coerce(f"{prefix}{name}", kind, data[name], f.metadata)
    return cls(**kwargs)


#: ``[security]`` keys that once set the signed path's own timing, and the ``[ground]``
#: key that is now the one limit for every ground command (docs/commands.md, "Timing").
MOVED_TIMING_KEYS = {"max_ttl_s": "max_ttl_wall_s", "max_future_s": "max_clock_skew_wall_s",
                     "max_age_s": "max_age_wall_s"}


def _merge_moved_timing(data: dict[str, Any]) -> dict[str, Any]:
    """Read ``security.max_ttl_s`` & co. as their ``[ground]`` keys: a configuration
    written for the old two limits keeps working, and setting both is an error."""
    security, ground = data.get("security"), data.get("ground", {})
    if not isinstance(security, dict) or not isinstance(ground, dict):
        return data  # _build names the key that is not a table
    if not any(old in security for old in MOVED_TIMING_KEYS):
        return data
    # the [security] table stays as it is (an empty one would turn signed commands off);
    # control.runtime.security_setup gives the authenticator the [ground] value
    ground = dict(ground)
    bounds = {f.name: f.metadata for f in fields(GroundConfig)}
    for old, new in MOVED_TIMING_KEYS.items():
        if old not in security:
            continue
        if new in ground:
            raise ConfigError(f"security.{old}", f"duplicates ground.{new}, the one timing "
                              f"limit of every ground command (docs/commands.md, \"Timing\"); "
                              f"set only ground.{new}")
        meta = bounds[new]
        ground[new] = finite_in(security[old], f"security.{old}", meta["lo"], meta["hi"],
                                error=ConfigError)
        log.warning("security.%s is read as ground.%s (one timing limit for every ground "
                    "command); rename it", old, new)
    return {**data, "ground": ground}


def config_from_dict(data: dict[str, Any]) -> ControllerConfig:
    """Build and validate a configuration; raises ``ConfigError`` naming the key."""
    cfg = _build(ControllerConfig, _merge_moved_timing(data), "")
    # the defaults of the sections were not range-checked by _coerce: do it once here
    for section in fields(ControllerConfig):
        sub = getattr(cfg, section.name)
        if not is_dataclass(sub):
            continue  # security / site_plan tables: validated by control.runtime.security_setup
        for f in fields(sub):
            if f.metadata.get("lo") is not None or f.metadata.get("hi") is not None:
                _coerce(f"{section.name}.{f.name}", get_type_hints(type(sub))[f.name],
                        getattr(sub, f.name), f.metadata)
    return cfg


def load_config(path: str | Path | None = None, **overrides: Any) -> ControllerConfig:
    """Read *path* (TOML) over the defaults; ``overrides`` are ``section={key: value}``.

    Raises ``ConfigError`` (naming the key) for any invalid value, and for a file
    that cannot be read or parsed (key ``<file>``)."""
    data: dict[str, Any] = {}
    if path is not None:
        data = load_toml(path, key="<file>", error=ConfigError)
    for section, values in overrides.items():
        data.setdefault(section, {}).update(values)
    return config_from_dict(data)


def with_overrides(cfg: ControllerConfig, section: str, **values: Any) -> ControllerConfig:
    """A copy of *cfg* with some keys of one section replaced (validated)."""
    sub = getattr(cfg, section)
    return replace(cfg, **{section: replace(sub, **values)})


def describe_keys() -> list[tuple[str, str, str]]:
    """(key, default, doc) for every key: the config table of docs/control.md."""
    rows = []
    for section in fields(ControllerConfig):
        sub_cls = get_type_hints(ControllerConfig)[section.name]
        if not is_dataclass(sub_cls):
            rows.append((section.name, "{}", "table validated by control.security at start-up "
                                             "(docs/commands.md); empty: feature off"))
            continue
        for f in fields(sub_cls):
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            if isinstance(default, Enum):
                default = default.value
            rows.append((f"{section.name}.{f.name}", repr(default), f.metadata.get("doc", "")))
    return rows
