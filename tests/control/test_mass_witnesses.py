"""The mass estimator's lift-work witness, the fused booking and the calibration."""

from __future__ import annotations

import math

import pytest

from control.core.config import MassConfig
from control.core.mass_estimator import MassEstimator

from .helpers import meas

C = MassConfig()
DT = 0.02


def arm_current(kg: float, speed_fraction: float = 1.0) -> float:
    """The arm actuator's current lifting *kg* of regolith (the rig's constants)."""
    force = (C.arm_assembly_kg + kg) * C.gravity_m_s2
    return C.arm_idle_current_a + force / C.arm_newton_per_amp * speed_fraction


def dig(est: MassEstimator, seconds: float, t: float, current: float = 12.0) -> float:
    """Cut for *seconds*; a healthy load cell follows the cutting model."""
    for _ in range(round(seconds / DT)):
        t += DT
        est.update(t, DT, meas(drum_current=current, drum_speed=6.0,
                               bucket_load=est.last.model_kg, cut_depth=0.04,
                               arm_position=-0.04), True)
    return t


def stow(est: MassEstimator, kg: float, t: float, cell: float | None = None,
         rate: float = C.arm_rate_m_s, height: float = 0.0) -> tuple[float, float]:
    """Lift the drum from *height* at *rate* m/s to the stow height (0.3 m)."""
    while height < 0.3:
        t += DT
        height += rate * DT
        full = rate >= C.arm_rate_m_s
        est.update(t, DT, meas(arm_position=height, cut_depth=-height, drum_speed=0.0,
                               arm_current=arm_current(kg, 1.0 if full else 0.5),
                               bucket_load=kg if cell is None else cell), False)
    return t, height


@pytest.mark.parametrize("kg", [0.0, 12.5, 29.0])
def test_lift_work_weighs_the_bucket_while_the_arm_rises_at_full_rate(kg: float) -> None:
    est = MassEstimator(C)
    stow(est, kg, 0.0)
    assert est.lift_kg == pytest.approx(kg, abs=1e-6)
    assert est.last.model_kg == pytest.approx(kg, abs=1e-6)


def test_no_lift_reading_from_a_slow_arm_or_a_drum_in_the_soil() -> None:
    est = MassEstimator(C)
    stow(est, 20.0, 0.0, rate=0.5 * C.arm_rate_m_s)
    assert math.isnan(est.lift_kg)
    est2 = MassEstimator(C)
    t = 0.0
    for i in range(100):  # rising at full rate but still cutting its way out
        t += DT
        z = -0.05 + i * C.arm_rate_m_s * DT
        est2.update(t, DT, meas(arm_position=z, cut_depth=-z + 0.01, drum_speed=6.0,
                                arm_current=arm_current(20.0)), False)
    assert math.isnan(est2.lift_kg)


def test_dump_books_the_fused_value_and_keeps_every_witness() -> None:
    est = MassEstimator(C)
    t = dig(est, 8.0, 0.0)
    t, _ = stow(est, 25.0, t, cell=25.3)
    est.dump_started()
    # dumped; the drum has stopped and the cell reads what is left behind
    est.update(t + 5.0, DT, meas(bucket_load=0.05, drum_speed=0.0, arm_position=0.3,
                                 cut_depth=-0.3), False)
    booked = est.emptied()
    d = est.dumps[-1]
    w_cell, w_lift = 1 / C.cell_sigma_kg**2, 1 / C.lift_sigma_kg**2
    assert booked == pytest.approx((w_cell * 25.25 + w_lift * 24.95) / (w_cell + w_lift))
    assert (d.cell_kg, d.energy_kg, d.lift_kg) == pytest.approx((25.25, 24.95, 24.95))
    assert d.fused_kg == booked and est.calibrations == 1
    assert est.last.estimate_kg == 0.0 and math.isnan(est.lift_kg)  # a new load begins


def test_first_lift_calibrates_the_cutting_model() -> None:
    est = MassEstimator(C)
    t = dig(est, 8.0, 0.0)
    raw = est.last.model_kg  # gain 1: the configured specific energy
    t, _ = stow(est, 0.5 * raw, t, cell=0.5 * raw)
    est.dump_started()
    est.emptied()
    assert est.gain == pytest.approx(0.5, rel=1e-6)
    dig(est, 8.0, t)
    assert est.last.model_kg == pytest.approx(0.5 * raw, rel=1e-6)


