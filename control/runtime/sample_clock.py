"""How fast the firmware's sample clock runs against the controller's wall clock.

A simulator runs at a time scale (``rig-sim --time-scale``), and a configuration that
disagrees with it makes every age and rate wrong. ``SampleClock`` notes, for each
batch, the sample time its last sample ends at and when it arrived; once a second of
wall time has passed it measures the ratio (sample seconds per wall second), which
the app compares with the configured time scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SampleClock"]


@dataclass(slots=True)
class SampleClock:
    arrival: float = -math.inf  # wall time (``loop.time()``) of the newest batch
    last_t_us: int = 0  # sample time the newest batch ends at, us
    first_t_us: int | None = None  # ... the first batch since the last reset
    first_arrival: float = 0.0

    def note(self, t_end_us: int, arrival: float) -> None:
        """A batch ending at sample time *t_end_us* arrived at wall time *arrival*."""
        self.arrival = arrival
        if self.first_t_us is None:
            self.first_t_us, self.first_arrival = t_end_us, arrival
        self.last_t_us = t_end_us

    def time_scale(self) -> float | None:
        """Sample seconds per wall second, or None before a second of wall time."""
        if self.first_t_us is None or self.arrival - self.first_arrival < 1.0:
            return None
        return (self.last_t_us - self.first_t_us) / 1e6 / (self.arrival - self.first_arrival)

    def reset(self) -> None:
        """After a link loss: data reads stale until new batches arrive."""
        self.arrival = -math.inf
        self.first_t_us = None
