"""Butterworth design as second-order sections, and the EMA smoothing factor.

``butter`` matches ``scipy.signal.butter(..., output="sos")`` section by section
(analog prototype, pre-warped bilinear transform, scipy's "nearest" pole-zero
pairing) without depending on scipy at run time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from telemetry.rover.filters.validation import valid_int, valid_positive

__all__ = ["butter", "ema_alpha"]


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
    order = valid_int("order", order, 1)
    fs = valid_positive("fs", fs)
    nyquist = fs / 2
    if btype in ("lowpass", "highpass"):
        if isinstance(cutoff_hz, Sequence | np.ndarray):
            raise TypeError(f"cutoff_hz: expected one frequency for a {btype}, got {cutoff_hz!r}")
        fc = valid_positive("cutoff_hz", cutoff_hz)
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
        lo = valid_positive("low_hz", cutoff_hz[0])
        hi = valid_positive("high_hz", cutoff_hz[1])
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
    return -math.expm1(-1.0 / (valid_positive("tau_s", tau_s) * valid_positive("fs", fs)))
