"""The simulator's sensor profiles: "noisy" (the default) and "realistic" (quantisation
only), and the noise floors each announces in its channel table (protocol 1.2)."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.messages import SampleBatch
from sim_hw.channels import CHANNEL_IDS, channel_table
from sim_hw.cli import build_parser, config_from_args
from sim_hw.errors import SimUsageError
from sim_hw.lockstep import LockstepRig
from sim_hw.rig import Rig, RigConfig

ARM = CHANNEL_IDS["arm_position"]


def fast_counts(rig: LockstepRig, seconds: float) -> np.ndarray:
    rows = [m.counts for m in rig.advance(seconds)
            if isinstance(m, SampleBatch) and m.stream_id == 0]
    return np.concatenate(rows)


def test_realistic_sensors_read_bit_identical_counts_while_nothing_moves() -> None:
    rig = LockstepRig(seed=3, sample_rate_hz=200, plant_rate_hz=200, sensors="realistic")
    rig.advance(1.0)  # settle
    counts = np.delete(fast_counts(rig, 2.0), CHANNEL_IDS["motor_temp"], axis=1)  # it cools
    still = counts == counts[0]
    assert still.all(axis=0).all(), f"moving channels: {np.flatnonzero(~still.all(axis=0))}"


def test_the_realistic_encoder_changes_only_when_the_arm_moves() -> None:
    rig = LockstepRig(seed=3, sample_rate_hz=200, plant_rate_hz=200, sensors="realistic")
    rig.advance(0.5)
    before = fast_counts(rig, 0.5)[:, ARM]
    rig.plant.state.arm_pos -= 0.01  # the arm moved 1 cm (and stopped)
    after = fast_counts(rig, 0.5)[1:, ARM]  # (the first sample interpolates the jump)
    assert len(set(before.tolist())) == 1 and len(set(after.tolist())) == 1
    assert after[0] - before[0] == pytest.approx(-0.01 / 1.25e-5, abs=1)


def test_noisy_sensors_never_sit_still() -> None:
    rig = LockstepRig(seed=3, sample_rate_hz=200, plant_rate_hz=200)
    counts = fast_counts(rig, 1.0)
    assert (counts != counts[0]).any(axis=0).all()


def test_channel_tables_announce_the_noise_floors() -> None:
    noisy, realistic = channel_table("noisy"), channel_table("realistic")
    assert all(c.noise_floor_counts > 0 for c in noisy)
    assert noisy[ARM].noise_floor_counts == 16  # sigma 2e-4 m over 1.25e-5 m per count
    assert all(c.noise_floor_counts == 0 for c in realistic)
    assert [c.name for c in noisy] == [c.name for c in realistic]
    assert Rig(RigConfig(sensors="realistic"))._info().channels == realistic
    assert LockstepRig(sensors="realistic").info.channels == realistic
    with pytest.raises(SimUsageError, match="expected one of"):
        channel_table("perfect")


def test_rig_sim_selects_the_profile() -> None:
    parser = build_parser()
    assert config_from_args(parser.parse_args(["--sensors", "realistic"])).sensors == "realistic"
    assert config_from_args(parser.parse_args([])).sensors == "noisy"
    with pytest.raises(SystemExit):
        parser.parse_args(["--sensors", "perfect"])
