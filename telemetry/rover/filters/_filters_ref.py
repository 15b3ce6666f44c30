"""Pure-NumPy twin of ``telemetry.rover.filters._filters``.

Same classes, same constructor arguments, same ``run(x, out=None)`` methods,
same state layout, same errors. It exists so that the rover still works (slowly)
when the compiled module cannot be imported, and so that the test suite can
check the compiled kernels against something short enough to read.

Set ``RIG_FILTERS_PURE=1`` to force it (see ``telemetry.rover.filters``).

Arithmetic is written in the same order as the Cython kernels, so on a build
without fused multiply-add the two agree to the last bit; the tests allow a
tolerance of 1e-12 so that FMA-contracting compilers (ARM) still pass.

The input checks at the top of this module are shared: the compiled module
calls them when its fast check fails, so both implementations raise the same
message for the same mistake.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "DecimateKernel",
    "EmaKernel",
    "MedianKernel",
    "SosKernel",
    "StatsKernel",
    "check_block",
    "check_out",
    "check_stats_out",
]

N_STATS = 5  # mean, min, max, rms, peak-to-peak


# --------------------------------------------------------------------------- checks


def check_block(arr: object, n_channels: int, dtype: np.dtype, name: str) -> None:
    """Raise TypeError/ValueError unless ``arr`` is a (samples, n_channels) block."""
    want = np.dtype(dtype)
    if not isinstance(arr, np.ndarray):
        raise TypeError(
            f"{name}: expected a numpy.ndarray of shape (samples, {n_channels}) "
            f"and dtype {want.name}, got {type(arr).__name__}"
        )
    if arr.dtype != want:
        raise TypeError(f"{name}: expected dtype {want.name}, got {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(
            f"{name}: expected a 2-D array (samples, channels), "
            f"got {arr.ndim}-D with shape {arr.shape}"
        )
    if arr.shape[1] != n_channels:
        raise ValueError(
            f"{name}: expected {n_channels} channels, got {arr.shape[1]} (shape {arr.shape})"
        )
    if not arr.flags.c_contiguous:
        raise ValueError(
            f"{name}: expected a C-contiguous array, got strides {arr.strides} "
            f"(use numpy.ascontiguousarray)"
        )
    if not arr.flags.aligned:
        raise ValueError(f"{name}: expected an aligned array, got a misaligned one")


def _check_writeable_disjoint(out: np.ndarray, x: np.ndarray) -> None:
    if not out.flags.writeable:
        raise ValueError("out: expected a writeable array, got a read-only one")
    if out.size and x.size and np.may_share_memory(out, x):
        raise ValueError("out: must not share memory with x (filtering in place is not supported)")


def check_out(
    out: object, x: np.ndarray, rows: int, n_channels: int, dtype: np.dtype, exact: bool
) -> None:
    """Check an ``out=`` buffer: (rows, n_channels), or at least ``rows`` if not ``exact``."""
    check_block(out, n_channels, dtype, "out")
    assert isinstance(out, np.ndarray)
    if exact and out.shape[0] != rows:
        raise ValueError(f"out: expected shape {(rows, n_channels)} to match x, got {out.shape}")
    if not exact and out.shape[0] < rows:
        raise ValueError(
            f"out: expected at least {rows} rows for this chunk, got shape {out.shape}"
        )
    _check_writeable_disjoint(out, x)


def check_stats_out(
    out: object, x: np.ndarray, rows: int, n_channels: int, dtype: np.dtype
) -> None:
    """Check a window-statistics ``out=`` buffer: at least (rows, 5, n_channels)."""
    want = np.dtype(dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out: expected a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != want:
        raise TypeError(f"out: expected dtype {want.name}, got {out.dtype}")
    if out.ndim != 3 or out.shape[1:] != (N_STATS, n_channels):
        raise ValueError(f"out: expected shape (windows, {N_STATS}, {n_channels}), got {out.shape}")
    if out.shape[0] < rows:
        raise ValueError(
            f"out: expected at least {rows} windows for this chunk, got shape {out.shape}"
        )
    if not out.flags.c_contiguous:
        raise ValueError(f"out: expected a C-contiguous array, got strides {out.strides}")
    _check_writeable_disjoint(out, x)


# --------------------------------------------------------------------------- NaN rule


def _guard(x: np.ndarray, hold: np.ndarray, nan_count: np.ndarray) -> np.ndarray:
    """Apply the NaN rule: replace non-finite samples by the channel's last good value.

    Counts them in ``nan_count`` and updates ``hold`` in place. Returns ``x``
    itself when every sample is finite (the usual case).
    """
    if x.shape[0] == 0:
        return x
    bad = ~np.isfinite(x)
    if not bad.any():
        hold[:] = x[-1]
        return x
    nan_count += bad.sum(axis=0)
    n = x.shape[0]
    # index (into [hold; x]) of the last good value at or before each sample
    idx = np.where(bad, 0, np.arange(1, n + 1)[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    clean = np.take_along_axis(np.concatenate([hold[None, :], x]), idx, axis=0)
    hold[:] = clean[-1]
    return clean


class _Kernel:
    """Shared plumbing: the channel count, the dtype and the NaN-rule state."""

    def __init__(self, dtype: np.dtype, n_channels: int, hold: np.ndarray, nan_count: np.ndarray):
        self.dtype = np.dtype(dtype)
        self.n_channels = int(n_channels)
        self.hold = hold
        self.nan_count = nan_count

    def _prepare(self, x: object, out: object, rows: int, exact: bool = True) -> np.ndarray:
        check_block(x, self.n_channels, self.dtype, "x")
        if out is None:
            return np.empty((rows, self.n_channels), self.dtype)
        assert isinstance(x, np.ndarray)
        check_out(out, x, rows, self.n_channels, self.dtype, exact)
        assert isinstance(out, np.ndarray)
        return out


# --------------------------------------------------------------------------- biquads


def _sos_apply(sos: np.ndarray, v: np.ndarray, zi: np.ndarray, out: np.ndarray) -> None:
    """Transposed direct form II, section by section; ``zi`` is (sections, 2, channels)."""
    cur = v
    for s in range(sos.shape[0]):
        b0, b1, b2, _, a1, a2 = sos[s]
        z0 = zi[s, 0].copy()
        z1 = zi[s, 1].copy()
        for n in range(v.shape[0]):
            xi = cur[n]
            yi = b0 * xi + z0
            z0 = b1 * xi - a1 * yi + z1
            z1 = b2 * xi - a2 * yi
            out[n] = yi
        zi[s, 0] = z0
        zi[s, 1] = z1
        cur = out


class SosKernel(_Kernel):
    """Biquad cascade; state ``zi`` has scipy's layout (sections, 2, channels)."""

    def __init__(self, sos: np.ndarray, zi: np.ndarray, hold: np.ndarray, nan_count: np.ndarray):
        super().__init__(sos.dtype, zi.shape[2], hold, nan_count)
        self.sos = sos
        self.zi = zi

    def run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        y = self._prepare(x, out, np.shape(x)[0])
        _sos_apply(self.sos, _guard(x, self.hold, self.nan_count), self.zi, y)
        return y


