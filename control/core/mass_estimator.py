"""On-line estimate of the excavated mass from three witnesses, so that a failed load
cell is detected and the booked mass stays right without it.

Theory of operation
-------------------
* The load cell (``bucket_load``): direct, precise when the bucket is still,
  but fragile.
* The energy model, in two parts, neither of which reads the load cell:

  - cutting energy, on line while the drum cuts: the mechanical power that goes
    into the regolith, ``kt * (I_drum - I_0) * |omega|`` (plus
    ``arm_efficiency * V * |I_arm|``), over the specific cutting energy (J/kg),
    integrated over the dig. Soils differ (cohesion, density), so its scale
    ``gain`` is calibrated at every dump against the lift work below (the load
    cell only when no lift was measured): the first lift replaces the
    configured guess, later dumps move it half-way;
  - lift work, at the stow: the arm raises the bucket at the firmware's rate
    limit with the drum clear of the ground, so its actuator current is
    ``arm_idle_current_a + (arm_assembly_kg + m) g / arm_newton_per_amp``
    (electrical work per metre of lift is proportional to the weight lifted).
    The mean over the samples taken at full rate (``lift_speed_fraction`` of
    ``arm_rate_m_s`` or more, drum at least ``lift_clear_m`` above the ground)
    gives ``m``. It needs no soil parameters, only the rig's arm constants.

``estimate_kg`` (what the strategy fills to) is the cell while it is trusted,
else the energy model: the lift value once one is measured, the calibrated
cutting integral before that. The cell is *distrusted* (latched for the rest
of the run) when its reading is implausible (nan, below -1 kg, above
``load_cell_max_kg``), frozen for ``stuck_s`` (bit-identical after the cutting
model's mass moved ``stuck_response_kg`` while cutting: a real load cell reads
the same counts while the bucket's load does not change; frozen at all for a
cell the firmware declares noisy, protocol 1.2), or when it disagrees with the
energy model by more than ``disagree_kg`` and ``disagree_fraction`` of the
estimate for ``disagree_hold_s`` while digging (until the cutting model has
been calibrated once, it must disagree by a factor of ``uncalibrated_ratio``),
or with a lift measurement by more than ``disagree_kg`` at the stow.

At a dump (``dump_started`` then ``emptied``) the mass booked is the *fused*
value: the inverse-variance mean of the still bucket's cell reading
(``cell_sigma_kg``) and the lift measurement (``lift_sigma_kg``), minus what
the cell still reads afterwards if the drum has stopped (a drum still
reversing tips out the rest); one witness alone if the other is missing.
``dumps`` keeps, per dump, the fused value and each witness's own figure, so a
benchmark can score them separately.

Clocks: the integrals (battery energy, cutting energy, lift work) and the arm's
velocity are taken on the *sample clock*, ``m.sample_time`` (the firmware's
timestamp of the newest fast sample), not on the loop's ``now``/``dt``. The loop's
plant clock is wall time times ``loop.time_scale``; a firmware (or simulator) whose
samples do not advance at exactly that scale, or a loop that misses ticks, would
otherwise stretch or shrink every integral, and an arm rising at its full rate per
sample second would look too slow to weigh (under qemu emulation the simulator's
samples advanced at 0.46x wall time against a loop scale of 5). A tick that sees no new
sample adds nothing; a sample clock that goes back (a firmware restart) starts
again. Without ``sample_time`` (NaN) the loop's ``now`` and ``dt`` are used.

Pure step object: ``update(now, dt, m, cutting)``; time in plant seconds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from .config import MassConfig
from .measurements import Measurements
from .stuck_sensors import ResponseTracker

__all__ = ["DUMP_HISTORY", "DumpEstimate", "MassEstimate", "MassEstimator"]

#: dumps whose witnesses are kept (for the run's productivity report); a service that
#: digs for months books more, and keeps only the latest (``dumps_total`` counts all)
DUMP_HISTORY = 1000

#: arm velocity is measured over at least this long (the position channel is noisy)
_VELOCITY_BASE_S = 0.1


@dataclass(frozen=True, slots=True)
class MassEstimate:
    estimate_kg: float  # what the controller trusts
    model_kg: float  # energy model (lift value once measured, else calibrated cutting)
    load_cell_kg: float
    load_cell_ok: bool
    energy_j: float  # electrical energy used by the rig so far (battery)


@dataclass(frozen=True, slots=True)
class DumpEstimate:
    """What each witness said left the bucket at one dump (kg; nan: no reading)."""

    fused_kg: float  # what was booked
    energy_kg: float  # energy model alone (lift work, else the cutting integral)
    cell_kg: float  # load cell alone
    cutting_kg: float  # the calibrated cutting-energy integral
    lift_kg: float  # the lift measurement


class MassEstimator:
    def __init__(self, config: MassConfig) -> None:
        self.config = config
        self.gain = 1.0
        self.calibrations = 0
        self.load_cell_ok = True
        self.fault_reason = ""
        self.energy_j = 0.0
        self.dumps: deque[DumpEstimate] = deque(maxlen=DUMP_HISTORY)  # the latest
        self.dumps_total = 0
        self._raw_model_kg = 0.0
        self._disagree_since: float | None = None
        self._lift_sum = 0.0  # arm current x dt summed over full-rate lift samples
        self._lift_s = 0.0  # ... and their duration
        self._arm: deque[tuple[float, float]] = deque()  # (time, arm position)
        self._before_dump: MassEstimate | None = None
        self._lift_at_dump = math.nan
        self._still = True  # the drum is at rest (the cell's reading is steady)
        self._sample_t = math.nan  # the previous update's sample time
        self._last = MassEstimate(0.0, 0.0, math.nan, True, 0.0)
        self._cell_response = ResponseTracker(config.stuck_response_kg)
        self._frozen_s = 0.0  # how long the cell has not followed the load (see above)

    @property
    def last(self) -> MassEstimate:
        return self._last

    @property
    def lift_kg(self) -> float:
        """The bucket's load from the lift work measured since it was last filled (nan:
        none yet)."""
        c = self.config
        if self._lift_s < c.lift_min_s - 1e-9:
            return math.nan
        current = self._lift_sum / self._lift_s
        return ((current - c.arm_idle_current_a) * c.arm_newton_per_amp / c.gravity_m_s2
                - c.arm_assembly_kg)

    def _clock(self, now: float, dt: float, m: Measurements) -> tuple[float, float]:
        """(time, interval) on the sample clock; the loop's when there is none."""
        t, previous = m.sample_time, self._sample_t
        self._sample_t = t
        if not math.isnan(previous) and t >= previous:
            return t, t - previous
        if not (math.isnan(t) and math.isnan(previous)):
            # the clock changed (first sample, a firmware restart, samples gone): the
            # times kept so far are on another base
            self._arm.clear()
            self._disagree_since = None
        return (now, dt) if math.isnan(t) else (t, 0.0)

    def update(self, now: float, dt: float, m: Measurements, cutting: bool) -> MassEstimate:
        c = self.config
        now, dt = self._clock(now, dt, m)
        self._still = not math.isnan(m.drum_speed) and abs(m.drum_speed) < c.still_speed_rad_s
        if not math.isnan(m.battery_voltage) and not math.isnan(m.battery_current):
            self.energy_j += max(0.0, m.battery_voltage * m.battery_current) * dt
        if cutting:
            self._integrate_cutting(dt, m)
            self._lift_sum, self._lift_s = 0.0, 0.0  # the load changes: old lifts are stale
        else:
            self._observe_lift(now, dt, m)
        lift = self.lift_kg
        model = lift if not math.isnan(lift) else self.gain * self._raw_model_kg
        cell = m.bucket_load
        flat = m.unchanged_for.get("bucket_load")
        if "bucket_load" in m.noisy:
            self._frozen_s = flat or 0.0
        else:
            self._frozen_s = self._cell_response.update(
                now, dt, flat, self.gain * self._raw_model_kg if cutting else None)
        if self.load_cell_ok:
            self._check_cell(now, m, cell, model, lift, cutting)
        estimate = max(0.0, cell) if self.load_cell_ok else model
        self._last = MassEstimate(estimate, model, cell, self.load_cell_ok, self.energy_j)
        return self._last

    def _integrate_cutting(self, dt: float, m: Measurements) -> None:
        c = self.config
        omega = 0.0 if math.isnan(m.drum_speed) else abs(m.drum_speed)
        drum_i = 0.0 if math.isnan(m.drum_current) else m.drum_current
        arm_i = 0.0 if math.isnan(m.arm_current) else abs(m.arm_current)
        power = max(0.0, c.torque_constant_nm_per_a * (drum_i - c.no_load_current_a)) * omega
        power += c.arm_efficiency * c.arm_voltage_v * arm_i
        self._raw_model_kg += power * dt / c.specific_energy_j_per_kg

    def _observe_lift(self, now: float, dt: float, m: Measurements) -> None:
        """Accumulate arm-current samples taken while the arm lifts the clear bucket at
        its full rate."""
        c = self.config
        arm = self._arm
        if math.isnan(m.arm_position) or math.isnan(m.arm_current) or math.isnan(m.cut_depth):
            arm.clear()
            return
        arm.append((now, m.arm_position))
        while len(arm) > 2 and now - arm[1][0] >= _VELOCITY_BASE_S:
            arm.popleft()
        t0, z0 = arm[0]
        if now - t0 < _VELOCITY_BASE_S - 1e-9:
            return
        rising = (m.arm_position - z0) / (now - t0)
        if rising >= c.lift_speed_fraction * c.arm_rate_m_s and m.cut_depth <= -c.lift_clear_m:
            self._lift_sum += m.arm_current * dt
            self._lift_s += dt

    def _check_cell(self, now: float, m: Measurements, cell: float, model: float,
                    lift: float, cutting: bool) -> None:
        c = self.config
        stuck = self._frozen_s
        if math.isnan(cell) or cell < -1.0 or cell > c.load_cell_max_kg \
                or "bucket_load" in m.saturated:
            self._distrust(f"load cell reads {cell:.3g} kg, outside [-1, "
                           f"{c.load_cell_max_kg}] kg")
        elif stuck >= c.stuck_s:
            self._distrust(f"load cell output frozen for {stuck:.1f} s")
        elif cutting:
            if self.calibrations:
                limit = max(c.disagree_kg, c.disagree_fraction * max(model, cell))
                off = abs(cell - model) > limit
            else:  # the cutting model's scale is a guess until the first dump
                limit = c.disagree_kg
                r = c.uncalibrated_ratio
                off = abs(cell - model) > limit and not model / r <= cell <= model * r
            if off:
                if self._disagree_since is None:
                    self._disagree_since = now
                if now - self._disagree_since >= c.disagree_hold_s - 1e-9:
                    self._distrust(f"load cell {cell:.1f} kg disagrees with the energy "
                                   f"model {model:.1f} kg by more than {limit:.1f} kg")
            else:
                self._disagree_since = None
        elif not math.isnan(lift) and abs(cell - lift) > c.disagree_kg \
                and self._lift_s >= 2 * c.lift_min_s and self._before_dump is None:
            self._distrust(f"load cell {cell:.1f} kg disagrees with the lift work "
                           f"({lift:.1f} kg) by more than {c.disagree_kg:.1f} kg")

    def dump_started(self) -> None:
        """The bucket is about to be emptied: remember what it holds."""
        self._before_dump = self._last
        self._lift_at_dump = self.lift_kg

    def emptied(self) -> float:
        """The bucket was dumped: book it, calibrate the cutting model, start a new load.
        Returns the mass that left the bucket (the fused value)."""
        c = self.config
        before = self._before_dump or self._last
        lift = self._lift_at_dump if self._before_dump is not None else self.lift_kg
        self._before_dump = None
        # what the cell reads now is left behind, unless the drum still turns: then its
        # reading swings with the scoops and the spin-down tips out the rest anyway
        after = max(0.0, self._last.load_cell_kg) if self.load_cell_ok and self._still \
            and not math.isnan(self._last.load_cell_kg) else 0.0
        cutting = self.gain * self._raw_model_kg
        cell = before.load_cell_kg - after if self.load_cell_ok else math.nan
        lifted = lift - after if not math.isnan(lift) else math.nan
        energy = lifted if not math.isnan(lifted) else cutting
        if not math.isnan(cell) and not math.isnan(lifted):
            w_cell, w_lift = 1.0 / c.cell_sigma_kg ** 2, 1.0 / c.lift_sigma_kg ** 2
            fused = (w_cell * cell + w_lift * lifted) / (w_cell + w_lift)
        else:
            fused = cell if not math.isnan(cell) else energy
        fused = max(0.0, fused)
        reference = lift if not math.isnan(lift) else (
            before.load_cell_kg if self.load_cell_ok else math.nan)
        if self._raw_model_kg > 1.0 and not math.isnan(reference) and reference > 1.0:
            # half-way each time (a dig's rocks and depth profile vary); the first lift
            # measurement replaces the configured guess outright
            step = 1.0 if self.calibrations == 0 and not math.isnan(lift) else 0.5
            self.gain += step * (reference / self._raw_model_kg - self.gain)
            self.calibrations += 1
        self.dumps.append(DumpEstimate(fused, energy, cell, cutting, lifted))
        self.dumps_total += 1
        self._raw_model_kg = 0.0
        self._lift_sum, self._lift_s = 0.0, 0.0
        self._disagree_since = None
        self._last = MassEstimate(0.0, 0.0, self._last.load_cell_kg, self.load_cell_ok,
                                  self.energy_j)
        return fused

    def _distrust(self, reason: str) -> None:
        self.load_cell_ok = False
        self.fault_reason = reason
