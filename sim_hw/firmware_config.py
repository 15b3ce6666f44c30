"""The simulated firmware's configuration, and which standard parameter each field is.

Apart from ``firmware.py`` so the command handlers (``firmware_commands.py``)
can read it without importing the firmware that composes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.messages import Param

__all__ = ["PARAM_ATTRS", "FirmwareConfig", "initial_params"]


@dataclass(frozen=True, slots=True)
class FirmwareConfig:
    sample_rate_hz: int = 1000
    batch_samples: int = 5
    watchdog_ms: int = 250
    watchdog_fixed: bool = False  # True: a HELLO's watchdog_ms does not override it
    current_limit: float = 20.0  # A
    arm_rate_limit: float = 0.05  # m/s
    max_drum_speed: float = 6.0  # rad/s
    speed_kp: float = 8.0  # A per rad/s
    speed_ki: float = 40.0  # A per rad
    drum_accel: float = 4.0  # rad/s^2 ramp of the speed reference
    arm_kp: float = 2.0  # 1/s
    dump_speed: float = 3.0  # rad/s (reverse)
    dump_timeout: float = 30.0  # s
    temp_limit: float = 120.0  # degC: over-temperature trip
    temp_clear: float = 100.0  # degC: trip clears below
    low_soc: float = 20.0  # %: LOW_BATTERY warning
    critical_soc: float = 5.0  # %: motors refused
    max_drive_speed: float = 0.3  # m/s
    arrive_tolerance: float = 0.05  # m
    stow_tolerance: float = 0.005  # m
    dig_depth_for_busy: float = 0.005  # m: deeper than this, DRIVE_TO is refused
    # DRIVE_TO with arg3 = 1 (the arm follows the set-points while driving, section 4.8)
    drive_arm_clearance: float = 0.03  # m: the drum never lower than this while driving
    drive_low_arm_height: float = 0.10  # m: below this the drive is slowed ...
    drive_low_arm_speed: float = 0.10  # m/s: ... to this
    drive_low_arm_ramp: float = 0.03  # m: from max_drive_speed over this much more height
    dump_arrival_m: float = 0.3  # m: DUMP ends an arm-follow DRIVE_TO this close to its target


# standard parameter -> FirmwareConfig attribute; ranges and access in firmware_bridge.params
PARAM_ATTRS: dict[Param, str] = {
    Param.WATCHDOG_MS: "watchdog_ms",
    Param.DRUM_CURRENT_LIMIT_A: "current_limit",
    Param.ARM_RATE_LIMIT_M_S: "arm_rate_limit",
    Param.SAMPLE_RATE_HZ: "sample_rate_hz",
    Param.BATCH_SAMPLES: "batch_samples",
    Param.DRUM_SPEED_KP: "speed_kp",
    Param.DRUM_SPEED_KI: "speed_ki",
    Param.MAX_DRUM_SPEED_RAD_S: "max_drum_speed",
}


def initial_params(config: FirmwareConfig, *, site_half_size: float,
                   slow_rate_hz: int) -> dict[Param, float]:
    """The parameter values at boot, keyed by ``Param`` (docs/protocol.md section 4.13)."""
    params = {pid: float(getattr(config, name)) for pid, name in PARAM_ATTRS.items()}
    params[Param.SITE_HALF_SIZE_M] = float(site_half_size)
    params[Param.SLOW_STREAM_RATE_HZ] = float(slow_rate_hz)
    return params