class EmaKernel(_Kernel):
    """One-pole smoother ``z += alpha * (x - z)``; state ``zi`` is (channels,)."""

    def __init__(self, alpha: float, zi: np.ndarray, hold: np.ndarray, nan_count: np.ndarray):
        super().__init__(zi.dtype, zi.shape[0], hold, nan_count)
        self.alpha = self.dtype.type(alpha)
        self.zi = zi

    def run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        y = self._prepare(x, out, np.shape(x)[0])
        v = _guard(x, self.hold, self.nan_count)
        z = self.zi.copy()
        for n in range(v.shape[0]):
            z = z + self.alpha * (v[n] - z)
            y[n] = z
        self.zi[:] = z
        return y


# --------------------------------------------------------------------------- medians


class MedianKernel(_Kernel):
    """Trailing-window running median, or Hampel filter when ``scale`` is given.

    State: ``ring`` (channels, window) holds the last ``window`` samples with
    slot ``pos[0]`` the next to be overwritten (the oldest); ``srt`` holds the
    same values sorted per channel. The Hampel output for the sample at the
    window's centre is the median if ``|x_c - median| > scale * MAD`` and
    ``x_c`` otherwise.
    """

    def __init__(
        self,
        ring: np.ndarray,
        srt: np.ndarray,
        pos: np.ndarray,
        hold: np.ndarray,
        nan_count: np.ndarray,
        scale: float | None,
    ):
        super().__init__(ring.dtype, ring.shape[0], hold, nan_count)
        self.ring = ring
        self.srt = srt
        self.pos = pos
        self.scale = None if scale is None else self.dtype.type(scale)

    def run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        y = self._prepare(x, out, np.shape(x)[0])
        n = x.shape[0]
        if n == 0:
            return y
        v = _guard(x, self.hold, self.nan_count)
        w = self.ring.shape[1]
        h = w // 2
        p = int(self.pos[0])
        hist = self.ring[:, (p + np.arange(w)) % w].T  # oldest first
        full = np.concatenate([hist, v])
        win = sliding_window_view(full[1:], w, axis=0)  # (n, channels, w)
        med = np.median(win, axis=-1)
        if self.scale is None:
            y[:] = med
        else:
            centre = win[..., h]
            mad = np.median(np.abs(win - med[..., None]), axis=-1)
            y[:] = np.where(np.abs(centre - med) > self.scale * mad, med, centre)
        tail = full[-w:]
        p = (p + n) % w
        self.ring[:, (p + np.arange(w)) % w] = tail.T
        self.srt[:] = np.sort(tail.T, axis=1)
        self.pos[0] = p
        return y


