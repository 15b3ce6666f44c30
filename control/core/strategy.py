"""Excavation strategy: how deep and how fast to cut, and when the bucket is full.

Theory of operation
-------------------
A PI loop holds the *filtered* drum current at ``current_target_a`` by moving
the cut-depth set-point (more depth, more current). Its output is clamped to
``[min_depth_m, ceiling]`` and the integrator is bounded by the same clamp
(no wind-up, as simple-pid does); the set-point is slew-limited to
``depth_rate_m_s``. The ceiling is ``max_depth_m``, shrinking linearly to zero
as the tilt goes from ``tilt_soft_deg`` to twice that, so the strategy backs
off before the tilt interlock has to act. When the depth is already at its
floor and the current is still above target, the drum slows down (down to
``min_speed_rad_s``) instead.

A dig starts APPROACHING: the drum spins up and the arm is lowered to the
surface (paced by the firmware's arm rate limit); the PI takes over at contact
(measured cut depth within ``contact_margin_m`` of zero).

Stall: drum speed below ``stall_speed_fraction`` of the command while the
current is above ``stall_current_a`` for ``stall_time_s`` (or a firmware STALL
event). Recovery: lift by ``backoff_m`` with the drum stopped
(``backoff_time_s``), reverse the drum (``reverse_time_s``), resume cutting
from the reduced depth. After ``max_stall_retries`` stalls in one dig the
strategy reports an obstacle and stops cutting.

Full bucket: the trusted mass estimate (see ``mass_estimator``) above
``full_fraction`` x ``bucket_capacity_kg`` for ``full_hold_s``.

``update(now, dt, m, load_kg)`` never reads the clock or the hardware.

This is the original strategy (``strategy.kind = "pi_current"``), kept as the
baseline the benchmark compares against; the default is
``control.core.power_strategy.PowerLimitedStrategy``. ``make_strategy(config)``
builds the one the configuration names; both have the ``DigStrategy`` shape
(``control.core.dig``, re-exported here).
"""

from __future__ import annotations

import math
from typing import Any

from .config import StrategyConfig, StrategyKind
from .dig import DigPhase, DigStrategy, StrategyOutput, tilt_ceiling
from .measurements import Measurements
from .power_strategy import PowerLimitedStrategy

__all__ = ["BASELINE_STRATEGY", "DigPhase", "DigStrategy", "ExcavationStrategy", "StrategyKind",
           "StrategyOutput", "make_strategy", "tilt_ceiling"]

#: ``[strategy]`` keys that select the original strategy exactly as it was tuned before
#: power_limited became the default (whose deeper ``max_depth_m`` it never had): the
#: baseline ``bench/bench_mission.py`` prints beside the default.
BASELINE_STRATEGY: dict[str, Any] = {"kind": "pi_current", "max_depth_m": 0.08}


def make_strategy(config: StrategyConfig) -> DigStrategy:
    """The strategy ``config.kind`` names."""
    if config.kind is StrategyKind.PI_CURRENT:
        return ExcavationStrategy(config)
    return PowerLimitedStrategy(config)



