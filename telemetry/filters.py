"""Streaming multi-channel filters for high-rate sensor data.

Theory of operation
-------------------
Data are blocks of shape (samples, channels), C-contiguous, float32 or
float64. Every filter keeps its state between calls, so a stream fed in chunks
of any size (0, 1 or many thousands of samples) gives exactly the output of one
call over the whole stream. Two layers:

* Stateful objects (``SosFilter``, ``Hampel``, ``RunningMedian``, ``Ema``,
  ``Decimator``, ``WindowStats``, ``FilterChain``) validate their configuration
  once, at construction, and own their state arrays (exposed, e.g. ``.zi``). Their
  ``process(x, out=None)`` is the hot path: it checks only ``x`` and ``out``.
* Functional kernels in scipy's style (``sosfilt(sos, x, zi, out=None)``,
  ``ema``, ``running_median``, ``hampel``, ``decimate``, ``window_stats``)
  validate everything on every call and update caller-owned state in place.

Pass ``out=`` to reuse an output buffer: the steady state then allocates no
sample buffers. ``out`` must not share memory with ``x``.

Implementations: the compiled kernels in ``telemetry._filters`` (Cython; the
GIL is released around any call longer than about a microsecond; the biquad
cascade uses portable 16-byte SIMD vectors) and their pure-NumPy twin
``telemetry._filters_ref`` (same API, same results). ``IMPLEMENTATION`` says
which one is loaded: ``"compiled"`` normally; ``"pure"`` if the environment
variable ``RIG_FILTERS_PURE=1`` forces the twin, or, logged at ERROR level, if
the compiled module fails to import.
The rover must never run the slow path unnoticed.

The NaN rule
------------
A non-finite input sample (NaN, +inf or -inf) never enters any filter state.
Each kernel replaces it by the last finite sample seen on that channel (its
*hold* value, 0.0 before the first finite sample, or the ``initial`` hold given
at construction) and counts it, per channel, in ``nan_count`` (an int64
array; ``FilterChain.nan_count`` is the count at the chain's input). The output
is then what the filter gives for the held value, so a dropout looks like a
flat segment, and the filter recovers as soon as finite data return. Both
implementations apply the rule identically. Functional kernels called without
``hold``/``nan_count`` use a fresh zero hold for that call only.

Conventions
-----------
* Medians and the Hampel filter use a trailing window of odd length ``w``: the
  output at sample n is the (Hampel-tested) value of the window's centre,
  sample n - w//2, so the output is delayed by ``w // 2`` samples (``.delay``)
  and starts from a window of zeros (scipy's ``medfilt`` zero padding).
* Hampel: with ``m`` the window median and ``MAD`` the median absolute deviation
  from ``m``, the centre sample is replaced by ``m`` when
  ``|x_c - m| > threshold * 1.4826 * MAD`` (strictly; with MAD = 0 any deviation
  is replaced).
* ``Decimator`` keeps stream samples 0, factor, 2*factor, ... after its
  anti-alias low-pass, whatever the chunking.
* ``WindowStats`` emits one row per complete window of ``window`` samples, as
  an array (windows, 5, channels) in the order of ``STATS``.

Errors: every public call raises ``TypeError`` for a wrong type or dtype and
``ValueError`` for a wrong shape, layout, value or configuration key, with a
message naming the argument, what was expected and what was got.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from telemetry import _filters_ref

__all__ = [
    "IMPLEMENTATION",
    "STATS",
    "Decimator",
    "DecimatorState",
    "Ema",
    "FilterChain",
    "Hampel",
    "MedianState",
    "RunningMedian",
    "SosFilter",
    "StatsState",
    "WindowStats",
    "butter",
    "decimate",
    "decimator_state",
    "ema",
    "ema_alpha",
    "hampel",
    "median_state",
    "running_median",
    "sosfilt",
    "stats_state",
    "window_stats",
]

log = logging.getLogger(__name__)

ENV_FORCE_PURE = "RIG_FILTERS_PURE"
STATS = ("mean", "min", "max", "rms", "p2p")
MAD_SCALE = 1.482602218505602  # 1 / Phi^-1(3/4): MAD -> standard deviation for Gaussian data


def _load_implementation() -> tuple[Any, str]:
    if os.environ.get(ENV_FORCE_PURE, "") not in ("", "0"):
        log.warning("%s is set: using the pure-NumPy filter kernels", ENV_FORCE_PURE)
        return _filters_ref, "pure"
    try:
        from telemetry import _filters
    except ImportError as err:
        log.error(
            "compiled filter kernels (telemetry._filters) failed to import: %s; "
            "FALLING BACK to the pure-NumPy twin, which is orders of magnitude slower. "
            "Rebuild the extension (pip install -e .)",
            err,
        )
        return _filters_ref, "pure"
    return _filters, "compiled"


# The kernel module in use; looked up when a filter is built, so tests can swap it.
_impl, IMPLEMENTATION = _load_implementation()


# --------------------------------------------------------------------------- validation


def _dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from err
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


def _odd_window(window: Any) -> int:
    w = _int("window", window, 1)
    if w % 2 == 0:
        raise ValueError(f"window: expected an odd length, got {w}")
    return w


def _sos(sos: Any, dtype: np.dtype) -> np.ndarray:
    if isinstance(sos, np.ndarray) and sos.dtype.kind not in "fiu":
        raise TypeError(f"sos: expected real numbers, got dtype {sos.dtype}")
    try:
        arr = np.array(sos, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"sos: expected an array of shape (n_sections, 6), got {sos!r}") from err
    if arr.ndim != 2 or arr.shape[1] != 6 or arr.shape[0] < 1:
        raise ValueError(f"sos: expected shape (n_sections >= 1, 6), got {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = sorted({int(r) for r in np.nonzero(bad)[0]})
        raise ValueError(
            f"sos: expected finite coefficients, got non-finite values in sections {rows}"
        )
    if not np.all(arr[:, 3] == 1.0):
        raise ValueError(
            f"sos: expected sos[:, 3] == 1 (normalised sections), got {arr[:, 3].tolist()}"
        )
    return np.ascontiguousarray(arr.astype(dtype))


def _block(x: Any) -> np.ndarray:
    """Check a functional kernel's input; its dtype and channel count set the rest."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a numpy.ndarray (samples, channels), got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"x: expected dtype float32 or float64, got {x.dtype}")
    if x.ndim != 2:
        raise ValueError(
            f"x: expected a 2-D array (samples, channels), got {x.ndim}-D with shape {x.shape}"
        )
    _filters_ref.check_block(x, x.shape[1], x.dtype, "x")
    return x