# --------------------------------------------------------------------------- decimator


def decimated_length(n: int, phase: int, factor: int) -> int:
    """Rows produced by a chunk of ``n`` samples when the next kept one is ``phase`` ahead."""
    return 0 if n <= phase else (n - phase - 1) // factor + 1


class DecimateKernel(_Kernel):
    """Anti-alias biquads, then keep every ``factor``-th sample.

    ``phase[0]`` is how many samples to drop before the next kept one, so the
    kept samples are stream indices 0, factor, 2*factor, ... whatever the chunking.
    """

    def __init__(
        self,
        sos: np.ndarray,
        zi: np.ndarray,
        phase: np.ndarray,
        factor: int,
        hold: np.ndarray,
        nan_count: np.ndarray,
    ):
        super().__init__(sos.dtype, zi.shape[2], hold, nan_count)
        self.sos = SosKernel(sos, zi, hold, nan_count)
        self.phase = phase
        self.factor = int(factor)

    def run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        check_block(x, self.n_channels, self.dtype, "x")
        p = int(self.phase[0])
        rows = decimated_length(x.shape[0], p, self.factor)
        y = self._prepare(x, out, rows, exact=False)
        filtered = self.sos.run(x)
        y[:rows] = filtered[p :: self.factor]
        self.phase[0] = (p - x.shape[0]) % self.factor
        return y[:rows]


# --------------------------------------------------------------------------- statistics


class StatsKernel(_Kernel):
    """Per-window mean, min, max, RMS and peak-to-peak, windows streaming across chunks.

    State: ``acc`` (4, channels) float64 = running sum, sum of squares, min,
    max of the current window; ``count[0]`` samples already in it. Sums are
    sequential in float64 (``np.cumsum`` here, a plain loop in Cython).
    Output rows are (windows, 5, channels) in the order mean, min, max, rms, p2p.
    """

    def __init__(
        self,
        window: int,
        acc: np.ndarray,
        count: np.ndarray,
        hold: np.ndarray,
        nan_count: np.ndarray,
    ):
        super().__init__(hold.dtype, acc.shape[1], hold, nan_count)
        self.window = int(window)
        self.acc = acc
        self.count = count

    def run(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        check_block(x, self.n_channels, self.dtype, "x")
        n = x.shape[0]
        c = int(self.count[0])
        rows = (c + n) // self.window
        if out is None:
            y = np.empty((rows, N_STATS, self.n_channels), self.dtype)
        else:
            check_stats_out(out, x, rows, self.n_channels, self.dtype)
            y = out
        v = _guard(x, self.hold, self.nan_count).astype(np.float64)
        acc = self.acc
        i = row = 0
        while i < n:
            take = min(self.window - c, n - i)
            seg = v[i : i + take]
            acc[0] = np.cumsum(np.concatenate([acc[0][None], seg]), axis=0)[-1]
            acc[1] = np.cumsum(np.concatenate([acc[1][None], seg * seg]), axis=0)[-1]
            acc[2] = np.minimum(acc[2], seg.min(axis=0))
            acc[3] = np.maximum(acc[3], seg.max(axis=0))
            c += take
            i += take
            if c == self.window:
                y[row, 0] = acc[0] / self.window
                y[row, 1] = acc[2]
                y[row, 2] = acc[3]
                y[row, 3] = np.sqrt(acc[1] / self.window)
                y[row, 4] = acc[3] - acc[2]
                acc[0] = 0.0
                acc[1] = 0.0
                acc[2] = np.inf
                acc[3] = -np.inf
                row += 1
                c = 0
        self.count[0] = c
        return y[:rows]