class ExcavationStrategy:
    def __init__(self, config: StrategyConfig) -> None:
        self.config = config
        self.phase = DigPhase.CUTTING
        self.depth_cmd = config.min_depth_m
        self.integral = config.min_depth_m
        self.stalls = 0
        self._phase_since = 0.0
        self._stall_since: float | None = None
        self._full_since: float | None = None
        self._grace_until = 0.0

    def reset(self, now: float, depth: float | None = None) -> None:
        """Start a new dig at *now* (from the current depth, if known)."""
        c = self.config
        start = c.min_depth_m if depth is None or math.isnan(depth) else depth
        self.depth_cmd = min(max(start, c.min_depth_m), c.max_depth_m)
        self.integral = self.depth_cmd
        self.phase = DigPhase.APPROACHING
        self.stalls = 0
        self._phase_since = now
        self._stall_since = None
        self._full_since = None
        self._grace_until = now + max(1.0, 2 * c.stall_time_s)

    def ceiling(self, tilt: float) -> float:
        return tilt_ceiling(self.config, tilt)

    def update(self, now: float, dt: float, m: Measurements, load_kg: float,
               firmware_stall: bool = False) -> StrategyOutput:
        c = self.config
        full = self._bucket_full(now, load_kg)
        if self.phase is DigPhase.GAVE_UP:
            return StrategyOutput(0.0, self._slew(c.min_depth_m, dt), self.phase, full)
        if self.phase is DigPhase.BACKING_OFF:
            depth = self._slew(self._retreat_to, dt)
            if now - self._phase_since >= c.backoff_time_s:
                self._enter(DigPhase.REVERSING, now)
            return StrategyOutput(0.0, depth, DigPhase.BACKING_OFF, full)
        if self.phase is DigPhase.REVERSING:
            depth = self._slew(self._retreat_to, dt)
            if now - self._phase_since >= c.reverse_time_s:
                self._enter(DigPhase.CUTTING, now)
                self.integral = self._retreat_to
                self._grace_until = now + max(1.0, 2 * c.stall_time_s)
            return StrategyOutput(-c.reverse_speed_rad_s, depth, DigPhase.REVERSING, full)

        if self.phase is DigPhase.APPROACHING:
            # the firmware's arm rate limit paces the descent; the PI starts at contact
            if not math.isnan(m.cut_depth) and m.cut_depth >= -c.contact_margin_m:
                self._enter(DigPhase.CUTTING, now)
                self.depth_cmd = self.integral = c.min_depth_m
                self._grace_until = now + max(1.0, 2 * c.stall_time_s)
            return StrategyOutput(c.dig_speed_rad_s, c.min_depth_m, DigPhase.APPROACHING, full)

        # CUTTING
        current = m.drum_current
        if math.isnan(current):
            current = c.current_target_a  # no information: hold depth
        speed = c.dig_speed_rad_s
        stalled = firmware_stall or self._stall_detected(now, m, speed)
        if stalled:
            self.stalls += 1
            self._stall_since = None
            if self.stalls > c.max_stall_retries:
                self._enter(DigPhase.GAVE_UP, now)
                return StrategyOutput(
                    0.0, self._slew(c.min_depth_m, dt), DigPhase.GAVE_UP, full, stalled=True,
                    obstacle=True,
                    note=f"obstacle: {self.stalls} stalls at depth {self.depth_cmd:.2f} m")
            self._retreat_to = max(c.min_depth_m, self.depth_cmd - c.backoff_m)
            self._enter(DigPhase.BACKING_OFF, now)
            return StrategyOutput(0.0, self._slew(self._retreat_to, dt), DigPhase.BACKING_OFF,
                                  full, stalled=True,
                                  note=f"stall {self.stalls}/{c.max_stall_retries}: backing off "
                                       f"to {self._retreat_to:.2f} m")

        ceiling = self.ceiling(m.tilt)
        error = c.current_target_a - current
        self.integral = min(max(self.integral + c.ki_m_per_a_s * error * dt, c.min_depth_m),
                            ceiling)
        target = min(max(c.kp_m_per_a * error + self.integral, c.min_depth_m), ceiling)
        if target <= c.min_depth_m + 1e-9 and current > c.current_target_a:
            speed = max(c.min_speed_rad_s, c.dig_speed_rad_s * c.current_target_a / current)
        return StrategyOutput(speed, self._slew(target, dt), DigPhase.CUTTING, full)

    # -- helpers -------------------------------------------------------------------
    _retreat_to = 0.0

    def _enter(self, phase: DigPhase, now: float) -> None:
        self.phase = phase
        self._phase_since = now

    def _slew(self, target: float, dt: float) -> float:
        step = self.config.depth_rate_m_s * dt
        self.depth_cmd += min(max(target - self.depth_cmd, -step), step)
        return self.depth_cmd

    def _stall_detected(self, now: float, m: Measurements, speed_cmd: float) -> bool:
        c = self.config
        if now < self._grace_until or speed_cmd <= 0 or math.isnan(m.drum_speed):
            self._stall_since = None
            return False
        slow = m.drum_speed < c.stall_speed_fraction * speed_cmd
        if slow and m.drum_current > c.stall_current_a:
            if self._stall_since is None:
                self._stall_since = now
            return now - self._stall_since >= c.stall_time_s - 1e-9
        self._stall_since = None
        return False

    def _bucket_full(self, now: float, load_kg: float) -> bool:
        c = self.config
        if not math.isnan(load_kg) and load_kg >= c.full_fraction * c.bucket_capacity_kg:
            if self._full_since is None:
                self._full_since = now
            return now - self._full_since >= c.full_hold_s - 1e-9
        self._full_since = None
        return False
