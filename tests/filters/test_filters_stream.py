"""Ema, Decimator, WindowStats and FilterChain."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from tests.filters.conftest import random_splits, run_chunked


def test_ema_step_response_and_chunks(filt, filter_rng) -> None:
    f = filt.Ema(0.1, 100.0, 2)
    y = f.process(np.ones((10, 2)))
    assert f.alpha == pytest.approx(1 - math.exp(-0.1))
    np.testing.assert_allclose(y[-1], 1 - math.exp(-1.0), rtol=1e-12)
    x = filter_rng.standard_normal((120, 3))
    whole = filt.Ema(0.05, 200.0, 3).process(x)
    g = filt.Ema(0.05, 200.0, 3)
    np.testing.assert_array_equal(run_chunked(g.process, x, random_splits(120, filter_rng)), whole)
    ref = signal.lfilter([g.alpha], [1.0, g.alpha - 1.0], x, axis=0)
    np.testing.assert_allclose(whole, ref, rtol=0, atol=1e-12)


def test_ema_reset_seeds_state(filt) -> None:
    f = filt.Ema(1.0, 10.0, 1, initial=5.0)
    assert f.process(np.array([[5.0]]))[0, 0] == 5.0
    f.reset(2.0)
    assert f.process(np.array([[2.0]]))[0, 0] == 2.0


@pytest.mark.parametrize("factor", [1, 3, 10])
def test_decimator_phase_across_chunks(filt, filter_rng, factor) -> None:
    x = filter_rng.standard_normal((700, 2))
    d = filt.Decimator(factor, 1000.0, 2)
    got = run_chunked(d.process, x, random_splits(len(x), filter_rng, max_chunk=300))
    ref = signal.sosfilt(d.sos, x, axis=0)[::factor]
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert d.fs_out == 1000.0 / factor


def test_decimator_output_length_and_out_buffer(filt, filter_rng) -> None:
    d = filt.Decimator(10, 1000.0, 2)
    out = np.empty((5, 2))
    for n in (16, 16, 3, 0, 25):
        x = filter_rng.standard_normal((n, 2))
        rows = d.output_length(n)
        y = d.process(x, out=out)
        assert y.shape == (rows, 2)
        assert rows == 0 or np.shares_memory(y, out)


def test_window_stats(filt, filter_rng) -> None:
    x = filter_rng.standard_normal((103, 3)) + 2.0
    s = filt.WindowStats(10, 3)
    got = run_chunked(s.process, x, random_splits(len(x), filter_rng))
    assert got.shape == (10, 5, 3)
    w = x[:100].reshape(10, 10, 3)
    np.testing.assert_allclose(got[:, 0], w.mean(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(got[:, 1], w.min(axis=1))
    np.testing.assert_array_equal(got[:, 2], w.max(axis=1))
    np.testing.assert_allclose(got[:, 3], np.sqrt((w**2).mean(axis=1)), rtol=1e-12)
    np.testing.assert_array_equal(got[:, 4], w.max(axis=1) - w.min(axis=1))
    assert s.count[0] == 3 and filt.STATS[3] == "rms"


def test_window_stats_float32_out_and_nan(filt) -> None:
    s = filt.WindowStats(4, 1, np.float32)
    out = np.empty((2, 5, 1), np.float32)
    x = np.array([[1], [np.nan], [3], [5], [7]], np.float32)
    y = s.process(x, out=out)
    assert y.shape == (1, 5, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y[0, :, 0], [2.5, 1, 5, math.sqrt(9.0), 4], rtol=1e-6)
    assert s.nan_count[0] == 1


CONFIG = {
    "stages": [
        {"type": "hampel", "window": 7, "threshold": 3.0},
        {"type": "lowpass", "order": 4, "cutoff_hz": 50},
        {"type": "decimate", "factor": 10},
    ]
}


def test_chain_from_config_equals_stages(filt, filter_rng) -> None:
    x = filter_rng.standard_normal((900, 3))
    chain = filt.FilterChain.from_config(CONFIG, 1000.0, 3)
    assert chain.fs_out == 100.0
    got = run_chunked(chain.process, x, random_splits(len(x), filter_rng, max_chunk=120))
    h = filt.Hampel(7, 3, 3.0).process(x)
    lp = filt.SosFilter(filt.butter(4, 50, 1000.0), 3).process(h)
    ref = filt.Decimator(10, 1000.0, 3).process(lp)
    np.testing.assert_array_equal(got, ref)
    assert chain.output_length(95) == len(range(0, 95, 10))


def test_chain_stage_rates_follow_decimation(filt) -> None:
    spec = {
        "stages": [
            {"type": "decimate", "factor": 5},
            {"type": "ema", "tau_s": 0.5},
            {"type": "bandpass", "order": 2, "low_hz": 1, "high_hz": 20},
            {"type": "median", "window": 3},
            {"type": "highpass", "order": 1, "cutoff_hz": 0.1},
        ]
    }
    chain = filt.FilterChain.from_config(spec, 500.0, 2, np.float32)
    assert chain.fs_out == 100.0
    assert chain.stages[1].alpha == pytest.approx(1 - math.exp(-1 / 50))
    y = chain.process(np.ones((50, 2), np.float32))
    assert y.shape == (10, 2) and y.dtype == np.float32
    with pytest.raises(ValueError, match=r"stages\[1\] \(bandpass\): .*fs/2 = 50"):
        filt.FilterChain.from_config(
            {
                "stages": [
                    spec["stages"][0],
                    {"type": "bandpass", "order": 2, "low_hz": 1, "high_hz": 60},
                ]
            },
            500.0,
            2,
        )


def test_chain_counts_input_nans(filt) -> None:
    chain = filt.FilterChain.from_config(CONFIG, 1000.0, 2)
    x = np.zeros((30, 2))
    x[3, 1] = np.nan
    assert np.isfinite(chain.process(x)).all()
    np.testing.assert_array_equal(chain.nan_count, [0, 1])
