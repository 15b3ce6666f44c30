"""The adaptive batch length, with plain numbers for time and counters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.link_config import LinkStats
from sim_hw.batch_sizer import BatchSizer, BatchSizingConfig, batch_for_error_rate
from sim_hw.errors import SimError

CFG = BatchSizingConfig()
BPS = 24  # 12 channels x 2 bytes


def test_clean_line_keeps_the_nominal_batch():
    assert batch_for_error_rate(0.0, 5, BPS, CFG) == 5
    assert batch_for_error_rate(1e-6, 20, BPS, CFG) == 20


def test_noisy_line_asks_for_short_batches():
    # at 0.5 % a 5-sample frame (159 bytes) arrives 45 % of the time: go to one sample
    assert batch_for_error_rate(0.005, 5, BPS, CFG) == 1
    # at 0.1 % a 20-sample batch (519 bytes) arrives 60 %: a few samples instead
    n = batch_for_error_rate(0.001, 20, BPS, CFG)
    assert 2 <= n <= 6
    assert (1 - 0.001) ** (CFG.overhead_bytes + n * BPS) >= CFG.target_delivery
    assert (1 - 0.001) ** (CFG.overhead_bytes + (n + 1) * BPS) < CFG.target_delivery


@given(p=st.floats(0.0, 1.0), nominal=st.integers(1, 400), bps=st.integers(1, 64))
def test_batch_is_within_bounds_and_shrinks_as_noise_grows(p, nominal, bps):
    n = batch_for_error_rate(p, nominal, bps, CFG)
    assert 1 <= n <= nominal
    assert batch_for_error_rate(min(1.0, p * 2 + 1e-4), nominal, bps, CFG) <= n


def test_bad_arguments_are_named():
    with pytest.raises(SimError, match="nominal"):
        batch_for_error_rate(0.0, 0, BPS, CFG)
    with pytest.raises(SimError, match="target_delivery"):
        BatchSizingConfig(target_delivery=1.0)
    with pytest.raises(SimError, match="window_s"):
        BatchSizingConfig(window_s=0)


def _feed(sizer: BatchSizer, *, windows: int, good: int, bad: int, frame_len: int,
          t0: float = 0.0, start: tuple[int, int, int] = (0, 0, 0)) -> tuple[int, int, int]:
    g, b, n = start
    t = t0
    sizer.observe(t, g, b, n)
    for _ in range(windows):
        t += CFG.window_s
        g, b, n = g + good, b + bad, n + (good + bad) * frame_len
        sizer.observe(t, g, b, n)
    return g, b, n


def test_sizer_estimates_the_byte_error_rate_from_frame_losses():
    sizer = BatchSizer(5, BPS)
    # 40-byte frames at p = 0.5 %: 1 - 0.995**40 = 18 % of them fail
    _feed(sizer, windows=8, good=82, bad=18, frame_len=40)
    assert sizer.byte_error_rate == pytest.approx(0.005, rel=0.1)
    assert sizer.batch_samples() == 1


def test_sizer_grows_back_when_the_line_clears():
    sizer = BatchSizer(5, BPS)
    state = _feed(sizer, windows=6, good=80, bad=20, frame_len=40)
    assert sizer.batch_samples() == 1
    _feed(sizer, windows=12, good=100, bad=0, frame_len=40, t0=10.0, start=state)
    assert sizer.batch_samples() == 5


def test_sparse_windows_and_counter_resets_keep_the_estimate():
    sizer = BatchSizer(5, BPS)
    state = _feed(sizer, windows=6, good=80, bad=20, frame_len=40)
    p = sizer.byte_error_rate
    # too few frames in a window says nothing about the line
    _feed(sizer, windows=3, good=2, bad=0, frame_len=40, t0=10.0, start=state)
    assert sizer.byte_error_rate == p
    # a new link (firmware reset): counters start again from zero, a new baseline
    sizer.observe(20.0, 0, 0, 0)
    assert sizer.byte_error_rate == p
    assert sizer.batch_samples() == 1


def test_observe_link_reads_the_link_counters():
    sizer = BatchSizer(5, BPS)
    sizer.observe_link(0.0, LinkStats())
    sizer.observe_link(CFG.window_s, LinkStats(frames_rx=50, crc_errors=30, framing_errors=20,
                                               bytes_rx=100 * 40))
    assert sizer.byte_error_rate > 0.005
    assert sizer.batch_samples() == 1


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500), st.integers(0, 60)),
                max_size=30))
def test_sizer_never_leaves_its_bounds(windows):
    sizer = BatchSizer(8, BPS)
    g = b = n = 0
    for i, (good, bad, flen) in enumerate(windows):
        g, b, n = g + good, b + bad, n + (good + bad) * flen
        sizer.observe(i * CFG.window_s, g, b, n)
        assert 1 <= sizer.batch_samples() <= 8
        assert 0.0 <= sizer.byte_error_rate <= 1.0


def test_wall_batch_rate_budget_sets_the_shortest_batch():
    # 1 kHz at time scale 4 is 4000 samples per wall second: at most 1000 batches of 4
    sizer = BatchSizer(5, BPS, samples_per_s=4000.0)
    _feed(sizer, windows=8, good=60, bad=40, frame_len=40)
    assert sizer.byte_error_rate > 0.005
    assert sizer.batch_samples() == 4
    assert BatchSizer(5, BPS, samples_per_s=50_000.0).batch_samples() == 5


def test_a_quiet_host_still_gets_measured_over_a_longer_window():
    # 4 frames per window (a host that only sends heartbeats): windows add up to 10 frames
    sizer = BatchSizer(20, BPS)
    _feed(sizer, windows=20, good=3, bad=1, frame_len=34)
    assert sizer.byte_error_rate > 0.003
    assert sizer.batch_samples() == 1


def test_a_fixed_sizer_ignores_the_line():
    sizer = BatchSizer(5, BPS, adaptive=False)
    sizer.observe_link(0.0, LinkStats())
    sizer.observe_link(1.0, LinkStats(frames_rx=50, crc_errors=50, bytes_rx=4000))
    assert sizer.batch_samples() == 5
