"""The compiled biquad cascade's lane groups and section passes, against scipy and the twin.

The compiled kernel splits the channels into vector groups (8, 4, 2 lanes and
scalars) and runs the sections two at a time (then the odd one alone), in blocks
of samples. Every channel count from 1 to 17 and 1 to 5 sections go through a
different mix of those paths; each must give scipy's result, the twin's result,
and the same bits whatever the chunking, including across block boundaries.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import signal

from telemetry.rover import filters
from telemetry.rover.filters import backend
from tests.filters.conftest import kernel_module, random_splits, run_chunked

TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def _design(n_sections: int) -> np.ndarray:
    # orders 1, 3, 5, ... give 1, 2, 3, ... sections, the first-order one included
    return filters.butter(2 * n_sections - 1, 45.0, 1000.0)


def _filter(impl: str, sos: np.ndarray, c: int, dtype, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(backend, "kernels", kernel_module(impl))
    try:
        return filters.SosFilter(sos, c, dtype)
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_sections", [1, 2, 3, 5])
@pytest.mark.parametrize("c", range(1, 18))
def test_every_lane_group_matches_scipy_and_the_twin(c, n_sections, dtype, monkeypatch) -> None:
    rng = np.random.default_rng(1000 * c + n_sections)
    sos = _design(n_sections)
    x = rng.standard_normal((600, c)).astype(dtype)  # > one 256-sample block
    compiled = _filter("compiled", sos, c, dtype, monkeypatch)
    pure = _filter("pure", sos, c, dtype, monkeypatch)
    got = compiled.process(x)
    tol = TOL[np.dtype(dtype)]
    ref = signal.sosfilt(sos.astype(dtype), x, axis=0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)
    np.testing.assert_allclose(got, pure.process(x), rtol=tol, atol=tol)
    np.testing.assert_allclose(compiled.zi, pure.zi, rtol=tol, atol=tol)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    c=st.integers(1, 17),
    n_sections=st.integers(1, 5),
    n=st.integers(0, 700),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**32 - 1),
)
def test_chunking_never_changes_a_bit(c, n_sections, n, dtype, seed) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)).astype(dtype)
    x[rng.random(x.shape) < 0.01] = np.nan  # the NaN rule's path through the same passes
    sos = _design(n_sections)
    whole = filters.SosFilter(sos, c, dtype)
    chunked = filters.SosFilter(sos, c, dtype)
    want = whole.process(x)
    got = run_chunked(chunked.process, x, random_splits(n, rng, max_chunk=300))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(chunked.zi, whole.zi)
    np.testing.assert_array_equal(chunked.nan_count, whole.nan_count)
    assert np.isfinite(got).all()


def test_process_is_the_kernel_itself() -> None:
    """No Python frame between the caller and the kernel (it costs as much as one sample)."""
    f = filters.SosFilter(_design(2), 3)
    g = filters.SosFilter(_design(2), 3)
    assert f.process == f._kernel.run
    x = np.random.default_rng(5).standard_normal((40, 3))
    buf = np.empty_like(x)
    assert f.process(x, out=buf) is buf
    np.testing.assert_array_equal(buf, g.process(x))
