"""Power-limited excavation: cut as deep as the drum's current budget allows, no deeper.

Theory of operation
-------------------
The drum runs at ``dig_speed_rad_s`` (the firmware's speed limit) all dig
long; what sets the excavation rate is the cut depth. The cutting torque
grows with depth (roughly ``a d + b d^2``, steeply in cohesive soil), so the
most productive depth is the one whose load current is as close to the
firmware's current limit as a safety margin allows: ``load_current_a``
(15.5 A by default: 3.5 A below the 19 A sustained over-current interlock,
4.5 A below the firmware's 20 A limit).

The depth law is proportional, with the arm as the integrator::

    depth_cmd = measured_depth + depth_gain_m_per_a * (load_current_a - current)

The firmware moves the arm at ``2/s x (depth_cmd - depth)``, capped at its
rate limit, so the arm's speed is proportional to the current error: it
descends at full rate while the current is far below the set-point, slows as
it approaches it (no overshoot, no integrator to wind up), and holds where the
soil's load equals the budget, whatever the soil (loose or compacted only
changes where that is). A rock strike raises the current: the same law lifts
the drum at once, in proportion to the excess (a rock's resistance falls with
the square of the remaining depth), and re-deepens once it has broken out;
above ``rock_current_a``, or with the drum slowed below
``rock_speed_fraction`` of its speed under more than the budget, the lift is
at the arm's full rate.
There is no separate recovery sequence to time out.

A dig starts APPROACHING: the drum spins up while the arm comes down at full
rate (the law asks for depth while the current is low); the drum enters the
soil only once it turns at ``spin_up_fraction`` of the dig speed (or has
been turning for ``spin_up_s``: a site quota may have the core slow it on
purpose). Contact
(measured depth within ``contact_margin_m`` of the surface) starts CUTTING.

Lift-out: the bucket fills at a rate proportional to depth, so lifting the
drum out of the cut at the arm's rate still adds ``rate x depth / (2 x
arm_rate)`` kg. The lift-out starts when the trusted mass estimate plus that
prediction (plus ``lift_out_margin_s`` of filling) reaches ``full_fraction x
bucket_capacity_kg``; the drum keeps cutting on the way up (the stow would
have to lift it anyway), and ``bucket_full`` is reported when it is out of
the soil, so the stop costs no spill and no idle time.

Stall: drum speed below ``stall_speed_fraction`` of the command with the
current above ``stall_current_a`` for ``stall_time_s``, or a firmware STALL
event; one count per episode (the law is already lifting). More than
``max_stall_retries`` stalls within ``obstacle_window_s`` of each other is an
obstacle: the strategy lifts out and gives up.

``update(now, dt, m, load_kg)`` never reads the clock or the hardware.
"""

from __future__ import annotations

import math
from collections import deque

from .config import StrategyConfig
from .dig import DigPhase, StrategyOutput, tilt_ceiling
from .measurements import Measurements

__all__ = ["PowerLimitedStrategy"]

#: how far above the surface the drum is sent while lifting out or giving up (m)
_CLEAR_M = 0.03
#: window of the fill-rate estimate (s)
_RATE_WINDOW_S = 1.0
#: a change of the mass estimate this large within one update is a jump, not filling (kg)
_JUMP_KG = 1.0


