"""One benchmark mission in lockstep simulated time, and what it measured (bench_mission.py).

``run_mission(soil, seed, kind, control_hz)`` builds a ``rig_bench.lockstep.LockstepRunner``:
the simulator's ``Rig`` (plant, firmware, sensor synthesis; the seed picks the
terrain, the rocks and the sensor noise) served over the in-memory link, and
the service's ``RigController`` (the controller core, the compiled filter
chains, the local operator) with the strategy ``kind``, in simulated time;
it flies the demo mission and returns a ``MissionMetrics``. The
simulator's truth (``rig.truth``: what each dump really put in the hopper,
the battery energy) is read here, after the fact; the controller never sees
it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from control.core.config import load_config
from control.core.mission import DEFAULT_MISSION
from control.core.step import ControlEvent
from control.core.strategy import BASELINE_STRATEGY, DigPhase
from control.core.supervisor import Mode
from rig_bench.lockstep import LockstepRunner
from sim_hw.plant_config import SOIL_PRESETS
from sim_hw.rig import RigConfig

MAX_MISSION_S = 900.0
SUSTAIN_S = 1.5  # the sustained over-current interlock's hold time


@dataclass
class MissionMetrics:
    soil: str
    seed: int
    kind: str
    control_hz: float
    complete: bool
    duration_s: float  # mission start to completion (or give-up), simulated
    dumped_kg: float  # true mass in the hopper
    spilled_kg: float
    battery_j: float  # true energy drawn from the battery over the mission
    cycles: int
    stalls: int
    obstacles: int
    trips: int
    trip_names: list[str]
    rocks_met: int
    strikes: int  # firmware CURRENT_LIMIT reports while digging
    times: dict[str, float]  # seconds per activity
    current: list[float]  # filtered drum current at each control step while cutting
    sustained_max_a: float  # highest current held for SUSTAIN_S while digging
    dumps: list[tuple[float, float, float, float]]  # (truth, fused, energy, cell) kg
    trace: dict[str, list[float]] = field(default_factory=dict)


def controller_config(kind: str, control_hz: float):  # type: ignore[no-untyped-def]
    # the demo's time scale and loop rate give control_hz of plant time; here time_scale
    # is 1 and the runner steps the core every 1/control_hz plant seconds
    strategy = dict(BASELINE_STRATEGY) if kind == BASELINE_STRATEGY["kind"] else {"kind": kind}
    return load_config(None, strategy=strategy, loop={"rate_hz": control_hz})


def run_mission(soil: str, seed: int, kind: str, control_hz: float,
                trace: bool = False) -> MissionMetrics:
    cfg = controller_config(kind, control_hz)
    batch_ms = max(1, round(1000 / control_hz))  # one batch per control step (1 kHz)
    runner = LockstepRunner(cfg, RigConfig(seed=seed, soil=SOIL_PRESETS[soil],
                                           batch_ms=float(batch_ms)), DEFAULT_MISSION)
    rig = runner.rig
    times: dict[str, float] = {}
    current: list[float] = []
    digging: list[float] = []  # every phase of every dig, nan between digs
    tr: dict[str, list[float]] = {k: [] for k in ("t", "current", "depth", "depth_cmd",
                                                  "speed", "bucket_kg", "mode")}
    period = runner.period

    def observe(r: LockstepRunner) -> None:
        core, m = r.core, r.last_measurements
        if r.mission_started is None:
            return
        mode = core.mode
        if mode is Mode.DIGGING:
            digging.append(m.drum_current)
            phase = core.strategy.phase
            in_soil = rig.plant.state.arm_pos < 0.0
            key = "cut" if phase is DigPhase.CUTTING and in_soil else (
                "approach" if phase is DigPhase.APPROACHING or not in_soil else "recover")
            if phase is DigPhase.CUTTING and not math.isnan(m.drum_current):
                current.append(m.drum_current)
        else:
            if digging and not math.isnan(digging[-1]):
                digging.append(math.nan)
            key = {Mode.DRIVING: "drive", Mode.STOWING: "stow", Mode.FULL: "stow",
                   Mode.DUMPING: "dump"}.get(mode, "other")
        times[key] = times.get(key, 0.0) + period
        if trace:
            sp = r.last_output.setpoints if r.last_output else None
            for k, v in (("t", r.now), ("current", m.drum_current), ("depth", m.cut_depth),
                         ("depth_cmd", sp.cut_depth if sp else math.nan),
                         ("speed", m.drum_speed), ("bucket_kg", core.mass.last.estimate_kg),
                         ("mode", float(list(Mode).index(mode)))):
                tr[k].append(v)

    runner.observers.append(observe)
    energy0 = rig.plant.energy.chemical
    result = runner.run(max_s=MAX_MISSION_S)
    rig.truth.flush(rig.sim_time, rig.plant)
    runner.close()
    core = runner.core
    events = [e for e in result.events if isinstance(e, ControlEvent)]
    booked = [e.time for e in events if e.kind == "bucket_dumped"]
    dumps = []
    for t_booked, est in zip(booked, core.mass.dumps, strict=True):
        truth = next((d for d in rig.truth.dumps
                      if d.started <= t_booked <= d.ended + 1e-6), None)
        if truth is not None:
            dumps.append((truth.dumped_kg, est.fused_kg, est.energy_kg, est.cell_kg))
    st = core.stats
    return MissionMetrics(
        soil=soil, seed=seed, kind=kind, control_hz=control_hz, complete=result.complete,
        duration_s=result.duration, dumped_kg=rig.plant.state.dumped,
        spilled_kg=rig.plant.state.spilled, battery_j=rig.plant.energy.chemical - energy0,
        cycles=st.cycles, stalls=st.stalls, obstacles=st.obstacles,
        trips=st.interlock_trips,
        trip_names=[str(e.data.get("name", "")) for e in events
                    if e.kind == "interlock_tripped"],
        rocks_met=rig.plant.state.rocks_met,
        strikes=sum(1 for e in events if e.kind == "firmware_warning"
                    and "current_limit" in e.text),
        times=times, current=current,
        sustained_max_a=sustained_max(digging, round(SUSTAIN_S / period)),
        dumps=dumps, trace=tr if trace else {})


def sustained_max(values: list[float], n: int) -> float:
    """The highest level the series stays at or above for *n* consecutive samples (a nan
    breaks the series)."""
    if len(values) < n or n < 1:
        return math.nan
    a = np.asarray(values)
    lows = np.lib.stride_tricks.sliding_window_view(a, n).min(axis=1)  # nan if any is nan
    return float(np.nanmax(lows)) if np.isfinite(lows).any() else math.nan