def _state_array(name: str, arr: Any, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
    want = np.dtype(dtype)
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(arr).__name__}")
    if arr.dtype != want:
        raise TypeError(f"{name}: expected dtype {want.name}, got {arr.dtype}")
    if arr.shape != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {arr.shape}")
    if not arr.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous array, got strides {arr.strides}")
    if not arr.flags.writeable:
        raise ValueError(f"{name}: expected a writeable array (it is updated in place)")
    return arr


def _guard_state(
    hold: Any, nan_count: Any, n_channels: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    h = (
        np.zeros(n_channels, dtype)
        if hold is None
        else _state_array("hold", hold, dtype, (n_channels,))
    )
    c = (
        np.zeros(n_channels, np.int64)
        if nan_count is None
        else _state_array("nan_count", nan_count, np.int64, (n_channels,))
    )
    return h, c


# --------------------------------------------------------------------------- design


def _butter_zpk(order: int, warped: np.ndarray, btype: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Analog Butterworth prototype moved to the warped corner(s) (as scipy's iirfilter)."""
    m = np.arange(-order + 1, order, 2)
    p = -np.exp(1j * np.pi * m / (2 * order))
    z = np.zeros(0, complex)
    k = 1.0
    degree = len(p) - len(z)
    if btype == "lowpass":
        wo = warped[0]
        return wo * z, wo * p, k * wo**degree
    if btype == "highpass":
        wo = warped[0]
        z_hp = np.append(wo / z, np.zeros(degree))
        return z_hp, wo / p, k * float(np.real(np.prod(-z) / np.prod(-p)))
    bw = warped[1] - warped[0]
    wo = math.sqrt(warped[0] * warped[1])
    z_lp = z * bw / 2
    p_lp = p * bw / 2
    z_bp = np.concatenate((z_lp + np.sqrt(z_lp**2 - wo**2), z_lp - np.sqrt(z_lp**2 - wo**2)))
    p_bp = np.concatenate((p_lp + np.sqrt(p_lp**2 - wo**2), p_lp - np.sqrt(p_lp**2 - wo**2)))
    return np.append(z_bp, np.zeros(degree)), p_bp, k * bw**degree


def _bilinear(
    z: np.ndarray, p: np.ndarray, k: float, fs: float
) -> tuple[np.ndarray, np.ndarray, float]:
    degree = len(p) - len(z)
    fs2 = 2.0 * fs
    z_z = np.append((fs2 + z) / (fs2 - z), -np.ones(degree))
    p_z = (fs2 + p) / (fs2 - p)
    return z_z, p_z, k * float(np.real(np.prod(fs2 - z) / np.prod(fs2 - p)))


def _split_conjugates(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(upper-half complex values sorted by real part then |imag|, real values sorted)."""
    v = np.asarray(v, complex)
    real = np.abs(v.imag) <= 100 * np.finfo(float).eps * np.abs(v)
    zr = np.sort(v[real].real)
    zc = v[~real & (v.imag > 0)]
    zc = zc[np.lexsort((np.abs(zc.imag), zc.real))]
    return zc, zr


def _section(z: Sequence[complex], p: Sequence[complex]) -> np.ndarray:
    b = np.real(np.poly(z)) if len(z) else np.ones(1)
    a = np.real(np.poly(p))
    sos = np.zeros(6)
    sos[3 - len(b) : 3] = b
    sos[6 - len(a) : 6] = a
    return sos


def _zpk2sos(z: np.ndarray, p: np.ndarray, k: float) -> np.ndarray:
    """Pole-zero pairing into sections, the "worst" (nearest the unit circle) pole last.

    Follows scipy's ``zpk2sos(pairing="nearest")`` so that designs compare
    section by section with ``scipy.signal.butter(..., output="sos")``.
    """
    n = max(len(p), len(z))
    z = np.concatenate((z, np.zeros(n - len(z))))
    p = np.concatenate((p, np.zeros(n - len(p))))
    n_sections = (n + 1) // 2
    if n % 2 == 1:
        z = np.append(z, 0.0)
        p = np.append(p, 0.0)
    zc, zr = _split_conjugates(z)
    pc, pr = _split_conjugates(p)
    zs = np.concatenate((zc, zr.astype(complex)))
    ps = np.concatenate((pc, pr.astype(complex)))

    def worst(v: np.ndarray) -> int:
        return int(np.argmin(np.abs(1 - np.abs(v))))

    def nearest(v: np.ndarray, to: complex, which: str) -> int:
        order = np.argsort(np.abs(v - to))
        if which == "any":
            return int(order[0])
        mask = np.isreal(v[order])
        if which == "complex":
            mask = ~mask
        return int(order[np.nonzero(mask)[0][0]])

    sos = np.zeros((n_sections, 6))
    for si in range(n_sections - 1, -1, -1):
        i1 = worst(ps)
        p1 = ps[i1]
        ps = np.delete(ps, i1)
        if np.isreal(p1) and np.isreal(ps).sum() == 0:
            j = nearest(zs, p1, "real")
            sos[si] = _section([zs[j], 0], [p1, 0])
            zs = np.delete(zs, j)
            continue
        if (
            len(ps) + 1 == len(zs)
            and not np.isreal(p1)
            and np.isreal(ps).sum() == 1
            and np.isreal(zs).sum() == 1
        ):
            j = nearest(zs, p1, "complex")
            sos[si] = _section([zs[j], zs[j].conj()], [p1, p1.conj()])
            zs = np.delete(zs, j)
            continue
        if np.isreal(p1):
            reals = np.flatnonzero(np.isreal(ps))
            i2 = int(reals[worst(ps[reals])])
            p2 = ps[i2]
            ps = np.delete(ps, i2)
        else:
            p2 = p1.conj()
        if len(zs) == 0:
            sos[si] = _section([], [p1, p2])
            continue
        j = nearest(zs, p1, "any")
        z1 = zs[j]
        zs = np.delete(zs, j)
        if not np.isreal(z1):
            sos[si] = _section([z1, z1.conj()], [p1, p2])
        elif len(zs) > 0:
            j2 = nearest(zs, p1, "real")
            sos[si] = _section([z1, zs[j2]], [p1, p2])
            zs = np.delete(zs, j2)
        else:
            sos[si] = _section([z1], [p1, p2])
    sos[0, :3] *= k
    return sos


def butter(
    order: int, cutoff_hz: float | Sequence[float], fs: float, btype: str = "lowpass"
) -> np.ndarray:
    """Digital Butterworth filter as second-order sections (float64, scipy's layout).

    ``btype`` is ``"lowpass"``, ``"highpass"`` (``cutoff_hz`` a number) or
    ``"bandpass"`` (``cutoff_hz`` = (low, high)). Bilinear transform with
    pre-warped corners, as ``scipy.signal.butter(order, cutoff_hz, btype, fs=fs,
    output="sos")``, without depending on scipy.
    """
    order = _int("order", order, 1)
    fs = _positive("fs", fs)
    nyquist = fs / 2
    if btype in ("lowpass", "highpass"):
        if isinstance(cutoff_hz, Sequence | np.ndarray):
            raise TypeError(f"cutoff_hz: expected one frequency for a {btype}, got {cutoff_hz!r}")
        fc = _positive("cutoff_hz", cutoff_hz)
        if not fc < nyquist:
            raise ValueError(
                f"cutoff_hz: expected 0 < cutoff_hz < fs/2 = {nyquist:g} Hz, got {fc:g}"
            )
        edges = np.array([fc])
    elif btype == "bandpass":
        if not isinstance(cutoff_hz, Sequence | np.ndarray) or len(cutoff_hz) != 2:
            raise TypeError(
                f"cutoff_hz: expected (low_hz, high_hz) for a bandpass, got {cutoff_hz!r}"
            )
        lo = _positive("low_hz", cutoff_hz[0])
        hi = _positive("high_hz", cutoff_hz[1])
        if not lo < hi < nyquist:
            raise ValueError(
                f"cutoff_hz: expected 0 < low_hz < high_hz < fs/2 = {nyquist:g} Hz, "
                f"got ({lo:g}, {hi:g})"
            )
        edges = np.array([lo, hi])
    else:
        raise ValueError(f"btype: expected 'lowpass', 'highpass' or 'bandpass', got {btype!r}")
    # scipy's normalisation: frequencies relative to Nyquist, design at fs = 2
    wn = edges / nyquist
    warped = 4.0 * np.tan(np.pi * wn / 2.0)
    z, p, k = _butter_zpk(order, warped, btype)
    z, p, k = _bilinear(z, p, k, 2.0)
    return _zpk2sos(z, p, k)


def ema_alpha(tau_s: float, fs: float) -> float:
    """Smoothing factor of a one-pole filter with time constant ``tau_s`` at rate ``fs``."""
    return -math.expm1(-1.0 / (_positive("tau_s", tau_s) * _positive("fs", fs)))


# --------------------------------------------------------------------------- functional kernels


def sosfilt(
    sos: Any,
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
    x = _block(x)
    dt, c = x.dtype, x.shape[1]
    s = _sos(sos, dt)
    zi = _state_array("zi", zi, dt, (s.shape[0], 2, c))
    h, nc = _guard_state(hold, nan_count, c, dt)
    return _impl.SosKernel(s, zi, h, nc).run(x, out)


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
    a = _positive("alpha", alpha)
    if a > 1.0:
        raise ValueError(f"alpha: expected 0 < alpha <= 1, got {alpha!r}")
    x = _block(x)
    zi = _state_array("zi", zi, x.dtype, (x.shape[1],))
    h, nc = _guard_state(hold, nan_count, x.shape[1], x.dtype)
    return _impl.EmaKernel(a, zi, h, nc).run(x, out)


@dataclass(frozen=True, slots=True)
class MedianState:
    """Caller-owned state of a running median / Hampel filter (see ``median_state``)."""

    ring: np.ndarray  # (channels, window): last samples, ring[:, pos] the oldest
    srt: np.ndarray  # (channels, window): the same values, sorted
    pos: np.ndarray  # (1,) int64
    hold: np.ndarray  # (channels,): last finite input (NaN rule)
    nan_count: np.ndarray  # (channels,) int64


def median_state(window: int, n_channels: int, dtype: Any = np.float64) -> MedianState:
    """Fresh state for ``running_median``/``hampel``: a window of zeros."""
    w = _odd_window(window)
    c = _int("n_channels", n_channels, 1)
    dt = _dtype(dtype)
    return MedianState(
        np.zeros((c, w), dt), np.zeros((c, w), dt), np.zeros(1, np.int64),
        np.zeros(c, dt), np.zeros(c, np.int64),
    )  # fmt: skip


def _median_kernel(x: np.ndarray, state: MedianState, scale: float | None) -> Any:
    if not isinstance(state, MedianState):
        raise TypeError(f"state: expected a MedianState, got {type(state).__name__}")
    c, dt = x.shape[1], x.dtype
    ring = _state_array("state.ring", state.ring, dt, (c, state.ring.shape[-1]))
    _odd_window(ring.shape[1])
    srt = _state_array("state.srt", state.srt, dt, ring.shape)
    _state_array("state.pos", state.pos, np.int64, (1,))
    h, nc = _guard_state(state.hold, state.nan_count, c, dt)
    return _impl.MedianKernel(ring, srt, state.pos, h, nc, scale)


def running_median(x: np.ndarray, state: MedianState, out: np.ndarray | None = None) -> np.ndarray:
    """Trailing-window median per channel; ``state`` from ``median_state``."""
    return _median_kernel(_block(x), state, None).run(x, out)


def _threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise TypeError(f"threshold: expected a number, got {type(threshold).__name__}")
    t = float(threshold)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"threshold: expected a finite number >= 0, got {threshold!r}")
    return t


def hampel(
    x: np.ndarray, state: MedianState, threshold: float = 3.0, out: np.ndarray | None = None
) -> np.ndarray:
    """Hampel spike filter (running median + MAD test); ``state`` from ``median_state``."""
    scale = _threshold(threshold) * MAD_SCALE
    return _median_kernel(_block(x), state, scale).run(x, out)


@dataclass(frozen=True, slots=True)
class DecimatorState:
    """Caller-owned state of ``decimate``: biquad state, phase and the NaN-rule arrays."""

    zi: np.ndarray  # (n_sections, 2, channels)
    phase: np.ndarray  # (1,) int64: samples to drop before the next kept one
    hold: np.ndarray
    nan_count: np.ndarray


def decimator_state(n_sections: int, n_channels: int, dtype: Any = np.float64) -> DecimatorState:
    c = _int("n_channels", n_channels, 1)
    dt = _dtype(dtype)
    ns = _int("n_sections", n_sections, 1)
    return DecimatorState(
        np.zeros((ns, 2, c), dt), np.zeros(1, np.int64), np.zeros(c, dt), np.zeros(c, np.int64)
    )


def decimate(
    sos: Any, factor: int, x: np.ndarray, state: DecimatorState, out: np.ndarray | None = None
) -> np.ndarray:
    """Low-pass ``x`` through ``sos`` and keep every ``factor``-th sample (phase carried).

    ``out``, if given, needs at least as many rows as this chunk produces; the
    returned array is ``out[:rows]``.
    """
    x = _block(x)
    f = _int("factor", factor, 1)
    if not isinstance(state, DecimatorState):
        raise TypeError(f"state: expected a DecimatorState, got {type(state).__name__}")
    s = _sos(sos, x.dtype)
    zi = _state_array("state.zi", state.zi, x.dtype, (s.shape[0], 2, x.shape[1]))
    phase = _state_array("state.phase", state.phase, np.int64, (1,))
    if not 0 <= phase[0] < f:
        raise ValueError(f"state.phase: expected 0 <= phase < {f}, got {phase[0]}")
    h, nc = _guard_state(state.hold, state.nan_count, x.shape[1], x.dtype)
    return _impl.DecimateKernel(s, zi, phase, f, h, nc).run(x, out)


@dataclass(frozen=True, slots=True)
class StatsState:
    """Caller-owned state of ``window_stats``."""

    acc: np.ndarray  # (4, channels) float64: sum, sum of squares, min, max
    count: np.ndarray  # (1,) int64: samples in the current window
    hold: np.ndarray
    nan_count: np.ndarray


def stats_state(n_channels: int, dtype: Any = np.float64) -> StatsState:
    c = _int("n_channels", n_channels, 1)
    dt = _dtype(dtype)
    acc = np.zeros((4, c))
    acc[2] = np.inf
    acc[3] = -np.inf
    return StatsState(acc, np.zeros(1, np.int64), np.zeros(c, dt), np.zeros(c, np.int64))


def window_stats(
    x: np.ndarray, window: int, state: StatsState, out: np.ndarray | None = None
) -> np.ndarray:
    """Mean, min, max, RMS, p2p per complete window: (windows, 5, channels)."""
    x = _block(x)
    w = _int("window", window, 1)
    if not isinstance(state, StatsState):
        raise TypeError(f"state: expected a StatsState, got {type(state).__name__}")
    acc = _state_array("state.acc", state.acc, np.float64, (4, x.shape[1]))
    count = _state_array("state.count", state.count, np.int64, (1,))
    if not 0 <= count[0] < w:
        raise ValueError(f"state.count: expected 0 <= count < {w}, got {count[0]}")
    h, nc = _guard_state(state.hold, state.nan_count, x.shape[1], x.dtype)
    return _impl.StatsKernel(w, acc, count, h, nc).run(x, out)


# --------------------------------------------------------------------------- stateful filters


class _Stream:
    """Common parts: channel count, dtype, NaN-rule state, and the bound kernel."""

    _kernel: Any

    def __init__(self, n_channels: int, dtype: Any, hold: float = 0.0):
        self.n_channels = _int("n_channels", n_channels, 1)
        self.dtype = _dtype(dtype)
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

    def __init__(self, sos: Any, n_channels: int, dtype: Any = np.float64, *, hold: float = 0.0):
        super().__init__(n_channels, dtype, hold)
        self.sos = _sos(sos, self.dtype)
        self.zi = np.zeros((self.sos.shape[0], 2, self.n_channels), self.dtype)
        self._bind(_impl.SosKernel(self.sos, self.zi, self.hold, self.nan_count))

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
        dtype: Any = np.float64,
        *,
        initial: float = 0.0,
        hold: float = 0.0,
    ):
        super().__init__(n_channels, dtype, hold)
        self.alpha = ema_alpha(tau_s, fs)
        self.zi = np.full(self.n_channels, initial, self.dtype)
        self._initial = initial
        self._bind(_impl.EmaKernel(self.alpha, self.zi, self.hold, self.nan_count))

    def reset(self, value: float | np.ndarray | None = None) -> None:
        self.zi[:] = self._initial if value is None else value
        self._reset_guard()


class RunningMedian(_Stream):
    """Trailing-window median of odd length ``window`` per channel (delay ``window // 2``)."""

    _scale: float | None = None

    def __init__(self, window: int, n_channels: int, dtype: Any = np.float64, *, hold: float = 0.0):
        super().__init__(n_channels, dtype, hold)
        self.window = _odd_window(window)
        self.delay = self.window // 2
        self.ring = np.zeros((self.n_channels, self.window), self.dtype)
        self.srt = np.zeros_like(self.ring)
        self.pos = np.zeros(1, np.int64)
        self._bind(
            _impl.MedianKernel(
                self.ring, self.srt, self.pos, self.hold, self.nan_count, self._scale
            )
        )

    def reset(self) -> None:
        self.ring[:] = 0
        self.srt[:] = 0
        self.pos[:] = 0
        self._reset_guard()


class Hampel(RunningMedian):
    """Hampel spike filter: centre sample replaced by the window median when it lies
    more than ``threshold`` scaled MADs away (see the module docstring)."""

    def __init__(
        self,
        window: int,
        n_channels: int,
        threshold: float = 3.0,
        dtype: Any = np.float64,
        *,
        hold: float = 0.0,
    ):
        self.threshold = _threshold(threshold)
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
        dtype: Any = np.float64,
        *,
        order: int = 8,
        cutoff_hz: float | None = None,
        sos: Any = None,
        hold: float = 0.0,
    ):
        super().__init__(n_channels, dtype, hold)
        self.factor = _int("factor", factor, 1)
        self.fs = _positive("fs", fs)
        self.fs_out = self.fs / self.factor
        if sos is None:
            fc = 0.4 * self.fs / self.factor if cutoff_hz is None else cutoff_hz
            sos = butter(order, fc, self.fs, "lowpass")
        self.sos = _sos(sos, self.dtype)
        self.zi = np.zeros((self.sos.shape[0], 2, self.n_channels), self.dtype)
        self.phase = np.zeros(1, np.int64)
        self._bind(
            _impl.DecimateKernel(
                self.sos, self.zi, self.phase, self.factor, self.hold, self.nan_count
            )
        )

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

    def __init__(self, window: int, n_channels: int, dtype: Any = np.float64, *, hold: float = 0.0):
        super().__init__(n_channels, dtype, hold)
        self.window = _int("window", window, 1)
        st = stats_state(self.n_channels, self.dtype)
        self.acc, self.count = st.acc, st.count
        self._bind(_impl.StatsKernel(self.window, self.acc, self.count, self.hold, self.nan_count))

    def output_length(self, n: int) -> int:
        return (int(self.count[0]) + n) // self.window

    def reset(self) -> None:
        self.acc[:2] = 0
        self.acc[2] = np.inf
        self.acc[3] = -np.inf
        self.count[:] = 0
        self._reset_guard()


# --------------------------------------------------------------------------- chains


class Stage(Protocol):
    n_channels: int
    dtype: np.dtype
    nan_count: np.ndarray

    def process(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray: ...

    def output_length(self, n: int) -> int: ...


_STAGE_KEYS: dict[str, tuple[set[str], set[str]]] = {  # type: (required, optional)
    "hampel": ({"window"}, {"threshold"}),
    "median": ({"window"}, set()),
    "lowpass": ({"order", "cutoff_hz"}, set()),
    "highpass": ({"order", "cutoff_hz"}, set()),
    "bandpass": ({"order", "low_hz", "high_hz"}, set()),
    "ema": ({"tau_s"}, set()),
    "decimate": ({"factor"}, {"order", "cutoff_hz"}),
}


def _build_stage(spec: Mapping[str, Any], fs: float, c: int, dt: np.dtype) -> tuple[Stage, float]:
    kind = spec["type"]
    if kind == "hampel":
        return Hampel(spec["window"], c, spec.get("threshold", 3.0), dt), fs
    if kind == "median":
        return RunningMedian(spec["window"], c, dt), fs
    if kind in ("lowpass", "highpass"):
        return SosFilter(butter(spec["order"], spec["cutoff_hz"], fs, kind), c, dt), fs
    if kind == "bandpass":
        sos = butter(spec["order"], (spec["low_hz"], spec["high_hz"]), fs, "bandpass")
        return SosFilter(sos, c, dt), fs
    if kind == "ema":
        return Ema(spec["tau_s"], fs, c, dt), fs
    d = Decimator(
        spec["factor"], fs, c, dt, order=spec.get("order", 8), cutoff_hz=spec.get("cutoff_hz")
    )
    return d, d.fs_out


class FilterChain:
    """Filters applied in sequence to the same channels, e.g. Hampel -> low-pass -> decimate.

    Build with ``FilterChain.from_config(spec, fs, n_channels, dtype)``. Intermediate
    results go to buffers kept between calls (grown when a chunk is larger than any
    before), so only the final output is allocated, and not even that with ``out=``.
    """

    def __init__(self, stages: Sequence[Stage], fs: float, fs_out: float | None = None):
        if not stages:
            raise ValueError("stages: expected at least one stage, got none")
        self.stages = tuple(stages)
        first = self.stages[0]
        for i, st in enumerate(self.stages):
            if st.n_channels != first.n_channels or st.dtype != first.dtype:
                raise ValueError(
                    f"stages[{i}]: expected {first.n_channels} channels of {first.dtype}, "
                    f"got {st.n_channels} of {st.dtype}"
                )
        self.n_channels = first.n_channels
        self.dtype = first.dtype
        self.fs = _positive("fs", fs)
        self.fs_out = self.fs if fs_out is None else fs_out
        self._buffers: list[np.ndarray | None] = [None] * (len(self.stages) - 1)

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], fs: float, n_channels: int, dtype: Any = np.float64
    ) -> FilterChain:
        """Build from ``{"stages": [{"type": "hampel", "window": 7, ...}, ...]}``.

        Stage types and keys: hampel (window, threshold=3.0), median (window),
        lowpass/highpass (order, cutoff_hz), bandpass (order, low_hz, high_hz),
        ema (tau_s), decimate (factor, order=8, cutoff_hz=0.4*fs/factor). Frequencies
        after a decimate refer to the decimated rate. Raises ValueError naming the key.
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"config: expected a mapping, got {type(config).__name__}")
        unknown = set(config) - {"stages"}
        if unknown:
            raise ValueError(f"config: unknown keys {sorted(unknown)} (expected: 'stages')")
        specs = config.get("stages")
        if not isinstance(specs, Sequence) or isinstance(specs, str) or not specs:
            raise ValueError(f"stages: expected a non-empty list of stage tables, got {specs!r}")
        rate = _positive("fs", fs)
        c = _int("n_channels", n_channels, 1)
        dt = _dtype(dtype)
        stages: list[Stage] = []
        for i, spec in enumerate(specs):
            where = f"stages[{i}]"
            if not isinstance(spec, Mapping):
                raise ValueError(f"{where}: expected a table, got {spec!r}")
            kind = spec.get("type")
            if kind not in _STAGE_KEYS:
                raise ValueError(
                    f"{where}.type: expected one of {sorted(_STAGE_KEYS)}, got {kind!r}"
                )
            required, optional = _STAGE_KEYS[kind]
            extra = set(spec) - required - optional - {"type"}
            if extra:
                raise ValueError(
                    f"{where}.{sorted(extra)[0]}: unknown key for a {kind} stage "
                    f"(expected: {', '.join(sorted(required | optional))})"
                )
            missing = required - set(spec)
            if missing:
                raise ValueError(f"{where}.{sorted(missing)[0]}: required for a {kind} stage")
            try:
                stage, rate = _build_stage(spec, rate, c, dt)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{where} ({kind}): {err}") from err
            stages.append(stage)
        return cls(stages, fs, rate)

    @property
    def nan_count(self) -> np.ndarray:
        """Non-finite samples seen at the chain's input, per channel."""
        return self.stages[0].nan_count

    def output_length(self, n: int) -> int:
        for st in self.stages:
            n = st.output_length(n)
        return n

    def process(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Run ``x`` through every stage; ``out`` as for the last stage."""
        cur = x
        last = len(self.stages) - 1
        for i, st in enumerate(self.stages):
            if i == last:
                return st.process(cur, out)
            rows = st.output_length(cur.shape[0]) if isinstance(cur, np.ndarray) else 0
            buf = self._buffers[i]
            if buf is None or buf.shape[0] < rows:
                buf = self._buffers[i] = np.empty((max(rows, 1), self.n_channels), self.dtype)
            cur = st.process(cur, buf[:rows])
        raise AssertionError("unreachable")  # pragma: no cover
