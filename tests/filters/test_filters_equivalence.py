"""Compiled kernels against the pure-NumPy twin, and chunking properties (hypothesis)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telemetry.rover import filters
from telemetry.rover.filters import backend
from tests.filters.conftest import kernel_module, random_splits, run_chunked

FACTORIES: dict[str, Callable[[int, np.dtype], object]] = {
    "sos": lambda c, dt: filters.SosFilter(filters.butter(4, 60.0, 1000.0), c, dt),
    "bandpass": lambda c, dt: filters.SosFilter(
        filters.butter(3, (10.0, 90.0), 1000.0, "bandpass"), c, dt
    ),
    "ema": lambda c, dt: filters.Ema(0.02, 1000.0, c, dt),
    "median5": lambda c, dt: filters.RunningMedian(5, c, dt),
    "median31": lambda c, dt: filters.RunningMedian(31, c, dt),
    "hampel5": lambda c, dt: filters.Hampel(5, c, 3.0, dt),
    "hampel31": lambda c, dt: filters.Hampel(31, c, 2.0, dt),
    "decimate": lambda c, dt: filters.Decimator(7, 1000.0, c, dt, order=4),
    "stats": lambda c, dt: filters.WindowStats(9, c, dt),
    "chain": lambda c, dt: filters.FilterChain.from_config(
        {
            "stages": [
                {"type": "hampel", "window": 7, "threshold": 3.0},
                {"type": "lowpass", "order": 4, "cutoff_hz": 50},
                {"type": "decimate", "factor": 10},
            ]
        },
        1000.0,
        c,
        dt,
    ),
}
EXACT = {"median5", "median31", "hampel5", "hampel31", "stats"}


def build(kind: str, impl: str, c: int, dtype: np.dtype, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(backend, "kernels", kernel_module(impl))
    try:
        return FACTORIES[kind](c, np.dtype(dtype))
    finally:
        monkeypatch.undo()


def signal_with_faults(rng: np.random.Generator, n: int, c: int, dtype) -> np.ndarray:
    x = np.cumsum(rng.standard_normal((n, c)), axis=0) * 0.1 + rng.standard_normal((n, c))
    x[rng.random(x.shape) < 0.03] += 30.0
    x[rng.random(x.shape) < 0.03] = np.nan
    x[rng.random(x.shape) < 0.01] = np.inf
    return x.astype(dtype)


def assert_same(kind: str, got: np.ndarray, want: np.ndarray) -> None:
    if kind in EXACT:
        np.testing.assert_array_equal(got, want)
    elif got.dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", sorted(FACTORIES))
def test_compiled_equals_reference(kind, dtype, monkeypatch, filter_rng) -> None:
    c = 13  # exercises the 8-, 4- and 1-channel lane blocks
    x = signal_with_faults(filter_rng, 600, c, dtype)
    bounds = random_splits(len(x), filter_rng, max_chunk=300)
    compiled = build(kind, "compiled", c, dtype, monkeypatch)
    pure = build(kind, "pure", c, dtype, monkeypatch)
    got = run_chunked(compiled.process, x, bounds)
    want = run_chunked(pure.process, x, bounds)
    assert got.dtype == want.dtype == dtype
    assert np.isfinite(got).all()
    assert_same(kind, got, want)
    np.testing.assert_array_equal(compiled.nan_count, pure.nan_count)
    np.testing.assert_array_equal(compiled.nan_count, (~np.isfinite(x)).sum(axis=0))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(sorted(FACTORIES)),
    n=st.integers(0, 120),
    c=st.integers(1, 10),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_any_chunking_gives_the_single_call_output(filt, kind, n, c, dtype, seed, data) -> None:
    rng = np.random.default_rng(seed)
    x = signal_with_faults(rng, n, c, dtype)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=8)))
    bounds = [*cuts, n]
    whole = FACTORIES[kind](c, np.dtype(dtype))
    chunked = FACTORIES[kind](c, np.dtype(dtype))
    want = whole.process(x)
    got = run_chunked(chunked.process, x, bounds)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(whole.nan_count, chunked.nan_count)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.tuples(st.integers(0, 5), st.integers(0, 4), st.integers(0, 3)).map(
        lambda t: t[: 1 + t[2] % 3]
    ),
    c=st.integers(1, 4),
)
def test_wrong_shapes_raise_value_error(filt, shape, c) -> None:
    x = np.zeros(shape)
    f = FACTORIES["sos"](c, np.dtype(np.float64))
    if x.ndim == 2 and x.shape[1] == c:
        assert f.process(x).shape == x.shape
    else:
        with pytest.raises(ValueError, match=r"x: expected"):
            f.process(x)
