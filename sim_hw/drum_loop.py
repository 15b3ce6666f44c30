"""The firmware's drum speed loop and its current/stall watch (pure, simulated time).

A PI speed loop on a ramped reference with a hard current limit and
conditional integration (the integrator only winds toward the limit while
the output is not saturated the same way). ``step`` returns the current
demand; ``brake`` is the controlled stop (current against the motion, up to
the limit, fading to zero at standstill); ``watch`` reports the drum
sitting at its current limit for 100 ms (CURRENT_LIMIT) and a stall (at
the limit, |omega| < 0.2 rad/s while the reference asks for > 0.5 rad/s,
for 200 ms): each once until it clears.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.messages import EventCode, FirmwareSeverity

__all__ = ["DrumAlarm", "DrumSpeedLoop"]


@dataclass(frozen=True, slots=True)
class DrumAlarm:
    code: EventCode
    severity: FirmwareSeverity
    value: float
    text: str


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


class DrumSpeedLoop:
    """State of the speed loop: ``w_ref`` (ramped reference, rad/s) and ``integ`` (A)."""

    def __init__(self, accel: float) -> None:
        self.accel = accel  # rad/s^2 ramp of the reference
        self.w_ref = 0.0
        self.integ = 0.0
        self._limit_time = 0.0
        self._limit_clear_time = 0.0
        self._limit_reported = False
        self._stall_time = 0.0
        self._stall_reported = False

    def reset(self, omega: float) -> None:
        """Bumpless start from the drum's present speed."""
        self.w_ref = omega
        self.integ = 0.0

    def idle(self, omega: float) -> None:
        """Motors off: track the drum, clear the timers."""
        self.reset(omega)
        self._stall_time = self._limit_time = 0.0

    def step(self, target: float, omega: float, dt: float, *, limit: float, kp: float,
             ki: float) -> tuple[float, bool]:
        """(current demand A, saturated) for one step of *dt* s toward *target* rad/s."""
        step = self.accel * dt
        self.w_ref += _clamp(target - self.w_ref, -step, step)
        err = self.w_ref - omega
        i_cmd = kp * err + self.integ
        saturated = abs(i_cmd) >= limit
        if not saturated or (i_cmd > 0) != (err > 0):
            self.integ = _clamp(self.integ + ki * err * dt, -limit, limit)
        return _clamp(i_cmd, -limit, limit), saturated

    def brake(self, omega: float, *, limit: float, kp: float) -> tuple[float, bool]:
        """Active braking for a controlled stop: current against the motion, at most *limit*.

        Proportional to the speed (gain *kp*) so it fades out at standstill
        instead of driving the drum backwards; reference and integrator held at 0."""
        self.w_ref = 0.0
        self.integ = 0.0
        i_cmd = -kp * omega
        return _clamp(i_cmd, -limit, limit), abs(i_cmd) >= limit

    def watch(self, dt: float, saturated: bool, limit: float, omega: float) -> list[DrumAlarm]:
        alarms: list[DrumAlarm] = []
        if saturated:
            self._limit_time += dt
            self._limit_clear_time = 0.0
            if self._limit_time >= 0.1 and not self._limit_reported:
                self._limit_reported = True
                alarms.append(DrumAlarm(EventCode.CURRENT_LIMIT, FirmwareSeverity.WARNING, limit,
                                        f"drum current at its {limit:.1f} A limit"))
        else:
            self._limit_time = 0.0
            self._limit_clear_time += dt
            if self._limit_clear_time > 0.5:
                self._limit_reported = False
        if saturated and abs(omega) < 0.2 and abs(self.w_ref) > 0.5:
            self._stall_time += dt
            if self._stall_time >= 0.2 and not self._stall_reported:
                self._stall_reported = True
                alarms.append(DrumAlarm(EventCode.STALL, FirmwareSeverity.FAULT, limit,
                                        f"drum stalled at {limit:.1f} A"))
        elif abs(omega) > 1.0 or abs(self.w_ref) < 0.1:
            self._stall_time = 0.0
            self._stall_reported = False
        return alarms
