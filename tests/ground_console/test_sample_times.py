"""Plot times in UTC: firmware sample seconds mapped through the rover's clock and offset."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.ground.sample_times import JITTER_S, MIN_BASELINE_S, SampleTimes

WALL0 = 1_796_000_000.0  # 2026-11-30: the rover's wall clock at its first batch


def stream(times: SampleTimes, *, scale: float, offset: float, batches: int,
           jitter: list[float], rows: int = 50, period: float = 0.01,
           fw0: float = 3.0, boot: int = 1, mono0: float = 40.0):
    """Feed *batches* batches of a firmware clock running *scale* times the wall clock;
    yields (rows' UTC times, the UTC the last row was sampled at)."""
    span_fw = rows * period
    for k in range(batches):
        t0_fw = fw0 + k * span_fw
        wall_end = WALL0 + (k + 1) * span_fw / scale  # when its last row was sampled
        delay = jitter[k % len(jitter)]
        t0, step = times.place(boot=boot, t0_fw=t0_fw, period_s=period, rows=rows,
                               t_rig=wall_end + delay, t_mono=mono0 + (wall_end - WALL0) + delay,
                               offset_s=offset)
        yield [t0 + i * step for i in range(rows)], wall_end + offset


@settings(max_examples=60, deadline=None)
@given(scale=st.sampled_from([1.0, 1.002, 5.0, 10.0, 0.5]),
       offset=st.floats(-3600.0, 3600.0),
       jitter=st.lists(st.floats(0.0, 0.05), min_size=1, max_size=7))
def test_rows_plot_in_ground_utc_on_one_line_at_any_time_scale(scale: float, offset: float,
                                                              jitter: list[float]) -> None:
    times = SampleTimes()
    previous_end = -math.inf
    span_wall = 0.5 / scale
    batches = int(3 * MIN_BASELINE_S / span_wall) + 5
    for k, (rows, sampled_at) in enumerate(stream(times, scale=scale, offset=offset,
                                                   batches=batches, jitter=jitter)):
        # one line: never back in time (a late batch continues its predecessor); a
        # simulator's faster clock only once its rate is measured (the first seconds)
        if abs(scale - 1) < 0.01 or k * span_wall > 1.5 * MIN_BASELINE_S:
            assert rows[0] >= previous_end - 1e-6
        previous_end = rows[-1]
        if k * span_wall > 1.5 * MIN_BASELINE_S:  # the firmware clock's rate is known
            assert times.rate == pytest.approx(1.0 if abs(scale - 1) < 0.01 else scale, rel=0.05)
            # the last row is at the ground's time of its sampling, within the queueing
            # delay or the continuation of a line that ran ahead (JITTER_S at most)
            assert rows[-1] + 0.01 / times.rate == pytest.approx(sampled_at,
                                                                 abs=JITTER_S + 0.06)


def test_a_firmware_reset_or_a_new_boot_starts_the_timeline_over() -> None:
    times = SampleTimes()
    for _ in stream(times, scale=10.0, offset=0.0, batches=60, jitter=[0.0]):
        pass
    assert times.rate == pytest.approx(10.0)
    # the firmware restarted: its clock is back at 0, the rover's wall clock went on
    t0, step = times.place(boot=1, t0_fw=0.0, period_s=0.01, rows=50, t_rig=WALL0 + 100.0,
                           t_mono=140.0, offset_s=2.5)
    assert t0 + 50 * step == pytest.approx(WALL0 + 102.5)
    # a reboot of the rover (its monotonic clock restarted): a new timeline, measured
    # again from its own origin; until then the rate last measured holds
    t0, step = times.place(boot=2, t0_fw=500.0, period_s=0.01, rows=50, t_rig=WALL0 + 200.0,
                           t_mono=1.0, offset_s=None)
    assert step == pytest.approx(0.001) and t0 == pytest.approx(WALL0 + 199.95)
    for k in range(1, 40):  # now a firmware at the wall clock's rate
        t0, step = times.place(boot=2, t0_fw=500.0 + 0.5 * k, period_s=0.01, rows=50,
                               t_rig=WALL0 + 200.0 + 0.5 * k, t_mono=1.0 + 0.5 * k,
                               offset_s=None)
    assert times.rate == 1.0 and step == 0.01 and t0 + 0.5 == pytest.approx(WALL0 + 219.5)