class PowerLimitedStrategy:
    """See the module docstring. Same interface as ``strategy.ExcavationStrategy``."""

    def __init__(self, config: StrategyConfig) -> None:
        self.config = config
        self.phase = DigPhase.CUTTING
        self.depth_cmd = config.min_depth_m
        self.stalls = 0  # in this dig
        self.lifting_out = False
        self.stopping = False  # stop_and_lift: lifting out with the drum stopped
        self._recent_stalls: deque[float] = deque()
        self._in_stall = False
        self._stall_since: float | None = None
        self._fill: deque[tuple[float, float]] = deque()
        self._turning_since: float | None = None

    def reset(self, now: float, depth: float | None = None) -> None:
        """Start a new dig at *now* (the depth is measured, not assumed)."""
        self.phase = DigPhase.APPROACHING
        self.stalls = 0
        self.lifting_out = False
        self.stopping = False
        self.depth_cmd = self.config.min_depth_m if depth is None or math.isnan(depth) \
            else depth
        self._recent_stalls.clear()
        self._in_stall = False
        self._stall_since = None
        self._fill.clear()
        self._turning_since = None

    def ceiling(self, tilt: float) -> float:
        return tilt_ceiling(self.config, tilt)

    def update(self, now: float, dt: float, m: Measurements, load_kg: float,
               firmware_stall: bool = False) -> StrategyOutput:
        c = self.config
        speed = 0.0 if self.stopping else c.dig_speed_rad_s
        if self.phase is DigPhase.GAVE_UP:
            return StrategyOutput(0.0, self._command(-_CLEAR_M), self.phase)
        stalled, note = self._stall(now, m, speed, firmware_stall)
        if stalled and len(self._recent_stalls) > c.max_stall_retries:
            self.phase = DigPhase.GAVE_UP
            return StrategyOutput(0.0, self._command(-_CLEAR_M), self.phase, stalled=True,
                                  obstacle=True,
                                  note=f"obstacle: {len(self._recent_stalls)} stalls within "
                                       f"{c.obstacle_window_s:g} s at depth {m.cut_depth:.2f} m")
        if self.phase is DigPhase.APPROACHING and not math.isnan(m.cut_depth) \
                and m.cut_depth >= -c.contact_margin_m:
            self.phase = DigPhase.CUTTING
        full = self._lift_out(now, m, load_kg)
        if self.lifting_out:
            depth = self._command(-_CLEAR_M)
        else:
            depth = self._command(self._depth_target(now, m, speed))
        return StrategyOutput(speed, depth, self.phase, bucket_full=full, stalled=stalled,
                              note=note)

    # -- the depth law ------------------------------------------------------------------
    def _depth_target(self, now: float, m: Measurements, speed: float) -> float:
        c = self.config
        d, i = m.cut_depth, m.drum_current
        if math.isnan(d) or math.isnan(i):
            return self.depth_cmd  # no information: hold
        target = d + c.depth_gain_m_per_a * (c.load_current_a - i)
        # slowed *and* loaded: a site quota may slow the drum on purpose (the core scales
        # the speed this returns), but then the current does not rise
        slowed = not math.isnan(m.drum_speed) and m.drum_speed < c.rock_speed_fraction * speed
        if i >= c.rock_current_a or (slowed and i > c.load_current_a
                                     and self.phase is DigPhase.CUTTING):
            target = min(target, d - _CLEAR_M)  # a rock: lift at the arm's full rate
        if self.phase is DigPhase.APPROACHING and not self._spun_up(now, m, speed):
            return min(target, -c.contact_margin_m)  # never into the soil with a slow drum
        return min(max(target, c.min_depth_m), self.ceiling(m.tilt))

    def _spun_up(self, now: float, m: Measurements, speed: float) -> bool:
        """The drum turns at ``spin_up_fraction`` of the dig speed, or has been turning
        for ``spin_up_s`` (long enough to reach a speed the core lowered for a quota)."""
        c = self.config
        w = m.drum_speed
        if math.isnan(w) or w < 0.5:
            self._turning_since = None
            return False
        if self._turning_since is None:
            self._turning_since = now
        return w >= c.spin_up_fraction * speed or now - self._turning_since >= c.spin_up_s

    def _command(self, target: float) -> float:
        self.depth_cmd = target
        return target

    # -- lift-out at the full mark -----------------------------------------------------
    def _lift_out(self, now: float, m: Measurements, load_kg: float) -> bool:
        """True once the drum is out of the soil after the lift-out."""
        c = self.config
        if math.isnan(load_kg):
            return False
        fill = self._fill
        if fill and abs(load_kg - fill[-1][1]) > _JUMP_KG:
            fill.clear()  # the estimate jumped (another witness took over): start afresh
        fill.append((now, load_kg))
        while len(fill) > 2 and now - fill[1][0] >= _RATE_WINDOW_S:
            fill.popleft()
        if self.lifting_out:
            return not self.stopping and (math.isnan(m.cut_depth) or m.cut_depth <= 0.0)
        if self.phase is not DigPhase.CUTTING:
            return False
        rate = _fill_rate(fill) if now - fill[0][0] >= 0.5 * _RATE_WINDOW_S else 0.0
        depth = 0.0 if math.isnan(m.cut_depth) else max(0.0, m.cut_depth)
        predicted = load_kg + rate * (depth / (2.0 * c.arm_rate_m_s) + c.lift_out_margin_s)
        if predicted >= c.full_fraction * c.bucket_capacity_kg:
            self.lifting_out = True
        return False

    def stop_and_lift(self, m: Measurements) -> bool:
        """Stop the drum and lift it out of the cut (the core's site target is reached:
        no more mass wanted). True once the drum is out of the soil."""
        self.lifting_out = self.stopping = True
        return math.isnan(m.cut_depth) or m.cut_depth <= 0.0

    # -- stalls ----------------------------------------------------------------------
    def _stall(self, now: float, m: Measurements, speed_cmd: float,
               firmware_stall: bool) -> tuple[bool, str]:
        """(a new stall episode began at this update, its note)."""
        c = self.config
        slow = not math.isnan(m.drum_speed) and m.drum_speed < c.stall_speed_fraction * speed_cmd
        loaded = not math.isnan(m.drum_current) and m.drum_current > c.stall_current_a
        if self.phase is DigPhase.APPROACHING and not firmware_stall:
            slow = False  # spinning up in the air
        if slow and loaded:
            if self._stall_since is None:
                self._stall_since = now
        elif not slow:
            self._stall_since = None
            self._in_stall = False
        detected = firmware_stall or (self._stall_since is not None
                                      and now - self._stall_since >= c.stall_time_s - 1e-9)
        if not detected or self._in_stall:
            return False, ""
        self._in_stall = True
        self.stalls += 1
        recent = self._recent_stalls
        recent.append(now)
        while recent and now - recent[0] > c.obstacle_window_s:
            recent.popleft()
        return True, (f"stall {self.stalls} at depth {m.cut_depth:.2f} m: lifting until the "
                      f"drum turns ({len(recent)}/{c.max_stall_retries + 1} within "
                      f"{c.obstacle_window_s:g} s)")


def _fill_rate(fill: deque[tuple[float, float]]) -> float:
    """kg/s: least-squares slope over the window (the scoops make the cell swing by a few
    hundred grams at several Hz; a fit over a second averages that out)."""
    n = len(fill)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in fill) / n
    mk = sum(k for _, k in fill) / n
    var = sum((t - mt) ** 2 for t, _ in fill)
    return max(0.0, sum((t - mt) * (k - mk) for t, k in fill) / var) if var > 0 else 0.0
