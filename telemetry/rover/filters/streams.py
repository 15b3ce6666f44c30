"""Stateful filter objects: configuration checked once, state owned and exposed.

``SosFilter``, ``Ema``, ``RunningMedian``, ``Hampel``, ``Decimator`` and
``WindowStats`` validate their configuration at construction and bind a kernel
of ``backend.kernels`` to their own state arrays (``.zi``, ``.ring``, ...).
``process(x, out=None)`` is the hot path: it checks only ``x`` and ``out``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from telemetry.rover.filters import _filters_ref, backend
from telemetry.rover.filters.butterworth import butter, ema_alpha
from telemetry.rover.filters.functional import MAD_SCALE, stats_state
from telemetry.rover.filters.validation import (
    valid_dtype,
    valid_int,
    valid_odd_window,
    valid_positive,
    valid_sos,
    valid_threshold,
)

__all__ = ["Decimator", "Ema", "Hampel", "RunningMedian", "SosFilter", "WindowStats"]


class _Stream:
    """Common parts: channel count, dtype, NaN-rule state, and the bound kernel."""

    _kernel: Any

    def __init__(self, n_channels: int, dtype: npt.DTypeLike, hold: float = 0.0):
        self.n_channels = valid_int("n_channels", n_channels, 1)
        self.dtype = valid_dtype(dtype)
        self._initial_hold = float(hold)
        self.hold = np.full(self.n_channels, hold, self.dtype)
        self.nan_count = np.zeros(self.n_channels, np.int64)

    def process(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Filter the next chunk ``x`` (samples, channels); returns ``out`` (or a new array).

        Each instance shadows this method with its kernel's bound ``run`` (see
        ``_bind``); this body only runs if a subclass never bound a kernel.
        """
        return self._kernel.run(x, out)

    def _bind(self, kernel: Any) -> None:
        """Bind the kernel; ``process`` becomes its ``run`` directly.

        At one sample per call a Python-level forwarding frame costs about as
        much as the filtering, so the instance calls the kernel without one.
        """
        self._kernel = kernel
        self.process = kernel.run  # type: ignore[method-assign]

    def output_length(self, n: int) -> int:
        """Rows the next ``process`` call returns for a chunk of ``n`` samples."""
        return n

    def _reset_guard(self) -> None:
        self.hold[:] = self._initial_hold
        self.nan_count[:] = 0


class SosFilter(_Stream):
    """Streaming biquad cascade (transposed direct form II) on ``n_channels`` channels.

    ``sos`` (n_sections, 6) as from ``butter``; ``zi`` (n_sections, 2, channels)
    is the live state.
    """

    def __init__(self, sos: npt.ArrayLike, n_channels: int, dtype: npt.DTypeLike = np.float64,
                 *, hold: float = 0.0):
        super().__init__(n_channels, dtype, hold)
        self.sos = valid_sos(sos, self.dtype)
        self.zi = np.zeros((self.sos.shape[0], 2, self.n_channels), self.dtype)
        self._bind(backend.kernels.SosKernel(self.sos, self.zi, self.hold, self.nan_count))

    def reset(self) -> None:
        self.zi[:] = 0
        self._reset_guard()


class Ema(_Stream):
    """One-pole smoother with time constant ``tau_s`` at sample rate ``fs``.

    State ``zi`` (channels,) starts at ``initial`` (use ``reset(value)`` to seed it).
    """

    def __init__(
        self,
        tau_s: float,
        fs: float,
        n_channels: int,
        dtype: npt.DTypeLike = np.float64,
        *,
        initial: float = 0.0,
        hold: float = 0.0,
    ):
        super().__init__(n_channels, dtype, hold)
        self.alpha = ema_alpha(tau_s, fs)
        self.zi = np.full(self.n_channels, initial, self.dtype)
        self._initial = initial
        self._bind(backend.kernels.EmaKernel(self.alpha, self.zi, self.hold, self.nan_count))

    def reset(self, value: float | np.ndarray | None = None) -> None:
        self.zi[:] = self._initial if value is None else value
        self._reset_guard()


