"""The standard parameter table (docs/protocol.md section 4.13) and the float32 range rule.

Every parameter travels as an IEEE 754 binary32 (``f32``) value. A bound
written in decimal (0.2, 0.3) is not exactly representable, so a firmware
compares the received value with its bounds **rounded to float32**:
``f32(lo) <= value <= f32(hi)``. A host that sends ``f32(0.2)`` (which is
0.200000003) for a maximum of 0.2 is therefore accepted. ``in_range_f32`` is
that rule; the simulator and the loopback firmware use it, and so does the
conformance harness when it probes the bounds.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import Enum

from .messages import Param

__all__ = ["STANDARD_PARAMS", "Access", "ParamDef", "f32", "in_range_f32"]

_F32 = struct.Struct("<f")


def f32(x: float) -> float:
    """*x* rounded to the nearest IEEE 754 binary32 value (as the wire carries it)."""
    return _F32.unpack(_F32.pack(x))[0]


def in_range_f32(value: float, lo: float, hi: float) -> bool:
    """The protocol's range rule: finite and ``f32(lo) <= value <= f32(hi)``."""
    return math.isfinite(value) and f32(lo) <= value <= f32(hi)


class Access(Enum):
    READ_WRITE = "rw"
    READ_ONLY = "ro"


@dataclass(frozen=True, slots=True)
class ParamDef:
    param_id: Param
    unit: str
    lo: float  # inclusive, compared in float32 (read-only parameters: not checked)
    hi: float
    default: float  # read-only ones: the firmware's configured value (sim default shown)
    access: Access
    whole: bool = False  # a whole number carried in the f32; SET rounds to the nearest
    meaning: str = ""

    @property
    def writable(self) -> bool:
        return self.access is Access.READ_WRITE


STANDARD_PARAMS: dict[int, ParamDef] = {
    p.param_id: p
    for p in (
        ParamDef(Param.WATCHDOG_MS, "ms", 20, 10_000, 250, Access.READ_WRITE, True,
                 "firmware watchdog and link-loss timeout; HELLO's watchdog_ms sets it too"),
        ParamDef(Param.DRUM_CURRENT_LIMIT_A, "A", 0.5, 40.0, 20.0, Access.READ_WRITE,
                 meaning="hard limit of the drum motor current (also the braking current)"),
        ParamDef(Param.ARM_RATE_LIMIT_M_S, "m/s", 0.001, 0.2, 0.05, Access.READ_WRITE,
                 meaning="largest arm actuator speed"),
        ParamDef(Param.SAMPLE_RATE_HZ, "Hz", 1, 10_000_000, 1000, Access.READ_ONLY, True,
                 "raw sample rate of stream 0 (as in FIRMWARE_INFO)"),
        ParamDef(Param.BATCH_SAMPLES, "samples", 1, 65_535, 5, Access.READ_ONLY, True,
                 "samples per SAMPLE_BATCH of stream 0 (as in FIRMWARE_INFO)"),
        ParamDef(Param.DRUM_SPEED_KP, "A/(rad/s)", 0.0, 200.0, 8.0, Access.READ_WRITE,
                 meaning="drum speed loop proportional gain"),
        ParamDef(Param.DRUM_SPEED_KI, "A/rad", 0.0, 2000.0, 40.0, Access.READ_WRITE,
                 meaning="drum speed loop integral gain"),
        ParamDef(Param.MAX_DRUM_SPEED_RAD_S, "rad/s", 0.1, 10.0, 6.0, Access.READ_WRITE,
                 meaning="drum speed setpoints are clamped to +- this"),
        ParamDef(Param.SITE_HALF_SIZE_M, "m", 0.0, 1e6, 50.0, Access.READ_ONLY,
                 meaning="DRIVE_TO targets must lie within |x|, |y| <= this (1.2)"),
        ParamDef(Param.SLOW_STREAM_RATE_HZ, "Hz", 0, 10_000, 20, Access.READ_ONLY, True,
                 "sample rate of stream 1 (navigation), 0 when there is none (1.2)"),
    )
}
