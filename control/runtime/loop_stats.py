"""Control-loop timing statistics in constant memory, for the run summary and the bench.

Theory of operation
-------------------
The loop records, every tick, how late it woke (lateness) and how long the step
took (compute), and for every set-point sent, the age of the newest sample behind
it (sensor-to-set-point latency). A service that runs for months cannot keep
them all, so each goes into a ``LogHistogram``: log-spaced bins from 1 us to
100 s, 1 % apart, counted. Memory is fixed (about 1900 counters each); a
quantile read from it is within 1 % of the true value at that rank (below 1 us:
reported as 0); the maximum is kept exactly. Quantiles use numpy's default
rank (``q/100 * (n - 1)``), so short runs read as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["LogHistogram", "LoopStats"]


class LogHistogram:
    """Counts of positive values in log-spaced bins (``ratio`` apart from ``lo`` to
    ``hi``); values at or below ``lo`` share the first bin, above ``hi`` the last."""

    __slots__ = ("_counts", "_inv_log_ratio", "count", "hi", "lo", "max", "min", "ratio")

    def __init__(self, lo: float = 1e-6, hi: float = 100.0, ratio: float = 1.01) -> None:
        if not 0 < lo < hi or not ratio > 1:
            raise ValueError(f"expected 0 < lo < hi and ratio > 1, got {lo}, {hi}, {ratio}")
        self.lo, self.hi, self.ratio = lo, hi, ratio
        self._inv_log_ratio = 1.0 / math.log(ratio)
        n = math.ceil(math.log(hi / lo) * self._inv_log_ratio)
        self._counts = [0] * (n + 2)  # [0]: <= lo, [1..n]: (lo*r^(i-1), lo*r^i], [n+1]: > hi
        self.count = 0
        self.min = math.inf
        self.max = -math.inf

    @property
    def bins(self) -> int:
        """How many counters the histogram holds (fixed at construction)."""
        return len(self._counts)

    def add(self, value: float) -> None:
        """Count ``value`` (NaN is ignored)."""
        if value != value:
            return
        self.count += 1
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if value <= self.lo:
            i = 0
        elif value > self.hi:
            i = len(self._counts) - 1
        else:
            i = min(len(self._counts) - 2,
                    1 + int(math.log(value / self.lo) * self._inv_log_ratio))
        self._counts[i] += 1

    def quantile(self, q: float) -> float:
        """The value at percentile ``q`` (0-100); NaN when nothing was counted."""
        if self.count == 0:
            return math.nan
        rank = min(self.count - 1, max(0, math.floor(q / 100.0 * (self.count - 1))))
        seen = 0
        for i, c in enumerate(self._counts):
            seen += c
            if seen > rank:
                return self._representative(i)
        return self.max  # pragma: no cover - ranks stop at count - 1

    def _representative(self, i: int) -> float:
        if i == 0:
            return min(max(self.min, 0.0), self.lo)  # below the resolution
        if i == len(self._counts) - 1:
            return self.max
        upper = self.lo * self.ratio ** i
        centre = upper / math.sqrt(self.ratio)
        return min(max(centre, self.min), self.max)


@dataclass(slots=True)
class LoopStats:
    lateness: LogHistogram = field(default_factory=LogHistogram)  # s, per tick
    compute: LogHistogram = field(default_factory=LogHistogram)  # s, per tick
    latency: LogHistogram = field(default_factory=LogHistogram)  # sensor -> set-points sent
    ticks: int = 0
    missed: int = 0

    def tick(self, lateness: float, compute: float) -> None:
        """One control tick: woke ``lateness`` s after its deadline, stepped in ``compute``."""
        self.ticks += 1
        self.lateness.add(lateness)
        self.compute.add(compute)

    def summary(self) -> dict[str, float]:
        ms = 1e3
        late = self.lateness
        return {
            "ticks": self.ticks, "missed": self.missed,
            "lateness_p50_ms": late.quantile(50) * ms,
            "lateness_p99_ms": late.quantile(99) * ms,
            "lateness_max_ms": (late.max if late.count else math.nan) * ms,
            "compute_p99_ms": self.compute.quantile(99) * ms,
            "latency_p50_ms": self.latency.quantile(50) * ms,
            "latency_p99_ms": self.latency.quantile(99) * ms,
        }
