"""kg/h, J/kg and the mass-estimate error per dump for the run summary."""

from __future__ import annotations

import json
import math

import pytest

from control.core.mass_estimator import DumpEstimate
from control.demo.productivity import RunTruth, assess, read_truth_log, summary_rows

NAN = math.nan


def est(fused: float, energy: float, cell: float) -> DumpEstimate:
    return DumpEstimate(fused, energy, cell, NAN, energy)


def test_with_truth_the_simulators_mass_time_and_energy_are_used() -> None:
    truth = RunTruth((20.0, 10.0), {"first_enabled": 2.0, "last_dump_end": 182.0,
                                    "dumped_kg": 30.0, "battery_energy_j": 6000.0})
    p = assess(29.0, 9999.0, 500.0, [est(20.2, 19.0, 20.1), est(9.9, 10.5, NAN)], truth)
    assert (p.mass_kg, p.seconds, p.source) == (30.0, 180.0, "simulator truth")
    assert p.kg_per_h == pytest.approx(600.0) and p.j_per_kg == pytest.approx(200.0)
    assert p.errors["fused"] == pytest.approx((0.01, 0.01))
    assert p.errors["energy model"] == pytest.approx((0.05, 0.05))
    assert p.errors["load cell"] == pytest.approx((0.005, 0.005))  # nan: not scored
    rows = dict(summary_rows(p))
    assert rows["productivity"].startswith("600 kg/h (30.0 kg in 180 s simulated")
    assert rows["energy per kg"] == "200 J/kg (battery)"
    assert "fused 1.0 / 1.0 %" in rows["mass estimate error, mean / max (2 dumps)"]


def test_without_truth_the_controllers_own_figures_and_no_error() -> None:
    p = assess(45.0, 9000.0, 180.0, [est(45.0, 44.0, 45.0)])
    assert (p.kg_per_h, p.j_per_kg, p.source, p.errors) == (900.0, 200.0, "controller", {})
    assert dict(summary_rows(p))["mass estimate error"] == "n/a (no simulator truth)"


def test_unequal_dump_counts_are_paired_in_order_and_said(tmp_path) -> None:
    path = tmp_path / "truth.jsonl"
    dump = {"kind": "dump", "started": 1.0, "ended": 2.0, "bucket_before_kg": 20.0,
            "bucket_after_kg": 0.0}  # as sim_hw.truth writes it
    lines = [{**dump, "dumped_kg": 20.0}, {**dump, "dumped_kg": 0.1},
             {"kind": "totals", "first_enabled": 0.0, "last_dump_end": 100.0,
              "dumped_kg": 20.1, "battery_energy_j": 1000.0, "rocks_met": None}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\ngarbage\n")
    truth = read_truth_log(path)
    assert truth is not None and truth.dumps_kg == (20.0, 0.1)
    assert math.isnan(truth.totals["rocks_met"])
    p = assess(20.0, 0.0, 100.0, [est(20.0, 20.0, 20.0)], truth)
    assert p.dumps_scored == 1 and "1 dumps booked, 2 in the truth log" in p.note
    assert read_truth_log(tmp_path / "missing.jsonl") is None


def test_a_long_run_pairs_the_kept_latest_dumps_with_the_same_truth_dumps() -> None:
    # the estimator keeps the latest DUMP_HISTORY dumps: dumps 3 and 4 of 5 here
    truth = RunTruth((10.0, 11.0, 12.0, 20.0, 30.0), {})
    p = assess(83.0, 0.0, 100.0, [est(20.0, 20.0, 20.0), est(30.0, 30.0, 30.0)], truth,
               dumps_total=5)
    assert p.dumps_scored == 2 and p.errors["fused"] == (0.0, 0.0)
    assert p.note == "mass errors of the latest 2 of 5 dumps"
