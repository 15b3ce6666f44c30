"""Functional kernels in scipy's style: the caller owns the state, updated in place.

Each call validates everything (input block, coefficients, state arrays) and then
runs the kernel module in use (``backend.kernels``), so a stream fed in chunks
gives the output of one call over the whole stream. ``*_state`` functions build
fresh caller-owned state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from telemetry.rover.filters import backend
from telemetry.rover.filters.validation import (
    guard_state,
    valid_block,
    valid_dtype,
    valid_int,
    valid_odd_window,
    valid_positive,
    valid_sos,
    valid_state_array,
    valid_threshold,
)

__all__ = [
    "MAD_SCALE",
    "STATS",
    "DecimatorState",
    "MedianState",
    "StatsState",
    "decimate",
    "decimator_state",
    "ema",
    "hampel",
    "median_state",
    "running_median",
    "sosfilt",
    "stats_state",
    "window_stats",
]

STATS = ("mean", "min", "max", "rms", "p2p")
MAD_SCALE = 1.482602218505602  # 1 / Phi^-1(3/4): MAD -> standard deviation for Gaussian data


def sosfilt(
    sos: npt.ArrayLike,
    x: np.ndarray,
    zi: np.ndarray,
    out: np.ndarray | None = None,
    *,
    hold: np.ndarray | None = None,
    nan_count: np.ndarray | None = None,
) -> np.ndarray:
    """Filter ``x`` (samples, channels) through the biquads ``sos`` (n_sections, 6).

    ``zi`` (n_sections, 2, channels), same dtype as ``x``, is updated in place
    (scipy's ``zf``), so consecutive calls continue the stream. Returns ``out``.
    """
    x = valid_block(x)
    dt, c = x.dtype, x.shape[1]
    s = valid_sos(sos, dt)
    zi = valid_state_array("zi", zi, dt, (s.shape[0], 2, c))
    h, nc = guard_state(hold, nan_count, c, dt)
    return backend.kernels.SosKernel(s, zi, h, nc).run(x, out)


def ema(
    alpha: float,
    x: np.ndarray,
    zi: np.ndarray,
    out: np.ndarray | None = None,
    *,
    hold: np.ndarray | None = None,
    nan_count: np.ndarray | None = None,
) -> np.ndarray:
    """One-pole smoother ``z += alpha * (x - z)``; ``zi`` (channels,) updated in place."""
    a = valid_positive("alpha", alpha)
    if a > 1.0:
        raise ValueError(f"alpha: expected 0 < alpha <= 1, got {alpha!r}")
    x = valid_block(x)
    zi = valid_state_array("zi", zi, x.dtype, (x.shape[1],))
    h, nc = guard_state(hold, nan_count, x.shape[1], x.dtype)
    return backend.kernels.EmaKernel(a, zi, h, nc).run(x, out)


@dataclass(frozen=True, slots=True)
class MedianState:
    """Caller-owned state of a running median / Hampel filter (see ``median_state``)."""

    ring: np.ndarray  # (channels, window): last samples, ring[:, pos] the oldest
    srt: np.ndarray  # (channels, window): the same values, sorted
    pos: np.ndarray  # (1,) int64
    hold: np.ndarray  # (channels,): last finite input (NaN rule)
    nan_count: np.ndarray  # (channels,) int64


def median_state(window: int, n_channels: int, dtype: npt.DTypeLike = np.float64) -> MedianState:
    """Fresh state for ``running_median``/``hampel``: a window of zeros."""
    w = valid_odd_window(window)
    c = valid_int("n_channels", n_channels, 1)
    dt = valid_dtype(dtype)
    return MedianState(
        np.zeros((c, w), dt), np.zeros((c, w), dt), np.zeros(1, np.int64),
        np.zeros(c, dt), np.zeros(c, np.int64),
    )  # fmt: skip


def _median_kernel(x: np.ndarray, state: MedianState, scale: float | None) -> Any:
    if not isinstance(state, MedianState):
        raise TypeError(f"state: expected a MedianState, got {type(state).__name__}")
    c, dt = x.shape[1], x.dtype
    ring = valid_state_array("state.ring", state.ring, dt, (c, state.ring.shape[-1]))
    valid_odd_window(ring.shape[1])
    srt = valid_state_array("state.srt", state.srt, dt, ring.shape)
    valid_state_array("state.pos", state.pos, np.int64, (1,))
    h, nc = guard_state(state.hold, state.nan_count, c, dt)
    return backend.kernels.MedianKernel(ring, srt, state.pos, h, nc, scale)


def running_median(x: np.ndarray, state: MedianState, out: np.ndarray | None = None) -> np.ndarray:
    """Trailing-window median per channel; ``state`` from ``median_state``."""
    return _median_kernel(valid_block(x), state, None).run(x, out)


def hampel(
    x: np.ndarray, state: MedianState, threshold: float = 3.0, out: np.ndarray | None = None
) -> np.ndarray:
    """Hampel spike filter (running median + MAD test); ``state`` from ``median_state``."""
    scale = valid_threshold(threshold) * MAD_SCALE
    return _median_kernel(valid_block(x), state, scale).run(x, out)


@dataclass(frozen=True, slots=True)
class DecimatorState:
    """Caller-owned state of ``decimate``: biquad state, phase and the NaN-rule arrays."""

    zi: np.ndarray  # (n_sections, 2, channels)
    phase: np.ndarray  # (1,) int64: samples to drop before the next kept one
    hold: np.ndarray
    nan_count: np.ndarray


def decimator_state(n_sections: int, n_channels: int,
                    dtype: npt.DTypeLike = np.float64) -> DecimatorState:
    c = valid_int("n_channels", n_channels, 1)
    dt = valid_dtype(dtype)
    ns = valid_int("n_sections", n_sections, 1)
    return DecimatorState(
        np.zeros((ns, 2, c), dt), np.zeros(1, np.int64), np.zeros(c, dt), np.zeros(c, np.int64)
    )


def decimate(
    sos: npt.ArrayLike, factor: int, x: np.ndarray, state: DecimatorState,
    out: np.ndarray | None = None
) -> np.ndarray:
    """Low-pass ``x`` through ``sos`` and keep every ``factor``-th sample (phase carried).

    ``out``, if given, needs at least as many rows as this chunk produces; the
    returned array is ``out[:rows]``.
    """
    x = valid_block(x)
    f = valid_int("factor", factor, 1)
    if not isinstance(state, DecimatorState):
        raise TypeError(f"state: expected a DecimatorState, got {type(state).__name__}")
    s = valid_sos(sos, x.dtype)
    zi = valid_state_array("state.zi", state.zi, x.dtype, (s.shape[0], 2, x.shape[1]))
    phase = valid_state_array("state.phase", state.phase, np.int64, (1,))
    if not 0 <= phase[0] < f:
        raise ValueError(f"state.phase: expected 0 <= phase < {f}, got {phase[0]}")
    h, nc = guard_state(state.hold, state.nan_count, x.shape[1], x.dtype)
    return backend.kernels.DecimateKernel(s, zi, phase, f, h, nc).run(x, out)


@dataclass(frozen=True, slots=True)
class StatsState:
    """Caller-owned state of ``window_stats``."""

    acc: np.ndarray  # (4, channels) float64: sum, sum of squares, min, max
    count: np.ndarray  # (1,) int64: samples in the current window
    hold: np.ndarray
    nan_count: np.ndarray


def stats_state(n_channels: int, dtype: npt.DTypeLike = np.float64) -> StatsState:
    c = valid_int("n_channels", n_channels, 1)
    dt = valid_dtype(dtype)
    acc = np.zeros((4, c))
    acc[2] = np.inf
    acc[3] = -np.inf
    return StatsState(acc, np.zeros(1, np.int64), np.zeros(c, dt), np.zeros(c, np.int64))


def window_stats(
    x: np.ndarray, window: int, state: StatsState, out: np.ndarray | None = None
) -> np.ndarray:
    """Mean, min, max, RMS, p2p per complete window: (windows, 5, channels)."""
    x = valid_block(x)
    w = valid_int("window", window, 1)
    if not isinstance(state, StatsState):
        raise TypeError(f"state: expected a StatsState, got {type(state).__name__}")
    acc = valid_state_array("state.acc", state.acc, np.float64, (4, x.shape[1]))
    count = valid_state_array("state.count", state.count, np.int64, (1,))
    if not 0 <= count[0] < w:
        raise ValueError(f"state.count: expected 0 <= count < {w}, got {count[0]}")
    h, nc = guard_state(state.hold, state.nan_count, x.shape[1], x.dtype)
    return backend.kernels.StatsKernel(w, acc, count, h, nc).run(x, out)
