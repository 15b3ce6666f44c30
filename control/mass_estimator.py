"""On-line estimate of the excavated mass, so that a failed load cell is detected.

Theory of operation
-------------------
Two independent witnesses of the mass in the bucket:

* the load cell (``bucket_load``), direct but fragile;
* an energy model: while cutting, the mechanical power that goes into the
  regolith, ``kt * (I_drum - I_0) * |omega|`` from the drum plus
  ``efficiency * V * |I_arm|`` from the arm, divided by the specific cutting
  energy (J/kg), integrated over the dig.

The model's scale is uncertain (soil varies), so it is calibrated at every
dump while the cell is trusted: ``gain`` moves towards ``cell / model``.
The cell is *distrusted* (latched for the rest of the run) when its reading is
implausible (nan, below -1 kg, above ``load_cell_max_kg``), or when it
disagrees with the calibrated model by more than ``disagree_kg`` and
``disagree_fraction`` of the estimate for ``disagree_hold_s`` while digging.
``estimate_kg`` is then the model's; otherwise it is the cell's.

Pure step object: ``update(now, dt, m, cutting)``; time in plant seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import MassConfig
from .measurements import Measurements


@dataclass(frozen=True, slots=True)
class MassEstimate:
    estimate_kg: float  # what the controller trusts
    model_kg: float  # calibrated energy model
    load_cell_kg: float
    load_cell_ok: bool
    energy_j: float  # electrical energy used by the rig so far (battery)


class MassEstimator:
    def __init__(self, config: MassConfig) -> None:
        self.config = config
        self.gain = 1.0
        self.load_cell_ok = True
        self.fault_reason = ""
        self._raw_model_kg = 0.0
        self._disagree_since: float | None = None
        self.energy_j = 0.0
        self._before_dump: MassEstimate | None = None
        self._last = MassEstimate(0.0, 0.0, math.nan, True, 0.0)

    @property
    def last(self) -> MassEstimate:
        return self._last

    def update(self, now: float, dt: float, m: Measurements, cutting: bool) -> MassEstimate:
        c = self.config
        if not math.isnan(m.battery_voltage) and not math.isnan(m.battery_current):
            self.energy_j += max(0.0, m.battery_voltage * m.battery_current) * dt
        if cutting:
            omega = 0.0 if math.isnan(m.drum_speed) else abs(m.drum_speed)
            drum_i = 0.0 if math.isnan(m.drum_current) else m.drum_current
            arm_i = 0.0 if math.isnan(m.arm_current) else abs(m.arm_current)
            power = max(0.0, c.torque_constant_nm_per_a * (drum_i - c.no_load_current_a)) * omega
            power += c.arm_efficiency * c.arm_voltage_v * arm_i
            self._raw_model_kg += power * dt / c.specific_energy_j_per_kg
        model = self.gain * self._raw_model_kg
        cell = m.bucket_load

        if self.load_cell_ok:
            stuck = m.unchanged_for.get("bucket_load", 0.0)
            if math.isnan(cell) or cell < -1.0 or cell > c.load_cell_max_kg \
                    or "bucket_load" in m.saturated:
                self._distrust(f"load cell reads {cell:.3g} kg, outside [-1, "
                               f"{c.load_cell_max_kg}] kg")
            elif stuck >= c.stuck_s:
                self._distrust(f"load cell output frozen for {stuck:.1f} s")
            elif cutting:
                limit = max(c.disagree_kg, c.disagree_fraction * max(model, cell))
                if abs(cell - model) > limit:
                    if self._disagree_since is None:
                        self._disagree_since = now
                    if now - self._disagree_since >= c.disagree_hold_s - 1e-9:
                        self._distrust(f"load cell {cell:.1f} kg disagrees with the energy "
                                       f"model {model:.1f} kg by more than {limit:.1f} kg")
                else:
                    self._disagree_since = None
        estimate = max(0.0, cell) if self.load_cell_ok else model
        self._last = MassEstimate(estimate, model, cell, self.load_cell_ok, self.energy_j)
        return self._last

    def dump_started(self) -> None:
        """The bucket is about to be emptied: remember what it holds."""
        self._before_dump = self._last

    def emptied(self) -> float:
        """The bucket was dumped: calibrate the model, start a new load. Returns the
        mass that left the bucket (trusted witnesses, before minus after)."""
        before = getattr(self, "_before_dump", None) or self._last
        self._before_dump = None
        if self.load_cell_ok:
            dumped = max(0.0, before.load_cell_kg - max(0.0, self._last.load_cell_kg))
            cell = before.load_cell_kg
            if self._raw_model_kg > 1.0 and cell > 1.0:
                self.gain += 0.5 * (cell / self._raw_model_kg - self.gain)
        else:
            dumped = before.model_kg
        self._raw_model_kg = 0.0
        self._disagree_since = None
        self._last = MassEstimate(0.0, 0.0, self._last.load_cell_kg, self.load_cell_ok,
                                  self.energy_j)
        return dumped

    def _distrust(self, reason: str) -> None:
        self.load_cell_ok = False
        self.fault_reason = reason
