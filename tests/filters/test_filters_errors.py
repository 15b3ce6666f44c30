"""Bad input: every error is raised, with a message naming the problem."""

from __future__ import annotations

import numpy as np
import pytest


def _sos_filter(filt, c=3, dtype=np.float64):
    return filt.SosFilter(filt.butter(2, 10.0, 100.0), c, dtype)


def _all_filters(filt, c=3, dtype=np.float64):
    return [
        _sos_filter(filt, c, dtype),
        filt.Ema(0.1, 100.0, c, dtype),
        filt.RunningMedian(5, c, dtype),
        filt.Hampel(5, c, 3.0, dtype),
        filt.Decimator(4, 100.0, c, dtype),
        filt.WindowStats(4, c, dtype),
        filt.FilterChain.from_config(
            {"stages": [{"type": "median", "window": 3}]}, 100.0, c, dtype
        ),
    ]


@pytest.mark.parametrize(
    ("x", "exc", "pattern"),
    [
        ([[1.0, 2.0, 3.0]], TypeError, r"x: expected a numpy.ndarray .* got list"),
        (np.zeros((4, 3), np.float32), TypeError, r"x: expected dtype float64, got float32"),
        (np.zeros((4, 3), np.int64), TypeError, r"x: expected dtype float64, got int64"),
        (np.zeros((4, 3), ">f8"), TypeError, r"x: expected dtype float64, got >f8"),
        (np.zeros(12), ValueError, r"x: expected a 2-D array .* got 1-D with shape \(12,\)"),
        (np.zeros((2, 2, 3)), ValueError, r"x: expected a 2-D array .* got 3-D"),
        (np.zeros((4, 2)), ValueError, r"x: expected 3 channels, got 2"),
        (np.zeros((3, 4)).T, ValueError, r"x: expected 3 channels, got 4|C-contiguous"),
        (np.zeros((4, 6))[:, ::2], ValueError, r"x: expected a C-contiguous array, got strides"),
    ],
)
def test_bad_x_is_named(filt, x, exc, pattern) -> None:
    for f in _all_filters(filt):
        with pytest.raises(exc, match=pattern):
            f.process(x)


def test_bad_out_is_named(filt) -> None:
    x = np.zeros((4, 3))
    for f in _all_filters(filt)[:4]:
        with pytest.raises(
            ValueError, match=r"out: expected shape \(4, 3\) to match x, got \(5, 3\)"
        ):
            f.process(x, out=np.zeros((5, 3)))
        with pytest.raises(TypeError, match=r"out: expected dtype float64, got float32"):
            f.process(x, out=np.zeros((4, 3), np.float32))
        with pytest.raises(ValueError, match=r"out: must not share memory with x"):
            f.process(x, out=x)
        ro = np.zeros((4, 3))
        ro.flags.writeable = False
        with pytest.raises(ValueError, match=r"out: expected a writeable array"):
            f.process(x, out=ro)
        with pytest.raises(ValueError, match=r"out: expected a C-contiguous array"):
            f.process(x, out=np.zeros((4, 6))[:, ::2])
    d = filt.Decimator(2, 100.0, 3)
    with pytest.raises(ValueError, match=r"out: expected at least 2 rows for this chunk, got"):
        d.process(x, out=np.zeros((1, 3)))
    s = filt.WindowStats(2, 3)
    with pytest.raises(ValueError, match=r"out: expected shape \(windows, 5, 3\), got \(2, 3\)"):
        s.process(x, out=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"out: expected at least 2 windows"):
        s.process(x, out=np.zeros((1, 5, 3)))


@pytest.mark.parametrize(
    ("sos", "exc", "pattern"),
    [
        (
            [[1, 0, 0, 1, 0]],
            ValueError,
            r"sos: expected shape \(n_sections >= 1, 6\), got \(1, 5\)",
        ),
        (np.zeros((0, 6)), ValueError, r"sos: expected shape .* got \(0, 6\)"),
        (
            [[1, 0, np.nan, 1, 0, 0]],
            ValueError,
            r"sos: expected finite coefficients.*sections \[0\]",
        ),
        ([[1, 0, 0, 1, 0, 0], [1, 0, 0, 1, np.inf, 0]], ValueError, r"non-finite .*sections \[1\]"),
        ([[1, 0, 0, 2, 0, 0]], ValueError, r"sos: expected sos\[:, 3\] == 1"),
        ("abc", TypeError, r"sos: expected an array of shape"),
        (np.array([["a"] * 6]), TypeError, r"sos: expected real numbers"),
    ],
)
def test_bad_sos_is_named(filt, sos, exc, pattern) -> None:
    with pytest.raises(exc, match=pattern):
        filt.SosFilter(sos, 2)
    with pytest.raises(exc, match=pattern):
        filt.sosfilt(sos, np.zeros((3, 2)), np.zeros((1, 2, 2)))


