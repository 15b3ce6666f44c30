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

Implementations: the compiled kernels in ``telemetry.rover.filters._filters`` (Cython,
GIL released) and their pure-NumPy twin ``telemetry.rover.filters._filters_ref``
(same API, same results). ``IMPLEMENTATION`` says which one is loaded: ``"compiled"``
normally; ``"pure"`` if the environment variable ``RIG_FILTERS_PURE=1`` forces
the twin, or, logged at ERROR level, if the compiled module fails to import.
The rover must never run the slow path unnoticed (``backend`` picks it).

Modules, one job each: ``butterworth`` (design), ``functional`` (scipy-style
kernels over caller-owned state), ``streams`` (stateful filter objects),
``chain`` (``FilterChain`` and its configuration), ``validation`` (argument
checks), ``backend`` (which kernels run). This room imports nothing of ours
outside ``telemetry.rover.filters``.

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

from telemetry.rover.filters.backend import ENV_FORCE_PURE, IMPLEMENTATION
from telemetry.rover.filters.butterworth import butter, ema_alpha
from telemetry.rover.filters.chain import FilterChain, Stage
from telemetry.rover.filters.functional import (
    MAD_SCALE,
    STATS,
    DecimatorState,
    MedianState,
    StatsState,
    decimate,
    decimator_state,
    ema,
    hampel,
    median_state,
    running_median,
    sosfilt,
    stats_state,
    window_stats,
)
from telemetry.rover.filters.streams import (
    Decimator,
    Ema,
    Hampel,
    RunningMedian,
    SosFilter,
    WindowStats,
)

__all__ = [
    "ENV_FORCE_PURE",
    "IMPLEMENTATION",
    "MAD_SCALE",
    "STATS",
    "Decimator",
    "DecimatorState",
    "Ema",
    "FilterChain",
    "Hampel",
    "MedianState",
    "RunningMedian",
    "SosFilter",
    "Stage",
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
