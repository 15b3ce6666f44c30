"""Plant time versus wall time: the one place the controller converts between them.

The rig's physics runs in *plant seconds*. On the rover plant time is wall
time (``time_scale = 1``). The simulator can run its physics and its sample
timestamps ``K`` times faster than the wall clock (``--time-scale K``) while
the link (heartbeats, firmware watchdog, command deadlines) stays on wall
time. The controller follows the same split:

* the control core (strategy gains, interlock hold times, sensor ages, the
  mass integral) works in plant seconds: ``now = K * (loop.time() - origin)``
  and ``dt = K / rate_hz`` for a loop ticking at ``rate_hz`` on the wall
  clock;
* everything that talks to the link (set-point and command TTLs, command
  timeouts, the firmware watchdog) is in wall seconds and is handled by the
  bridge.

So at ``K = 5`` a 100 Hz wall loop is a 20 Hz plant-time controller; raise
``loop.rate_hz`` (up to 500) to keep the plant-time rate when the sim runs
fast. The app cross-checks ``K`` against the sample timestamps and warns if
they disagree by more than 20 %.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimeBase:
    time_scale: float = 1.0
    origin_wall: float = 0.0

    def plant(self, wall: float) -> float:
        """Plant seconds since the origin at wall (``loop.time()``) time *wall*."""
        return (wall - self.origin_wall) * self.time_scale

    def plant_interval(self, wall_seconds: float) -> float:
        return wall_seconds * self.time_scale
