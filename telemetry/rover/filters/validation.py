"""Argument checks shared by the filter modules: each names the argument and what it got.

Every check returns the normalised value (an ``int``, a ``float``, a C-contiguous
array of the right dtype) or raises ``TypeError`` for a wrong type or dtype and
``ValueError`` for a wrong shape, layout or value.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from telemetry.rover.filters import _filters_ref

__all__ = [
    "guard_state",
    "valid_block",
    "valid_dtype",
    "valid_int",
    "valid_odd_window",
    "valid_positive",
    "valid_sos",
    "valid_state_array",
    "valid_threshold",
]


def valid_dtype(dtype: npt.DTypeLike) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"dtype: expected float32 or float64, got {dtype!r}") from err
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype: expected float32 or float64, got {dt}")
    return dt


def valid_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def valid_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name}: expected a finite number > 0, got {value!r}")
    return v


def valid_odd_window(window: object) -> int:
    w = valid_int("window", window, 1)
    if w % 2 == 0:
        raise ValueError(f"window: expected an odd length, got {w}")
    return w


def valid_sos(sos: npt.ArrayLike, dtype: np.dtype) -> np.ndarray:
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


def valid_block(x: npt.ArrayLike) -> np.ndarray:
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


def valid_state_array(name: str, arr: npt.ArrayLike, dtype: npt.DTypeLike,
                      shape: tuple[int, ...]) -> np.ndarray:
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


def guard_state(
    hold: npt.ArrayLike, nan_count: npt.ArrayLike, n_channels: int, dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    h = (
        np.zeros(n_channels, dtype)
        if hold is None
        else valid_state_array("hold", hold, dtype, (n_channels,))
    )
    c = (
        np.zeros(n_channels, np.int64)
        if nan_count is None
        else valid_state_array("nan_count", nan_count, np.int64, (n_channels,))
    )
    return h, c


def valid_threshold(threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise TypeError(f"threshold: expected a number, got {type(threshold).__name__}")
    t = float(threshold)
    if not (math.isfinite(t) and t >= 0):
        raise ValueError(f"threshold: expected a finite number >= 0, got {threshold!r}")
    return t
