"""Biquad cascades and Butterworth designs, against scipy (test-only dependency)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from tests.filters.conftest import random_splits, run_chunked


@pytest.mark.parametrize(
    ("order", "cutoff", "btype"),
    [
        (1, 10.0, "lowpass"),
        (4, 50.0, "lowpass"),
        (5, 120.0, "lowpass"),
        (8, 40.0, "lowpass"),
        (2, 5.0, "highpass"),
        (3, 120.0, "highpass"),
        (2, (20.0, 80.0), "bandpass"),
        (3, (20.0, 80.0), "bandpass"),
        (6, (1.0, 300.0), "bandpass"),
    ],
)
def test_butter_matches_scipy(filt, order, cutoff, btype) -> None:
    mine = filt.butter(order, cutoff, 1000.0, btype)
    ref = signal.butter(order, cutoff, btype, fs=1000.0, output="sos")
    assert mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-14)


def test_sosfilt_matches_scipy_with_carried_zi(filt, filter_rng) -> None:
    sos = signal.butter(4, 50.0, fs=1000.0, output="sos")
    x = filter_rng.standard_normal((300, 5))
    zi = filter_rng.standard_normal((2, 2, 5))
    zi_ref = zi.copy()
    bounds = random_splits(len(x), filter_rng)
    got = run_chunked(lambda c: filt.sosfilt(sos, c, zi), x, bounds)
    parts, start = [], 0
    for end in bounds:
        if end > start:  # scipy rejects empty chunks
            y, zi_ref = signal.sosfilt(sos, x[start:end], axis=0, zi=zi_ref)
            parts.append(y)
        start = end
    np.testing.assert_allclose(got, np.concatenate(parts), rtol=0, atol=1e-12)
    np.testing.assert_allclose(zi, zi_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n_channels", [1, 3, 4, 8, 13])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sos_filter_chunk_invariance(filt, filter_rng, n_channels, dtype) -> None:
    sos = filt.butter(5, 30.0, 1000.0)
    x = filter_rng.standard_normal((280, n_channels)).astype(dtype)
    whole = filt.SosFilter(sos, n_channels, dtype).process(x)
    f = filt.SosFilter(sos, n_channels, dtype)
    chunked = run_chunked(f.process, x, random_splits(len(x), filter_rng))
    np.testing.assert_array_equal(chunked, whole)
    assert whole.dtype == dtype
    ref = signal.sosfilt(sos.astype(dtype), x, axis=0)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(whole, ref, rtol=0, atol=tol)


def test_sos_filter_large_chunk_crosses_internal_blocks(filt, filter_rng) -> None:
    sos = filt.butter(4, 80.0, 1000.0, "highpass")
    x = filter_rng.standard_normal((1100, 9))
    got = filt.SosFilter(sos, 9).process(x)
    np.testing.assert_allclose(got, signal.sosfilt(sos, x, axis=0), rtol=0, atol=1e-12)


def test_out_buffer_is_filled_and_returned(filt, filter_rng) -> None:
    f = filt.SosFilter(filt.butter(2, 10.0, 100.0), 2)
    x = filter_rng.standard_normal((16, 2))
    out = np.empty_like(x)
    assert f.process(x, out=out) is out
    g = filt.SosFilter(filt.butter(2, 10.0, 100.0), 2)
    np.testing.assert_array_equal(out, g.process(x))


def test_nan_rule_holds_last_good_value_and_counts(filt) -> None:
    sos = filt.butter(2, 10.0, 100.0)
    x = np.arange(1.0, 41.0).reshape(20, 2)
    x[5, 0] = np.nan
    x[6, 0] = np.inf
    x[7, 1] = -np.inf
    clean = x.copy()
    clean[5, 0] = clean[6, 0] = x[4, 0]
    clean[7, 1] = x[6, 1]
    f = filt.SosFilter(sos, 2)
    got = f.process(x)
    assert np.isfinite(got).all() and np.isfinite(f.zi).all()
    np.testing.assert_array_equal(f.nan_count, [2, 1])
    np.testing.assert_array_equal(f.hold, x[-1])
    np.testing.assert_array_equal(got, filt.SosFilter(sos, 2).process(clean))


def test_nan_before_any_good_value_uses_initial_hold(filt) -> None:
    sos = filt.butter(2, 10.0, 100.0)
    x = np.array([[np.nan], [np.nan], [2.0]])
    f = filt.SosFilter(sos, 1, hold=1.5)
    got = f.process(x)
    ref = filt.SosFilter(sos, 1).process(np.array([[1.5], [1.5], [2.0]]))
    np.testing.assert_array_equal(got, ref)
    assert f.nan_count[0] == 2


def test_nan_rule_is_chunk_invariant(filt, filter_rng) -> None:
    sos = filt.butter(3, 20.0, 1000.0)
    x = filter_rng.standard_normal((200, 3))
    x[filter_rng.random(x.shape) < 0.1] = np.nan
    x[:4, 1] = np.nan
    whole = filt.SosFilter(sos, 3)
    y_whole = whole.process(x)
    f = filt.SosFilter(sos, 3)
    y = run_chunked(f.process, x, random_splits(len(x), filter_rng))
    np.testing.assert_array_equal(y, y_whole)
    np.testing.assert_array_equal(f.nan_count, np.isnan(x).sum(axis=0))
    np.testing.assert_array_equal(f.nan_count, whole.nan_count)


def test_reset_restores_initial_state(filt, filter_rng) -> None:
    f = filt.SosFilter(filt.butter(2, 10.0, 100.0), 2)
    x = filter_rng.standard_normal((30, 2))
    first = f.process(x)
    f.process(np.full((3, 2), np.nan))
    f.reset()
    np.testing.assert_array_equal(f.process(x), first)
    assert not f.nan_count.any()


def test_functional_sosfilt_uses_caller_hold(filt) -> None:
    sos = filt.butter(1, 10.0, 100.0)
    zi = np.zeros((1, 2, 1))
    hold = np.array([3.0])
    count = np.zeros(1, np.int64)
    filt.sosfilt(sos, np.array([[np.nan]]), zi, hold=hold, nan_count=count)
    assert count[0] == 1 and hold[0] == 3.0
    ref_zi = np.zeros((1, 2, 1))
    filt.sosfilt(sos, np.array([[3.0]]), ref_zi)
    np.testing.assert_array_equal(zi, ref_zi)
