"""What a dig strategy is: its phases, its output, the interface ``ControlCore`` uses.

Every strategy (``control.core.strategy.ExcavationStrategy``, the original PI, and
``control.core.power_strategy.PowerLimitedStrategy``, the default) is a pure step
object of the ``DigStrategy`` shape: ``reset(now, depth)`` at the start of a
dig, ``update(now, dt, measurements, load_kg)`` every control period, never a
clock or the hardware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from .config import StrategyConfig
from .measurements import Measurements

__all__ = ["DigPhase", "DigStrategy", "StrategyOutput", "tilt_ceiling"]


class DigPhase(Enum):
    APPROACHING = "approaching"  # lowering the spinning drum to the surface
    CUTTING = "cutting"
    BACKING_OFF = "backing_off"
    REVERSING = "reversing"
    GAVE_UP = "gave_up"


@dataclass(frozen=True, slots=True)
class StrategyOutput:
    drum_speed: float  # rad/s
    cut_depth: float  # m
    phase: DigPhase
    bucket_full: bool = False
    stalled: bool = False  # a stall was detected at this update
    obstacle: bool = False  # the strategy gave up at this update
    note: str = ""


class DigStrategy(Protocol):
    """What ``ControlCore`` needs of a strategy: a pure step object with injected time."""

    config: StrategyConfig
    phase: DigPhase
    stalls: int

    def reset(self, now: float, depth: float | None = None) -> None: ...

    def update(self, now: float, dt: float, m: Measurements, load_kg: float,
               firmware_stall: bool = False) -> StrategyOutput: ...


def tilt_ceiling(c: StrategyConfig, tilt: float) -> float:
    """``max_depth_m``, shrinking linearly to ``min_depth_m`` as the tilt goes from
    ``tilt_soft_deg`` to twice that (nan: no information, no shrinking)."""
    if math.isnan(tilt) or tilt <= c.tilt_soft_deg or c.tilt_soft_deg <= 0:
        return c.max_depth_m
    scale = max(0.0, 1.0 - (tilt - c.tilt_soft_deg) / c.tilt_soft_deg)
    return max(c.min_depth_m, c.max_depth_m * scale)
