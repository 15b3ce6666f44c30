"""The rover's estimate of the ground's clock, learnt from authenticated commands.

Theory of operation
-------------------
A rover without NTP or GNSS time has a wall clock that may be off by hours, and it
may be stepped in the middle of a run (NTP arriving late). Command timing
(``control.core.command_timing``) compares the ground's timestamps with *ground*
time, so the signed gate keeps an estimate of it, in the spirit of MAVLink 2's
message signing ("a system without a reliable clock starts from the larger of its
clock and a persisted timestamp and moves forward to the timestamp of each
accepted signed message"):

* Before the first sample (``source = "rover"``) the estimate is
  ``max(rover wall clock, persisted floor)``. The floor is the estimate saved at
  every sample, so a restarted rover whose clock went back to 1970 starts from
  where it left off.
* A *sample* is the ``issued_at`` of a command whose signature verified and whose
  counter is fresh (a replay never gets this far). It proves the ground's clock
  read at least ``issued_at`` when it arrived. From then on the estimate is
  anchored on the monotonic clock (``ground = anchor + (mono - anchor_mono)``), so
  a step of the rover's wall clock changes nothing (``source = "ground"``).
* **Forward** moves are unbounded: the estimate jumps to any sample ahead of it.
  A genuine timestamp is never later than the ground's real time, so a captured
  command, however long it was held back, can only move the estimate towards the
  truth, never past it.
* **Backward** moves are the dangerous direction (they make held-back commands
  look fresh) and are bounded. A sample more than ``tolerance_s`` (the clock-skew
  allowance, which covers transit) behind the estimate moves it back, and only if
  it is later than every earlier sample of its station (so no station's old
  message, replayed or reordered, can pull the clock back twice). Before the first
  sample the move is unbounded down to the persisted floor (the rover's own clock
  is what is in doubt); once synced, by at most ``step_back_s`` at once, an
  allowance that refills at ``slew_back_rate`` seconds per second.
* The command whose sample moves the estimate back is judged by the estimate
  *before* the move (``observe`` returns that), so one held-back command cannot
  both pull the clock back and pass because of it; the next command is judged by
  the corrected clock.

``GroundClock`` is pure: every entry point takes the rover's wall and monotonic
readings. It is not thread-safe; the authenticator serialises access.
"""

from __future__ import annotations

from dataclasses import dataclass

from control.core.command_timing import ClockStatus

__all__ = ["GroundClock", "GroundClockConfig"]


@dataclass(frozen=True, slots=True)
class GroundClockConfig:
    tolerance_s: float = 5.0  # samples this far behind the estimate are normal transit
    step_back_s: float = 10.0  # synced: at most this far back at once
    slew_back_rate: float = 0.01  # ...refilling at this many seconds per second


class GroundClock:
    """See the module docstring."""

    def __init__(self, config: GroundClockConfig | None = None,
                 floor: float | None = None) -> None:
        self.config = config or GroundClockConfig()
        self.floor = floor  # persisted lower bound of ground time (epoch s)
        self._anchor: float | None = None  # ground time at _anchor_mono, once synced
        self._anchor_mono = 0.0
        self._last_sample_mono: float | None = None
        self._station_last: dict[str, float] = {}
        self._allowance = self.config.step_back_s
        self._allowance_mono: float | None = None
        self.moved_back_s = 0.0  # total, for the record

    @property
    def synced(self) -> bool:
        return self._anchor is not None

    def now(self, wall: float, mono: float) -> float:
        """The estimated ground time when the rover reads ``wall`` and ``mono``."""
        if self._anchor is None:
            return wall if self.floor is None else max(wall, self.floor)
        return self._anchor + (mono - self._anchor_mono)

    def observe(self, station: str, issued_at: float, wall: float, mono: float) -> float:
        """Learn from one authenticated, fresh command; returns the ground time to judge
        that command by (see the module docstring)."""
        before = self.now(wall, mono)
        synced = self._anchor is not None
        floor = self.floor
        last = self._station_last.get(station)
        newer = last is None or issued_at > last
        if newer:
            self._station_last[station] = issued_at
        self._last_sample_mono = mono
        self.floor = issued_at if floor is None else max(floor, issued_at)
        allowance = self._refill(mono)
        if issued_at > before:
            self._anchor_at(issued_at, mono)
            return issued_at
        target = before
        behind = before - issued_at
        if behind > self.config.tolerance_s and newer:
            target = before - min(behind, allowance) if synced else issued_at
            if floor is not None:
                target = max(target, floor)
            if synced:
                self._allowance -= before - target
            self.moved_back_s += before - target
        self._anchor_at(target, mono)
        return before

    def _refill(self, mono: float) -> float:
        cfg = self.config
        if self._allowance_mono is not None:
            self._allowance = min(cfg.step_back_s, self._allowance
                                  + (mono - self._allowance_mono) * cfg.slew_back_rate)
        self._allowance_mono = mono
        return self._allowance

    def _anchor_at(self, ground: float, mono: float) -> None:
        self._anchor, self._anchor_mono = ground, mono

    def status(self, wall: float, mono: float) -> ClockStatus:
        """Offset and age for the state message."""
        age = None if self._last_sample_mono is None else max(0.0, mono - self._last_sample_mono)
        return ClockStatus(self.now(wall, mono) - wall, age,
                           "ground" if self._last_sample_mono is not None else "rover")