def test_bad_functional_state_is_named(filt) -> None:
    sos = filt.butter(2, 10.0, 100.0)
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"zi: expected shape \(1, 2, 2\), got \(2, 2\)"):
        filt.sosfilt(sos, x, np.zeros((2, 2)))
    with pytest.raises(TypeError, match=r"zi: expected dtype float64, got float32"):
        filt.sosfilt(sos, x, np.zeros((1, 2, 2), np.float32))
    with pytest.raises(TypeError, match=r"zi: expected a numpy.ndarray, got list"):
        filt.sosfilt(sos, x, [[0, 0]])
    with pytest.raises(ValueError, match=r"hold: expected shape \(2,\), got \(3,\)"):
        filt.sosfilt(sos, x, np.zeros((1, 2, 2)), hold=np.zeros(3))
    with pytest.raises(TypeError, match=r"nan_count: expected dtype int64, got float64"):
        filt.sosfilt(sos, x, np.zeros((1, 2, 2)), nan_count=np.zeros(2))
    with pytest.raises(TypeError, match=r"x: expected dtype float32 or float64, got int64"):
        filt.sosfilt(sos, np.zeros((3, 2), np.int64), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match=r"alpha: expected 0 < alpha <= 1, got 1.5"):
        filt.ema(1.5, x, np.zeros(2))
    with pytest.raises(TypeError, match=r"state: expected a MedianState, got dict"):
        filt.hampel(x, {}, 3.0)
    with pytest.raises(ValueError, match=r"state.ring: expected shape \(2, 5\), got \(3, 5\)"):
        filt.running_median(x, filt.median_state(5, 3))
    with pytest.raises(ValueError, match=r"state.phase: expected 0 <= phase < 2, got 5"):
        st = filt.decimator_state(1, 2)
        st.phase[0] = 5
        filt.decimate(sos, 2, x, st)
    with pytest.raises(ValueError, match=r"state.count: expected 0 <= count < 2, got 3"):
        st2 = filt.stats_state(2)
        st2.count[0] = 3
        filt.window_stats(x, 2, st2)


@pytest.mark.parametrize(
    ("make", "exc", "pattern"),
    [
        (
            lambda f: f.SosFilter([[1, 0, 0, 1, 0, 0]], 0),
            ValueError,
            r"n_channels: expected an integer >= 1, got 0",
        ),
        (
            lambda f: f.SosFilter([[1, 0, 0, 1, 0, 0]], 2.5),
            TypeError,
            r"n_channels: expected an integer, got float",
        ),
        (
            lambda f: f.SosFilter([[1, 0, 0, 1, 0, 0]], 2, np.int32),
            TypeError,
            r"dtype: expected float32 or float64, got int32",
        ),
        (lambda f: f.RunningMedian(4, 2), ValueError, r"window: expected an odd length, got 4"),
        (
            lambda f: f.Hampel(5, 2, -1.0),
            ValueError,
            r"threshold: expected a finite number >= 0, got -1.0",
        ),
        (lambda f: f.Hampel(5, 2, float("nan")), ValueError, r"threshold: expected a finite"),
        (
            lambda f: f.Ema(0.0, 100.0, 2),
            ValueError,
            r"tau_s: expected a finite number > 0, got 0.0",
        ),
        (
            lambda f: f.Ema(0.1, float("inf"), 2),
            ValueError,
            r"fs: expected a finite number > 0, got inf",
        ),
        (
            lambda f: f.Decimator(0, 100.0, 2),
            ValueError,
            r"factor: expected an integer >= 1, got 0",
        ),
        (lambda f: f.WindowStats(0, 2), ValueError, r"window: expected an integer >= 1, got 0"),
        (lambda f: f.butter(0, 10, 100), ValueError, r"order: expected an integer >= 1, got 0"),
        (
            lambda f: f.butter(2, 60, 100),
            ValueError,
            r"cutoff_hz: expected 0 < cutoff_hz < fs/2 = 50 Hz, got 60",
        ),
        (
            lambda f: f.butter(2, (30, 20), 100, "bandpass"),
            ValueError,
            r"low_hz < high_hz < fs/2 = 50 Hz, got \(30, 20\)",
        ),
        (
            lambda f: f.butter(2, 20, 100, "bandpass"),
            TypeError,
            r"cutoff_hz: expected \(low_hz, high_hz\)",
        ),
        (lambda f: f.butter(2, (1, 2), 100), TypeError, r"cutoff_hz: expected one frequency"),
        (
            lambda f: f.butter(2, 10, 100, "notch"),
            ValueError,
            r"btype: expected 'lowpass', 'highpass' or 'bandpass', got 'notch'",
        ),
    ],
)
def test_bad_configuration_is_named(filt, make, exc, pattern) -> None:
    with pytest.raises(exc, match=pattern):
        make(filt)


@pytest.mark.parametrize(
    ("config", "pattern"),
    [
        ({"stages": []}, r"stages: expected a non-empty list"),
        ({"stage": []}, r"config: unknown keys \['stage'\]"),
        ({"stages": [{"type": "kalman"}]}, r"stages\[0\].type: expected one of .* got 'kalman'"),
        ({"stages": [{"window": 3}]}, r"stages\[0\].type: expected one of .* got None"),
        (
            {"stages": [{"type": "lowpass", "order": 2}]},
            r"stages\[0\].cutoff_hz: required for a lowpass",
        ),
        (
            {
                "stages": [
                    {"type": "median", "window": 3},
                    {"type": "lowpass", "order": 2, "cutof_hz": 5},
                ]
            },
            r"stages\[1\].cutof_hz: unknown key for a lowpass stage \(expected: cutoff_hz, order\)",
        ),
        (
            {"stages": [{"type": "hampel", "window": 4}]},
            r"stages\[0\] \(hampel\): window: expected an odd length, got 4",
        ),
        (
            {"stages": [{"type": "decimate", "factor": 0}]},
            r"stages\[0\] \(decimate\): factor: expected an integer >= 1",
        ),
        ({"stages": ["hampel"]}, r"stages\[0\]: expected a table, got 'hampel'"),
    ],
)
def test_bad_chain_config_names_the_key(filt, config, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        filt.FilterChain.from_config(config, 1000.0, 2)
