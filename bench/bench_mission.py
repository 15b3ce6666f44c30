"""Excavation benchmark: the demo mission over many seeds and three soils, two strategies.

How it runs (faithful, not toy): each mission is the service's own
``RigController`` (the controller core, supervisor, strategy, interlocks, mass
estimator, mission, local operator, the compiled filter chains, the bridge and
its tasks) against the simulator's ``Rig`` (firmware, plant and int16 sensor
synthesis) over the in-memory link, in simulated time (``rig_bench.lockstep``
on ``rig_bench.virtual_clock``): only the pty and wall-clock jitter are left
out. It prints its lockstep speed (simulated mission seconds per wall second).
The control step runs at ``--control-hz`` of plant time (50 Hz: what the demo
runs, 250 Hz wall at time scale 5).

Per soil it prints, for today's strategy (``strategy.kind = "pi_current"``)
beside the new default (``power_limited``): productivity in kg/h of simulated
time (true mass in the hopper / mission time), J/kg (true battery energy /
true mass), the dig-cycle time breakdown, stalls, obstacles, interlock trips,
rocks met and current-limit strikes, the filtered drum current while cutting,
and the mass-estimate error per dump (fused, energy model alone, load cell
alone) against the simulator's truth. Then the power-limited bound derived
from the plant model (drum power over specific cutting energy) plus the
non-cutting time each sequence leaves (today's: one activity after the other;
power_limited's: arm travel overlapped with the drives, the dump with the
arrival), how close each strategy gets to the bound of its own sequence, and
one "met"/"NOT met" line per goal.

    python bench/bench_mission.py [--seeds 20] [--jobs 2] [--plot docs/excavation-benchmark.png]
                                  [--results runs.jsonl]

With ``--results`` every finished mission is appended to that file and the
missions already in it are not flown again: an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mission_run import MissionMetrics, run_mission

from control.core.config import ControllerConfig
from sim_hw.firmware import FirmwareConfig
from sim_hw.plant import RigPlant
from sim_hw.plant_config import SOIL_PRESETS, PlantConfig, SoilConfig

SOILS = ("loose", "compacted", "rocky")
KINDS = ("pi_current", "power_limited")
LABEL = {"pi_current": "baseline (pi_current)", "power_limited": "power_limited"}
ACTIVITIES = ("drive", "approach", "cut", "recover", "stow", "dump", "other")
GOAL_RATIO = 1.3
GOAL_FUSED = 0.03
GOAL_ENERGY = 0.08
CURRENT_MARGIN_A = 2.0  # p99 of the filtered current while cutting stays this far below


def _task(args: tuple[str, int, str, float, bool]) -> MissionMetrics:
    return run_mission(*args)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def errors(runs: list[MissionMetrics], col: int) -> list[float]:
    return [abs(d[col] - d[0]) / d[0] for r in runs for d in r.dumps
            if d[0] > 1.0 and not math.isnan(d[col])]


def summarise(runs: list[MissionMetrics]) -> dict[str, float]:
    kg = sum(r.dumped_kg for r in runs)
    secs = sum(r.duration_s for r in runs)
    cycles = max(1, sum(r.cycles for r in runs))
    current = [i for r in runs for i in r.current]
    out = {
        "complete": sum(r.complete for r in runs), "runs": len(runs),
        "kg_h": 3600.0 * kg / secs, "j_kg": sum(r.battery_j for r in runs) / kg,
        "mission_s": secs / len(runs), "kg": kg / len(runs), "cycles": cycles / len(runs),
        "stalls": sum(r.stalls for r in runs), "obstacles": sum(r.obstacles for r in runs),
        "trips": sum(r.trips for r in runs), "rocks": sum(r.rocks_met for r in runs),
        "strikes": sum(r.strikes for r in runs),
        "spilled": sum(r.spilled_kg for r in runs) / len(runs),
        "i_p50": pct(current, 50), "i_p99": pct(current, 99),
        "i_max": max(current) if current else math.nan,
        "i_sustained": max((r.sustained_max_a for r in runs
                            if not math.isnan(r.sustained_max_a)), default=math.nan),
        "dumps": sum(len(r.dumps) for r in runs),
    }
    for a in ACTIVITIES:
        out[f"t_{a}"] = sum(r.times.get(a, 0.0) for r in runs) / cycles
    for name, col in (("fused", 1), ("energy", 2), ("cell", 3)):
        e = errors(runs, col)
        out[f"e_{name}_p95"] = pct(e, 95)
        out[f"e_{name}_max"] = max(e) if e else math.nan
    return out


def power_bound(soil: SoilConfig, overhead_s: float, mass_kg: float) -> dict[str, float]:
    """The most the drum can dig, from the plant model: at the firmware's speed limit and
    the highest current the interlock lets it hold (drum_current_stop_a), the soil torque
    left after friction sets the depth; power over specific cutting energy is the rate.
    Plus the mission's non-cutting time *overhead_s* (drive, arm travel in the air at the
    firmware's rate, dump) that a sequence leaves: the cutting rate cannot shorten it, the
    sequencing can (``overheads``)."""
    pc, fw, il = PlantConfig(), FirmwareConfig(), ControllerConfig().interlocks
    plant = RigPlant(pc, soil)
    w = fw.max_drum_speed
    torque = pc.motor_k * il.drum_current_stop_a - pc.coulomb_friction - pc.viscous_friction * w
    depth = -pc.arm_min  # the arm's end stop, unless the torque runs out first
    if plant.cutting_torque(depth, w) > torque:
        lo, hi = 0.0, depth
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if plant.cutting_torque(mid, w) < torque else (lo, mid)
        depth = lo
    power = plant.cutting_torque(depth, w) * w
    rate = soil.density * pc.drum_width * depth * pc.drum_radius * w * pc.fill_efficiency
    mission_s = overhead_s + mass_kg / rate
    return {"depth": depth, "power": power, "rate": rate, "e": power / rate,
            "kg_h": 3600.0 * mass_kg / mission_s, "overhead": overhead_s}


def overheads(runs: list[MissionMetrics]) -> tuple[float, dict[str, float]]:
    """Mean non-cutting seconds per mission of *runs*, and per cycle by activity: what a
    sequence leaves besides the cutting (today's: every activity one after the other;
    power_limited's: the arm travel overlapped with the drives, the dump with the arrival)."""
    cycles = max(1, sum(r.cycles for r in runs))
    per_cycle = {a: sum(r.times.get(a, 0.0) for r in runs) / cycles
                 for a in ACTIVITIES if a != "cut"}
    return float(np.mean([r.duration_s - r.times.get("cut", 0.0) for r in runs])), per_cycle


def _bound_line(name: str, bound: dict[str, float], per_cycle: dict[str, float],
                who: str, kg_h: float) -> str:
    parts = ", ".join(f"{a} {per_cycle[a]:.1f}" for a in per_cycle if per_cycle[a] >= 0.05)
    return (f"  {name}: {bound['kg_h']:.0f} kg/h with {bound['overhead']:.0f} s of non-cutting "
            f"time per mission (per cycle s: {parts}); {who} reaches "
            f"{100 * kg_h / bound['kg_h']:.0f} % of it")


def fmt(v: float, spec: str) -> str:
    return "n/a" if isinstance(v, float) and math.isnan(v) else format(v, spec)


def print_soil(soil: str, s: dict[str, dict[str, float]], bound: dict[str, float],
               today: dict[str, float], over: tuple[dict[str, float], dict[str, float]]) -> None:
    b, n = s["pi_current"], s["power_limited"]
    rows: list[tuple[str, str, str]] = [
        ("missions complete", f"{b['complete']:.0f}/{b['runs']:.0f}",
         f"{n['complete']:.0f}/{n['runs']:.0f}"),
        ("productivity, kg/h (simulated)", fmt(b["kg_h"], ".0f"), fmt(n["kg_h"], ".0f")),
        ("  mission time s / true kg dumped", f"{b['mission_s']:.1f} / {b['kg']:.1f}",
         f"{n['mission_s']:.1f} / {n['kg']:.1f}"),
        ("energy, J/kg (battery)", fmt(b["j_kg"], ".0f"), fmt(n["j_kg"], ".0f")),
        ("dig cycles per mission", f"{b['cycles']:.2f}", f"{n['cycles']:.2f}"),
        ("cycle time s: drive", f"{b['t_drive']:.1f}", f"{n['t_drive']:.1f}"),
        ("  approach (arm down, in air)", f"{b['t_approach']:.1f}", f"{n['t_approach']:.1f}"),
        ("  cut (drum in soil)", f"{b['t_cut']:.1f}", f"{n['t_cut']:.1f}"),
        ("  stall recovery", f"{b['t_recover']:.1f}", f"{n['t_recover']:.1f}"),
        ("  stow", f"{b['t_stow']:.1f}", f"{n['t_stow']:.1f}"),
        ("  dump", f"{b['t_dump']:.1f}", f"{n['t_dump']:.1f}"),
        ("  other (arm, fault, idle)", f"{b['t_other']:.1f}", f"{n['t_other']:.1f}"),
        ("stalls / obstacles", f"{b['stalls']:.0f} / {b['obstacles']:.0f}",
         f"{n['stalls']:.0f} / {n['obstacles']:.0f}"),
        ("interlock trips", f"{b['trips']:.0f}", f"{n['trips']:.0f}"),
        ("rocks met / current-limit strikes", f"{b['rocks']:.0f} / {b['strikes']:.0f}",
         f"{n['rocks']:.0f} / {n['strikes']:.0f}"),
        ("spilled kg per mission", f"{b['spilled']:.2f}", f"{n['spilled']:.2f}"),
        ("drum current cutting p50/p99/max A", _amps(b), _amps(n)),
        ("  highest held for 1.5 s, A", fmt(b["i_sustained"], ".1f"),
         fmt(n["i_sustained"], ".1f")),
    ]
    for name in ("fused", "energy", "cell"):
        rows.append((f"mass error p95/max: {name}", _err(b, name), _err(n, name)))
    rows.append(("  dumps scored", f"{b['dumps']:.0f}", f"{n['dumps']:.0f}"))
    print(f"\n== soil: {soil} ({_soil_text(SOIL_PRESETS[soil])})")
    print(f"{'':<38}{LABEL['pi_current']:>24}{LABEL['power_limited']:>18}")
    for name, x, y in rows:
        print(f"{name:<38}{x:>24}{y:>18}")
    ratio = n["kg_h"] / b["kg_h"]
    print(f"{'productivity ratio new / baseline':<38}{'':>24}{ratio:>17.2f}x")
    print(f"power-limited bound: {bound['power']:.0f} W into the soil at {bound['e']:.0f} J/kg "
          f"({bound['rate']:.2f} kg/s at {100 * bound['depth']:.1f} cm, "
          f"{ControllerConfig().interlocks.drum_current_stop_a:g} A, "
          f"{FirmwareConfig().max_drum_speed:g} rad/s), plus the sequence's non-cutting time:")
    print(_bound_line("today's sequence", today, over[0], "the baseline", b["kg_h"]))
    print(_bound_line("overlapped sequence (power_limited)", bound, over[1], "power_limited",
                      n["kg_h"]))


def _amps(s: dict[str, float]) -> str:
    return f"{fmt(s['i_p50'], '.1f')}/{fmt(s['i_p99'], '.1f')}/{fmt(s['i_max'], '.1f')}"


def _err(s: dict[str, float], name: str) -> str:
    p95, mx = s[f"e_{name}_p95"], s[f"e_{name}_max"]
    return f"{fmt(100 * p95, '.2f')}%/{fmt(100 * mx, '.2f')}%"


def _soil_text(so: SoilConfig) -> str:
    return (f"density {so.density:g} kg/m3, cohesion {so.cohesion:g} Pa, rocks "
            f"{so.rocks_per_m3:g}/m3 median {so.rock_torque:g} N m")


def goals(stats: dict[str, dict[str, dict[str, float]]],
          bounds: dict[str, dict[str, float]]) -> bool:
    limit = FirmwareConfig().current_limit
    trip = ControllerConfig().interlocks.drum_current_stop_a
    lines: list[tuple[str, bool]] = []
    for soil, s in stats.items():
        n, b = s["power_limited"], s["pi_current"]
        if soil in ("loose", "compacted"):
            lines.append((f"{soil}: no stall, no interlock trip "
                          f"({n['stalls']:.0f} stalls, {n['trips']:.0f} trips)",
                          n["stalls"] == 0 and n["trips"] == 0))
            lines.append((f"{soil}: filtered drum current while cutting p99 "
                          f"{fmt(n['i_p99'], '.1f')} A <= {limit - CURRENT_MARGIN_A:g} A "
                          f"({CURRENT_MARGIN_A:g} A below the {limit:g} A firmware limit)",
                          n["i_p99"] <= limit - CURRENT_MARGIN_A))
        else:
            lines.append((f"{soil}: rock strikes handled without an interlock trip "
                          f"({n['strikes']:.0f} strikes, {n['stalls']:.0f} stalls, "
                          f"{n['trips']:.0f} trips)", n["trips"] == 0))
        lines.append((f"{soil}: current never held at {trip:g} A for 1.5 s (highest "
                      f"{fmt(n['i_sustained'], '.1f')} A)", n["i_sustained"] < trip))
        lines.append((f"{soil}: productivity {n['kg_h'] / b['kg_h']:.2f}x the baseline >= "
                      f"{GOAL_RATIO}x (the bound allows {bounds[soil]['kg_h'] / b['kg_h']:.2f}x)",
                      n["kg_h"] >= GOAL_RATIO * b["kg_h"]))
        lines.append((f"{soil}: fused mass error p95 {100 * n['e_fused_p95']:.2f} % <= "
                      f"{100 * GOAL_FUSED:g} %", n["e_fused_p95"] <= GOAL_FUSED))
        lines.append((f"{soil}: energy-model mass error p95 {100 * n['e_energy_p95']:.2f} % <= "
                      f"{100 * GOAL_ENERGY:g} %", n["e_energy_p95"] <= GOAL_ENERGY))
        lines.append((f"{soil}: every mission complete ({n['complete']:.0f}/{n['runs']:.0f})",
                      n["complete"] == n["runs"]))
    print("\ngoals (power_limited):")
    for text, ok in lines:
        print(f"  {'met    ' if ok else 'NOT met'}  {text}")
    return all(ok for _, ok in lines)


def _load(path: str | None, tasks: list[tuple[str, int, str, float, bool]]
          ) -> list[MissionMetrics]:
    """Missions of this run already in *path* (same soil, seed, strategy and rate)."""
    if not path or not Path(path).exists():
        return []
    wanted = {(t[0], t[1], t[2]): t for t in tasks}
    rate = tasks[0][3] if tasks else 0.0
    runs = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            r = MissionMetrics(**json.loads(line))
        except (ValueError, TypeError):
            continue
        task = wanted.pop((r.soil, r.seed, r.kind), None)
        if task is not None and r.control_hz == rate and (r.trace or not task[4]):
            runs.append(r)
    return runs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20, help="seeds per soil (default 20)")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--soils", default=",".join(SOILS))
    p.add_argument("--control-hz", type=float, default=50.0,
                   help="control steps per simulated second (default 50, as the demo)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--plot", help="write the documentation figure (PNG) here")
    p.add_argument("--results", help="keep finished missions here (JSON lines) and resume")
    a = p.parse_args()
    soils = [s.strip() for s in a.soils.split(",") if s.strip()]
    unknown = [s for s in soils if s not in SOIL_PRESETS]
    if unknown:
        p.error(f"unknown soil(s) {', '.join(unknown)}; expected {', '.join(SOIL_PRESETS)}")
    seeds = range(a.first_seed, a.first_seed + a.seeds)
    tasks = [(soil, seed, kind, a.control_hz, bool(a.plot) and seed == a.first_seed)
             for soil in soils for seed in seeds for kind in KINDS]
    print(f"mission benchmark: demo mission ({len(seeds)} seeds x {len(soils)} soils x "
          f"{len(KINDS)} strategies = {len(tasks)} missions), lockstep simulated time, control "
          f"{a.control_hz:g} Hz, {a.jobs} worker(s)", flush=True)
    t0 = time.monotonic()
    runs = _load(a.results, tasks)
    todo = [t for t in tasks if (t[0], t[1], t[2]) not in {(r.soil, r.seed, r.kind) for r in runs}]
    if runs:
        print(f"{len(runs)} missions read from {a.results}, {len(todo)} to fly", flush=True)
    with multiprocessing.get_context("fork").Pool(a.jobs) as pool:
        for i, r in enumerate(pool.imap_unordered(_task, todo), 1):
            runs.append(r)
            if a.results:
                with open(a.results, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(asdict(r)) + "\n")
            if i % 10 == 0 or i == len(todo):
                print(f"  {i}/{len(todo)} missions ({time.monotonic() - t0:.0f} s)",
                      file=sys.stderr, flush=True)
    wall = time.monotonic() - t0
    if todo:
        simulated = sum(r.duration_s for r in runs[-len(todo):])
        print(f"{len(todo)} missions ({simulated:.0f} s simulated) flown in {wall:.0f} s wall")
        print(f"lockstep speed: {simulated / wall:.1f} simulated s per wall s "
              f"({simulated / wall / a.jobs:.1f} per worker, {a.jobs} worker(s))")
    stats = {soil: {kind: summarise([r for r in runs if r.soil == soil and r.kind == kind])
                    for kind in KINDS} for soil in soils}
    bounds, today = {}, {}
    for soil in soils:
        new = [r for r in runs if r.soil == soil and r.kind == "power_limited"]
        old = [r for r in runs if r.soil == soil and r.kind == "pi_current"]
        (o_new, c_new), (o_old, c_old) = overheads(new), overheads(old)
        bounds[soil] = power_bound(SOIL_PRESETS[soil], o_new,
                                   float(np.mean([r.dumped_kg for r in new])))
        today[soil] = power_bound(SOIL_PRESETS[soil], o_old,
                                  float(np.mean([r.dumped_kg for r in old])))
        print_soil(soil, stats[soil], bounds[soil], today[soil], (c_old, c_new))
    ok = goals(stats, bounds)
    if a.plot:
        from mission_plot import write_figure

        write_figure(a.plot, runs, stats, bounds, today)
        print(f"\nfigure written to {a.plot}")
    print("\nall goals met" if ok else "\nsome goals NOT met (see above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
