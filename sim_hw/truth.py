"""What really happened: the simulator's ground truth, for benchmarks and summaries.

The controller estimates the mass it digs from its sensors; to say how good
that estimate is, something must know the true value. ``TruthRecorder``
watches the plant and the firmware once per step and books every DUMP the
firmware carries out (until the reversing drum has stopped): the mass that
really went into the hopper, what was in the bucket before and what stayed in
it. ``totals()`` adds the run's true
excavated, dumped and spilled mass, the energy drawn from the battery, the
rocks met, when the motors were first enabled and when the last dump ended
(the mission's span in simulated time).

Rules: nothing here ever reaches the controller over the link. A benchmark
reads it in-process (``Rig.truth``, ``LockstepRig.truth``); ``rig-sim --truth-log FILE``
writes the same as JSON lines (one ``"dump"`` object per dump, one
``"totals"`` object when the simulator stops) for a demo's summary.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import IO, Any

from firmware_bridge.messages import CommandCode

from .firmware import Firmware
from .plant import RigPlant

__all__ = ["DumpTruth", "TruthRecorder", "read_truth_log"]


@dataclass(frozen=True, slots=True)
class DumpTruth:
    """One DUMP as the physics saw it (kg, simulated seconds)."""

    started: float
    ended: float
    dumped_kg: float  # what went into the hopper during this dump
    bucket_before_kg: float
    bucket_after_kg: float


class TruthRecorder:
    """Books dumps and totals from the true state; optionally as JSON lines."""

    def __init__(self, log_file: IO[str] | None = None) -> None:
        """*log_file*: JSON lines are written (and flushed) there as they happen."""
        self.log_file = log_file
        self.dumps: list[DumpTruth] = []
        self.first_enabled = math.nan  # simulated s when the motors were first enabled
        self._start: tuple[float, float, float] | None = None  # time, dumped, bucket

    def update(self, t: float, plant: RigPlant, firmware: Firmware) -> None:
        """Call after each plant step (or tick) with the simulated time *t*."""
        if self.first_enabled != self.first_enabled and firmware.motors_enabled:  # nan
            self.first_enabled = t
        action = firmware.action
        s = plant.state
        # a dump lasts while the firmware's DUMP runs and then while the drum, reversing,
        # spins down: that last turn empties what the DUMP left in the bucket
        dumping = (action is not None and action.code is CommandCode.DUMP) or (
            self._start is not None and s.omega < 0.0)
        if dumping and self._start is None:
            self._start = (t, s.dumped, s.bucket_mass)
        elif not dumping and self._start is not None:
            t0, dumped0, before = self._start
            self._start = None
            entry = DumpTruth(t0, t, s.dumped - dumped0, before, s.bucket_mass)
            self.dumps.append(entry)
            self._write({"kind": "dump", **asdict(entry)})

    def flush(self, t: float, plant: RigPlant) -> None:
        """Book a dump still in progress at the end of a run as it stands."""
        if self._start is not None:
            t0, dumped0, before = self._start
            self._start = None
            s = plant.state
            entry = DumpTruth(t0, t, s.dumped - dumped0, before, s.bucket_mass)
            self.dumps.append(entry)
            self._write({"kind": "dump", **asdict(entry)})

    def totals(self, t: float, plant: RigPlant) -> dict[str, float]:
        s, e = plant.state, plant.energy
        return {"sim_time": t, "first_enabled": self.first_enabled,
                "last_dump_end": self.dumps[-1].ended if self.dumps else math.nan,
                "excavated_kg": s.excavated, "dumped_kg": s.dumped,
                "spilled_kg": s.spilled, "bucket_kg": s.bucket_mass,
                "battery_energy_j": e.chemical, "soil_energy_j": e.soil,
                "rocks_met": float(s.rocks_met), "dumps": float(len(self.dumps))}

    def close(self, t: float, plant: RigPlant) -> None:
        """Book an open dump and write the totals line (if logging) at the end of a run."""
        self.flush(t, plant)
        self._write({"kind": "totals", **self.totals(t, plant)})

    def _write(self, obj: dict[str, Any]) -> None:
        if self.log_file is None:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else
                     round(v, 6) if isinstance(v, float) else v) for k, v in obj.items()}
        self.log_file.write(json.dumps(clean) + "\n")
        self.log_file.flush()


def read_truth_log(lines: list[str]) -> tuple[list[DumpTruth], dict[str, float]]:
    """Parse a ``--truth-log`` file's lines: (dumps, totals). Unknown lines are skipped."""
    dumps: list[DumpTruth] = []
    totals: dict[str, float] = {}
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        kind = obj.pop("kind", None)
        if kind == "dump":
            try:
                dumps.append(DumpTruth(**{k: float(v) for k, v in obj.items()}))
            except (TypeError, ValueError):
                continue
        elif kind == "totals":
            totals = {k: float(v) if isinstance(v, int | float) else math.nan
                      for k, v in obj.items()}
    return dumps, totals
