"""Running median and Hampel filter, against scipy's medfilt and a direct definition."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

from telemetry.rover.filters import MAD_SCALE
from tests.filters.conftest import random_splits, run_chunked


def medfilt_streaming(x: np.ndarray, w: int) -> np.ndarray:
    """What a trailing-window median gives: scipy's centred medfilt, delayed by w//2."""
    h = w // 2
    padded = np.concatenate([np.zeros((h, x.shape[1]), x.dtype), x])
    cols = [signal.medfilt(padded[:, c], w)[: len(x)] for c in range(x.shape[1])]
    return np.stack(cols, axis=1)


def hampel_definition(x: np.ndarray, w: int, threshold: float) -> np.ndarray:
    """Hampel filter written from its definition (trailing window, zero history)."""
    h = w // 2
    full = np.concatenate([np.zeros((w - 1, x.shape[1]), x.dtype), x])
    win = sliding_window_view(full, w, axis=0)  # (n, channels, w)
    med = np.median(win, axis=-1)
    mad = np.median(np.abs(win - med[..., None]), axis=-1)
    centre = win[..., h]
    scale = x.dtype.type(threshold * MAD_SCALE)
    return np.where(np.abs(centre - med) > scale * mad, med, centre)


@pytest.mark.parametrize("window", [1, 3, 5, 7, 31])
def test_running_median_matches_scipy_medfilt(filt, filter_rng, window) -> None:
    x = filter_rng.standard_normal((150, 3))
    x[::7, 1] = 0.5  # ties
    f = filt.RunningMedian(window, 3)
    got = run_chunked(f.process, x, random_splits(len(x), filter_rng))
    np.testing.assert_allclose(got, medfilt_streaming(x, window), rtol=0, atol=1e-12)
    assert f.delay == window // 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("window", "threshold"), [(3, 3.0), (5, 3.0), (7, 2.0), (31, 3.0)])
def test_hampel_matches_definition(filt, filter_rng, dtype, window, threshold) -> None:
    x = filter_rng.standard_normal((160, 4)).astype(dtype)
    x[filter_rng.random(x.shape) < 0.05] += 25.0  # spikes
    x[40:60, 2] = 1.0  # flat run: MAD 0
    f = filt.Hampel(window, 4, threshold, dtype)
    got = run_chunked(f.process, x, random_splits(len(x), filter_rng))
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, hampel_definition(x, window, threshold))


def test_hampel_removes_spikes(filt) -> None:
    x = np.sin(np.linspace(0, 6, 200))[:, None].copy()
    x[[50, 120], 0] = 40.0
    got = filt.Hampel(7, 1).process(x)
    delayed = np.concatenate([np.zeros(3), x[:-3, 0]])
    assert np.abs(got[:, 0]).max() < 1.5
    np.testing.assert_array_equal(
        np.abs(got[:, 0] - delayed) > 1e-9, np.isin(np.arange(200), [53, 123])
    )


def test_median_state_is_portable_between_chunks(filt, filter_rng) -> None:
    x = filter_rng.standard_normal((60, 2))
    st = filt.median_state(5, 2)
    a = filt.hampel(x[:25], st, 2.5)
    b = filt.hampel(x[25:], st, 2.5)
    whole = filt.Hampel(5, 2, 2.5).process(x)
    np.testing.assert_array_equal(np.concatenate([a, b]), whole)
    np.testing.assert_array_equal(st.srt, np.sort(x[-5:].T, axis=1))


def test_median_nan_rule(filt) -> None:
    x = np.array([[1.0], [2.0], [np.nan], [4.0], [np.inf], [6.0]])
    f = filt.RunningMedian(3, 1)
    got = f.process(x)
    ref = filt.RunningMedian(3, 1).process(np.array([[1.0], [2.0], [2.0], [4.0], [4.0], [6.0]]))
    np.testing.assert_array_equal(got, ref)
    assert f.nan_count[0] == 2
