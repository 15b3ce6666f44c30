"""Stuck-sensor judgement that holds on real, noiseless sensors.

Theory of operation
-------------------
A flat reading alone says nothing about a real sensor: an encoder, a load
cell or an inclinometer reads bit-identical counts while nothing moves. A
channel is suspect only when it does not respond to what the rig is doing:

* A channel that always shows noise is stuck when its counts sit still for
  ``interlocks.stuck_s``, whatever the rig does. The firmware says which
  channels those are (protocol 1.2, ``noise_floor_counts`` > 0 in the channel
  table: ``Measurements.noisy``); ``interlocks.noisy_channels`` adds channels
  an operator knows to be noisy on a firmware that does not say.
* Any other channel has a *cause* (``CAUSES``): something the controller
  commands that must move it. It is stuck when its counts stayed
  bit-identical for ``stuck_s`` after its cause moved by more than the
  cause's threshold from where it was when the channel last changed. The
  drum speed set-point moves drum_speed and vibration (the scoops' impacts);
  the arm's depth set-point moves arm_position, and cut_depth while the drum
  is below the surface (above it cut_depth reads 0 by definition, and the
  arm can travel for seconds before it touches).
* A channel with neither (the currents, pitch, roll, motor_temp, the
  battery's channels, unless declared noisy) is never judged by flatness;
  its plausibility range still is. A current is legitimately flat: at the
  driver's clamp during a rock strike, at 0 with the motor off, at the arm's
  full-rate draw while the arm travels.

The drum channels are not judged while drum_speed reads near standstill: a
speed sensor frozen at 0 reads as a stall to the dig strategy, which stops
the drum (safe), and a jammed drum (no rotation, no scoop impacts) must not
read as a failed sensor. While no set-points reach powered motors (motors
off or not enabled by the firmware, stopping) nothing is commanded, so
nothing is judged by cause.

``ResponseTracker`` is the per-channel rule, also used by the mass estimator
for the load cell (the model mass is its cause). Pure: *now* and *dt* are
plant seconds, ``unchanged_for`` is sample time from the feed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .config import InterlockConfig
from .measurements import Measurements
from .step_messages import SetpointCommand

__all__ = ["CAUSES", "ResponseTracker", "StuckSensors"]

#: channel -> the set-point that must move it ("drum": drum speed, "arm": cut depth)
CAUSES: dict[str, str] = {
    "drum_speed": "drum", "vibration": "drum", "arm_position": "arm", "cut_depth": "arm",
}
_CAUSE_TEXT = {"drum": "the drum speed set-point", "arm": "the arm depth set-point"}
_BELOW_SURFACE_M = 0.002  # arm_position below -this: the drum is in the ground


@dataclass(slots=True)
class ResponseTracker:
    """How long a channel has stayed bit-identical since its cause moved by more than
    ``threshold`` from its value at the channel's last change (0 while it responds)."""

    threshold: float
    _ref: float | None = None
    _moved_at: float | None = None
    _prev_flat: float = math.inf

    def reset(self) -> None:
        self._ref = self._moved_at = None
        self._prev_flat = math.inf

    def update(self, now: float, dt: float, flat: float | None, cause: float | None) -> float:
        if cause is None or flat is None or not math.isfinite(cause):
            self.reset()
            return 0.0
        # the counts changed since the previous update: the flat time went down, or
        # the last change is at most one control period old
        changed = flat < self._prev_flat - 1e-12 or flat <= dt
        self._prev_flat = flat
        if changed or self._ref is None:
            self._ref, self._moved_at = cause, None
            return 0.0
        if self._moved_at is None:
            if abs(cause - self._ref) > self.threshold:
                self._moved_at = now
            return 0.0
        return now - self._moved_at


class StuckSensors:
    """Which of ``stuck_channels`` do not respond, each update (see the module docstring)."""

    def __init__(self, config: InterlockConfig) -> None:
        self.config = config
        self._declared = frozenset(config.noisy_channels)
        self._trackers = {
            name: ResponseTracker(config.drum_response_rad_s if CAUSES[name] == "drum"
                                  else config.arm_response_m)
            for name in config.stuck_channels if name in CAUSES}

    def flat_for(self, now: float, dt: float, m: Measurements,
                 setpoints: SetpointCommand | None) -> list[tuple[str, float, bool]]:
        """(channel, seconds not responding, judged by noise) for each stuck channel."""
        out = []
        noisy = m.noisy | self._declared if self._declared else m.noisy
        for name in self.config.stuck_channels:
            flat = m.unchanged_for.get(name)
            tracker = self._trackers.get(name)
            if name in noisy:
                out.append((name, flat or 0.0, True))
                if tracker is not None:
                    tracker.reset()
            elif tracker is not None:
                cause = self._cause(name, m, setpoints)
                out.append((name, tracker.update(now, dt, flat, cause), False))
            else:  # not judged by flatness: clear (a latch from a noisy firmware lifts)
                out.append((name, 0.0, False))
        return out

    def reason(self, name: str, flat: float, by_noise: bool) -> str:
        if by_noise:
            return f"{name} sensor stuck for {flat:.1f} s"
        return (f"{name} sensor stuck: bit-identical for {flat:.1f} s after "
                f"{_CAUSE_TEXT[CAUSES[name]]} moved")

    def _cause(self, name: str, m: Measurements,
               setpoints: SetpointCommand | None) -> float | None:
        if setpoints is None:
            return None  # nothing commanded: nothing to respond to
        if CAUSES[name] == "drum":
            if not abs(m.drum_speed) >= 0.5 * self.config.drum_response_rad_s:
                return None  # standstill (or no reading): a stall, not a sensor (docstring)
            return setpoints.drum_speed
        if name == "cut_depth" and not m.arm_position < -_BELOW_SURFACE_M:
            return None  # above the surface cut_depth reads 0 whatever the arm does
        return setpoints.cut_depth