class RunningMedian(_Stream):
    """Trailing-window median of odd length ``window`` per channel (delay ``window // 2``)."""

    _scale: float | None = None

    def __init__(self, window: int, n_channels: int, dtype: npt.DTypeLike = np.float64,
                 *, hold: float = 0.0):
        super().__init__(n_channels, dtype, hold)
        self.window = valid_odd_window(window)
        self.delay = self.window // 2
        self.ring = np.zeros((self.n_channels, self.window), self.dtype)
        self.srt = np.zeros_like(self.ring)
        self.pos = np.zeros(1, np.int64)
        self._bind(backend.kernels.MedianKernel(
            self.ring, self.srt, self.pos, self.hold, self.nan_count, self._scale
        ))

    def reset(self) -> None:
        self.ring[:] = 0
        self.srt[:] = 0
        self.pos[:] = 0
        self._reset_guard()


class Hampel(RunningMedian):
    """Hampel spike filter: centre sample replaced by the window median when it lies
    more than ``threshold`` scaled MADs away (see the ``telemetry.rover.filters`` docstring)."""

    def __init__(
        self,
        window: int,
        n_channels: int,
        threshold: float = 3.0,
        dtype: npt.DTypeLike = np.float64,
        *,
        hold: float = 0.0,
    ):
        self.threshold = valid_threshold(threshold)
        self._scale = self.threshold * MAD_SCALE
        super().__init__(window, n_channels, dtype, hold=hold)


class Decimator(_Stream):
    """Anti-alias Butterworth low-pass then keep every ``factor``-th sample.

    The low-pass is ``order`` poles at ``cutoff_hz`` (default 0.8 x the output
    Nyquist, ``0.4 * fs / factor``) unless ``sos`` is given. ``process`` returns
    ``output_length(n)`` rows; ``out`` may have more rows (``out[:rows]`` is
    returned).
    """

    def __init__(
        self,
        factor: int,
        fs: float,
        n_channels: int,
        dtype: npt.DTypeLike = np.float64,
        *,
        order: int = 8,
        cutoff_hz: float | None = None,
        sos: npt.ArrayLike | None = None,
        hold: float = 0.0,
    ):
        super().__init__(n_channels, dtype, hold)
        self.factor = valid_int("factor", factor, 1)
        self.fs = valid_positive("fs", fs)
        self.fs_out = self.fs / self.factor
        if sos is None:
            fc = 0.4 * self.fs / self.factor if cutoff_hz is None else cutoff_hz
            sos = butter(order, fc, self.fs, "lowpass")
        self.sos = valid_sos(sos, self.dtype)
        self.zi = np.zeros((self.sos.shape[0], 2, self.n_channels), self.dtype)
        self.phase = np.zeros(1, np.int64)
        self._bind(backend.kernels.DecimateKernel(
            self.sos, self.zi, self.phase, self.factor, self.hold, self.nan_count
        ))

    def output_length(self, n: int) -> int:
        return _filters_ref.decimated_length(n, int(self.phase[0]), self.factor)

    def reset(self) -> None:
        self.zi[:] = 0
        self.phase[:] = 0
        self._reset_guard()


class WindowStats(_Stream):
    """Mean, min, max, RMS and peak-to-peak per channel over consecutive windows.

    ``process`` returns (complete windows, 5, channels) in the order of ``STATS``;
    a window may span chunks.
    """

    def __init__(self, window: int, n_channels: int, dtype: npt.DTypeLike = np.float64,
                 *, hold: float = 0.0):
        super().__init__(n_channels, dtype, hold)
        self.window = valid_int("window", window, 1)
        st = stats_state(self.n_channels, self.dtype)
        self.acc, self.count = st.acc, st.count
        self._bind(backend.kernels.StatsKernel(
            self.window, self.acc, self.count, self.hold, self.nan_count
        ))

    def output_length(self, n: int) -> int:
        return (int(self.count[0]) + n) // self.window

    def reset(self) -> None:
        self.acc[:2] = 0
        self.acc[2] = np.inf
        self.acc[3] = -np.inf
        self.count[:] = 0
        self._reset_guard()
