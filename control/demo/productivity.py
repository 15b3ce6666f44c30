"""What a run dug for the time and energy it took, and how well it knew the mass.

``assess`` turns a run's figures into kg/h, J/kg and, when the simulator's
truth is at hand, the mass-estimate error of every dump for each witness
(fused, energy model alone, load cell alone; ``mass_estimator.DumpEstimate``).
``summary_rows`` formats them for the run summary.

The truth comes from ``rig-sim --truth-log FILE`` (JSON lines, see
``sim_hw/truth.py``): ``{"kind": "dump", "started", "ended", "dumped_kg", ...}``
per dump and one ``{"kind": "totals", "first_enabled", "last_dump_end",
"dumped_kg", "battery_energy_j", ...}`` when the simulator stops. It is read
after the run, by the demo, for its summary: the control core never sees it.
Without it the figures are the controller's own (booked mass, the battery
energy it measured, plant time from the wall clock).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sim_hw.truth import read_truth_log as parse_truth_lines

from ..core.mass_estimator import DumpEstimate

__all__ = ["Productivity", "RunTruth", "assess", "read_truth_log", "summary_rows"]

WITNESSES = (("fused", "fused_kg"), ("energy model", "energy_kg"), ("load cell", "cell_kg"))


@dataclass(frozen=True, slots=True)
class RunTruth:
    """The simulator's account of a run."""

    dumps_kg: tuple[float, ...]  # true mass into the hopper, per dump, in order
    totals: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Productivity:
    mass_kg: float
    seconds: float  # simulated (plant) seconds the mass took
    kg_per_h: float
    j_per_kg: float
    source: str  # "simulator truth" or "controller"
    errors: dict[str, tuple[float, float]]  # witness -> (mean, max) |relative error|
    dumps_scored: int
    note: str = ""


def read_truth_log(path: str | Path) -> RunTruth | None:
    """The truth log's dumps and totals; None if the file is missing or has no totals.

    The simulator owns the log's format (``sim_hw.truth``): this reads it with the
    simulator's own parser."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    dumps, totals = parse_truth_lines(lines)
    return RunTruth(tuple(d.dumped_kg for d in dumps), totals) if totals else None


def assess(booked_kg: float, energy_j: float, plant_s: float,
           dumps: Sequence[DumpEstimate], truth: RunTruth | None = None,
           dumps_total: int | None = None) -> Productivity:
    """kg/h and J/kg of a run (from the truth when given), and the error per dump.

    *dumps* are the latest of *dumps_total* booked (the estimator keeps
    ``DUMP_HISTORY``): they are paired with the truth's dumps of the same numbers."""
    t = truth.totals if truth is not None else {}
    span = t.get("last_dump_end", math.nan) - t.get("first_enabled", math.nan)
    true_kg = t.get("dumped_kg", math.nan)
    if truth is not None and math.isfinite(span) and span > 0 and true_kg > 0:
        mass, seconds, joules, source = true_kg, span, t.get("battery_energy_j", energy_j), \
            "simulator truth"
    else:
        mass, seconds, joules, source = booked_kg, plant_s, energy_j, "controller"
    errors: dict[str, tuple[float, float]] = {}
    note = ""
    scored = 0
    if truth is not None:
        booked = len(dumps) if dumps_total is None else max(dumps_total, len(dumps))
        first = booked - len(dumps)  # the number of the first dump kept, from 0
        pairs = [(d, kg) for d, kg in zip(dumps, truth.dumps_kg[first:], strict=False)
                 if kg > 1.0]
        if len(truth.dumps_kg) != booked:
            note = (f"{booked} dumps booked, {len(truth.dumps_kg)} in the truth log: "
                    "paired in order")
        elif first:
            note = f"mass errors of the latest {len(dumps)} of {booked} dumps"
        scored = len(pairs)
        for name, attr in WITNESSES:
            rel = [abs(getattr(d, attr) - kg) / kg for d, kg in pairs
                   if not math.isnan(getattr(d, attr))]
            if rel:
                errors[name] = (sum(rel) / len(rel), max(rel))
    return Productivity(
        mass_kg=mass, seconds=seconds,
        kg_per_h=3600.0 * mass / seconds if seconds > 0 else math.nan,
        j_per_kg=joules / mass if mass > 0 else math.nan, source=source, errors=errors,
        dumps_scored=scored, note=note)


def summary_rows(p: Productivity) -> list[tuple[str, str]]:
    """(item, value) rows for the run summary."""
    rows = [
        ("productivity", f"{p.kg_per_h:,.0f} kg/h ({p.mass_kg:.1f} kg in {p.seconds:.0f} s "
                         f"simulated; {p.source})"),
        ("energy per kg", f"{p.j_per_kg:,.0f} J/kg (battery)"),
    ]
    if p.errors:
        text = "; ".join(f"{name} {100 * mean:.1f} / {100 * mx:.1f} %"
                         for name, (mean, mx) in p.errors.items())
        rows.append((f"mass estimate error, mean / max ({p.dumps_scored} dumps)", text))
    else:
        rows.append(("mass estimate error", "n/a (no simulator truth)"))
    if p.note:
        rows.append(("", p.note))
    return rows