def test_cell_that_disagrees_with_the_lift_is_distrusted_and_the_energy_model_booked() -> None:
    est = MassEstimator(C)
    t = dig(est, 8.0, 0.0)
    t, _ = stow(est, 25.0, t, cell=12.0)  # the cell reads half
    assert not est.load_cell_ok and "lift work" in est.fault_reason
    est.dump_started()
    assert est.emptied() == pytest.approx(25.0)
    assert math.isnan(est.dumps[-1].cell_kg)


def test_cell_falling_during_the_dump_is_no_disagreement() -> None:
    est = MassEstimator(C)
    t = dig(est, 8.0, 0.0)
    t, _ = stow(est, 25.0, t)
    est.dump_started()
    for kg in (20.0, 10.0, 0.1):  # the bucket empties; the lift figure is still 25 kg
        t += 1.0
        est.update(t, DT, meas(bucket_load=kg, drum_speed=-3.0, arm_position=0.3,
                               cut_depth=-0.3), False)
    assert est.load_cell_ok
    assert est.emptied() == pytest.approx(25.0, abs=0.1)


def test_uncalibrated_model_must_be_off_by_a_factor_to_distrust_the_cell() -> None:
    est = MassEstimator(C)
    # the cutting model reads about twice the cell (a harder soil than the guess): kept
    t = 0.0
    for _ in range(round(10.0 / DT)):
        t += DT
        est.update(t, DT, meas(drum_current=12.0, drum_speed=6.0,
                               bucket_load=0.5 * est.last.model_kg, cut_depth=0.04), True)
    assert est.load_cell_ok


def test_lift_and_cutting_are_measured_on_the_sample_clock_when_the_loop_clock_runs_ahead(
        ) -> None:
    """The loop's plant clock is wall time x time_scale. A simulator that falls behind
    that scale (under qemu emulation, `make arm64-check`, it fell far behind) moves the arm at
    its rate per *sample* second; judged on the loop clock the arm looked too slow to
    count as a full-rate lift, no lift was weighed and the energy model fell back to an
    uncalibrated cutting integral (43 % off on average). The samples' own timestamps
    are the plant's clock."""
    slip = 0.6  # sample seconds per loop-clock plant second
    ahead, true = MassEstimator(C), MassEstimator(C)
    t_loop, t_sample = 0.0, 1000.0
    for _ in range(round(20.0 / DT)):  # cutting: the same samples, two loop clocks
        t_loop += DT / slip
        t_sample += DT
        m = meas(drum_current=12.0, drum_speed=6.0, bucket_load=5.0, cut_depth=0.04,
                 arm_position=-0.04, sample_time=t_sample)
        ahead.update(t_loop, DT / slip, m, True)
        true.update(t_sample, DT, m, True)
    assert ahead.last.model_kg == pytest.approx(true.last.model_kg, rel=1e-9)
    assert ahead.energy_j == pytest.approx(true.energy_j, rel=1e-9)
    height = 0.0
    while height < 0.3:  # the stow, on the loop clock that runs ahead
        t_loop += DT / slip
        t_sample += DT
        height += C.arm_rate_m_s * DT
        ahead.update(t_loop, DT / slip, meas(arm_position=height, cut_depth=-height,
                                             drum_speed=0.0, arm_current=arm_current(20.0),
                                             bucket_load=20.0, sample_time=t_sample), False)
    assert ahead.lift_kg == pytest.approx(20.0, abs=1e-6)


def test_ticks_without_a_new_sample_add_nothing_and_a_new_session_restarts_the_clock(
        ) -> None:
    """Several loop ticks may see the same newest sample (the loop runs faster than the
    batches arrive): it is weighed once. A firmware restart sets the sample clock back."""
    once, repeated = MassEstimator(C), MassEstimator(C)
    t, ts, height = 0.0, 50.0, 0.0
    while height < 0.3:
        ts += 4 * DT
        height += C.arm_rate_m_s * 4 * DT
        m = meas(arm_position=height, cut_depth=-height, drum_speed=0.0,
                 arm_current=arm_current(12.0), bucket_load=12.0, sample_time=ts)
        once.update(t + 4 * DT, 4 * DT, m, False)
        for _ in range(4):  # four ticks, one batch
            t += DT
            repeated.update(t, DT, m, False)
    assert once.lift_kg == pytest.approx(12.0, abs=1e-6)
    assert repeated.lift_kg == pytest.approx(12.0, abs=1e-6)
    assert repeated.energy_j == pytest.approx(once.energy_j, rel=1e-9)  # 48 V x 2 A, once
    energy = repeated.energy_j
    repeated.update(t + DT, DT, meas(sample_time=0.001), False)  # the firmware restarted
    assert repeated.energy_j == energy
