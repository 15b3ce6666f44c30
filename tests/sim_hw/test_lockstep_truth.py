"""The lockstep rig (no port, no clock), the truth recorder and the soil presets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from control.demo.productivity import read_truth_log as control_reads
from firmware_bridge.messages import (
    Command,
    CommandCode,
    CommandResult,
    EventCode,
    ResultStatus,
    SampleBatch,
    Setpoints,
)
from sim_hw import Rig, RigConfig, SimUsageError, SoilConfig
from sim_hw.lockstep import LockstepRig
from sim_hw.plant_config import SOIL_PRESETS
from sim_hw.truth import read_truth_log

FAR = 10**15


def test_presets_parse_by_name_with_overrides_and_unknown_names_are_refused() -> None:
    assert SoilConfig.parse("rocky") == SOIL_PRESETS["rocky"]
    mixed = SoilConfig.parse("compacted, rocks_per_m3=0")
    assert mixed.cohesion == SOIL_PRESETS["compacted"].cohesion and mixed.rocks_per_m3 == 0
    assert SoilConfig.parse("") == SoilConfig()
    with pytest.raises(SimUsageError, match="unknown preset 'mud'; expected one of loose, "
                                            "compacted, rocky or KEY=VALUE"):
        SoilConfig.parse("mud")
    # what separates them: cohesion and density (cutting load), rocks (strikes)
    loose, compacted, rocky = (SOIL_PRESETS[k] for k in ("loose", "compacted", "rocky"))
    assert loose.cohesion < compacted.cohesion and loose.density < compacted.density
    assert rocky.rocks_per_m3 * rocky.rock_torque > 10 * compacted.rocks_per_m3 * \
        compacted.rock_torque


def test_lockstep_rig_streams_samples_and_answers_commands_in_simulated_time() -> None:
    rig = LockstepRig(seed=3, batch_samples=10)
    out = rig.advance(0.1)
    fast = [m for m in out if isinstance(m, SampleBatch) and m.stream_id == 0]
    slow = [m for m in out if isinstance(m, SampleBatch) and m.stream_id == 1]
    assert sum(b.counts.shape[0] for b in fast) == 100  # 1 kHz for 0.1 s
    assert [b.t0_us for b in fast] == list(range(0, 100_000, 10_000))
    assert len(slow) == 3 and slow[-1].t0_us == 100_000  # 20 Hz, t = 0, 0.05, 0.1
    rig.deliver(Command(CommandCode.ENABLE, FAR, (1.0, 0, 0, 0)), seq=7)
    results = [m for m in rig.advance(0.01) if isinstance(m, CommandResult)]
    assert [(r.command_seq, r.status) for r in results] == [
        (7, ResultStatus.ACCEPTED), (7, ResultStatus.DONE)]
    for _ in range(100):  # set-points every 10 ms, as a controller sends them
        rig.deliver(Setpoints(FAR, 4.0, -0.3))
        rig.advance(0.01)
    assert rig.time == pytest.approx(1.11)
    assert rig.plant.state.omega == pytest.approx(4.0, abs=0.1)
    assert rig.firmware.motors_enabled
    rig.advance(0.5)  # silent controller: the firmware watchdog stops the drum
    assert rig.firmware.watchdog_tripped


def _dig_and_dump(rig: LockstepRig, seconds: float = 10.0) -> list:
    seq = iter(range(1, 100))
    rig.deliver(Command(CommandCode.ENABLE, FAR, (1.0, 0, 0, 0)), next(seq))
    for _ in range(round(seconds / 0.01)):
        rig.deliver(Setpoints(FAR, 6.0, 0.04))
        rig.advance(0.01)
    rig.deliver(Command(CommandCode.STOW, FAR), next(seq))
    msgs = []
    while rig.firmware.action is not None:
        rig.deliver(Setpoints(FAR, 0.0, -0.3))
        msgs += rig.advance(0.05)
    rig.deliver(Command(CommandCode.DUMP, FAR), next(seq))
    for _ in range(300):
        rig.deliver(Setpoints(FAR, 0.0, -0.3))
        msgs += rig.advance(0.05)
    return msgs


def test_truth_books_each_dump_as_the_mass_that_reached_the_hopper() -> None:
    rig = LockstepRig(seed=5, soil=SoilConfig(rocks_per_m3=0))
    msgs = _dig_and_dump(rig)
    s = rig.plant.state
    assert len(rig.truth.dumps) == 1
    d = rig.truth.dumps[0]
    assert d.dumped_kg == pytest.approx(s.dumped) and d.dumped_kg > 5.0
    assert d.bucket_after_kg == pytest.approx(0.0)  # the spin-down tipped out the rest
    assert d.bucket_before_kg == pytest.approx(d.dumped_kg)
    done = [m for m in msgs if getattr(m, "code", None) == EventCode.DUMP_DONE]
    assert done and d.started < done[0].time_us / 1e6 <= d.ended
    totals = rig.truth.totals(rig.time, rig.plant)
    assert totals["excavated_kg"] == pytest.approx(s.dumped + s.spilled + s.bucket_mass)
    assert totals["first_enabled"] == pytest.approx(0.001)
    assert totals["last_dump_end"] == d.ended
    assert totals["battery_energy_j"] == rig.plant.energy.chemical > 0


async def test_rig_writes_its_truth_log_and_both_readers_agree(tmp_path) -> None:
    path = tmp_path / "truth.jsonl"
    rig = Rig(RigConfig(truth_log=str(path)))
    await rig.start()
    rig.plant.state.bucket_mass = 3.0  # as if dug
    await rig.stop()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["totals"]
    totals = json.loads(lines[0])
    assert totals["first_enabled"] is None and totals["bucket_kg"] == 3.0
    dumps, sim_totals = read_truth_log(lines)
    assert dumps == [] and math.isnan(sim_totals["first_enabled"])
    truth = control_reads(path)
    assert truth is not None and truth.dumps_kg == () and truth.totals["bucket_kg"] == 3.0


def test_truth_log_round_trip_with_dumps(tmp_path) -> None:
    rig = LockstepRig(seed=6, soil=SoilConfig(rocks_per_m3=0))
    with open(tmp_path / "t.jsonl", "w", encoding="utf-8") as fh:
        rig.truth.log_file = fh
        _dig_and_dump(rig, 9.0)
        rig.truth.close(rig.time, rig.plant)
    lines = [*(tmp_path / "t.jsonl").read_text().splitlines(), "not json", "[1]"]
    dumps, totals = read_truth_log(lines)
    assert len(dumps) == 1 and dumps[0].dumped_kg > 1.0
    assert dumps[0].dumped_kg == pytest.approx(rig.truth.dumps[0].dumped_kg, abs=1e-5)
    assert totals["dumped_kg"] == pytest.approx(rig.plant.state.dumped, abs=1e-5)
    seen = control_reads(tmp_path / "t.jsonl")
    assert seen is not None
    assert np.allclose(seen.dumps_kg, [d.dumped_kg for d in dumps])
