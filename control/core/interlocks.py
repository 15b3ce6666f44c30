"""Safety interlocks: a separate layer that always wins over the strategy.

Theory of operation
-------------------
``Interlocks.update(now, dt, m, ground_link_ok)`` evaluates every check on the
current measurements and returns an ``InterlockReport``. A check *asserts*
when its condition has held for its hold time; it then stays *active*
(latched) until the condition has been clear for ``clear_hold_s``. Each check
has one reaction (docs/control.md, "Interlocks"):

* ``CONTROLLED_STOP`` (IEC 60204-1 category 1): the core ramps the set-points to
  zero, commands STOP, then disables the motors; mode FAULT.
* ``IMMEDIATE_STOP`` (category 0): the core latches the firmware e-stop, which
  cuts motor power at once; mode ESTOP.

The layer never reads the clock or the hardware: *now* and *dt* are plant
seconds. It does not care about the mode: the core applies trips to a powered
rig and uses ``active`` to refuse ARM / reset while a cause is present.
Firmware link loss is not a check here: the firmware's own watchdog stops the
motors (category 0) and the supervisor goes DISCONNECTED. A stuck sensor is one
that does not respond to what the rig does, not merely a flat one (real
sensors read bit-identical counts while nothing moves): the rules are in
``control.core.stuck_sensors``, which needs the set-points last sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from .config import InterlockConfig
from .measurements import FAST_CHANNELS, NAV_CHANNELS, Measurements
from .step_messages import SetpointCommand
from .stuck_sensors import StuckSensors


class Reaction(Enum):
    CONTROLLED_STOP = "controlled_stop"  # category 1
    IMMEDIATE_STOP = "immediate_stop"  # category 0


#: Physically plausible range of each channel; a reading outside is a sensor fault.
#: (bucket_load is left to the mass estimator: a failed load cell is distrusted,
#: not a reason to stop.)
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "drum_current": (-150.0, 150.0),
    "drum_speed": (-60.0, 60.0),
    "cut_depth": (-0.6, 0.6),
    "arm_current": (-100.0, 100.0),
    "pitch": (-75.0, 75.0),
    "roll": (-75.0, 75.0),
    "motor_temp": (-180.0, 200.0),
    "battery_voltage": (1.0, 120.0),
    "battery_current": (-300.0, 300.0),
    "vibration": (-500.0, 500.0),
    "arm_position": (-1.0, 1.0),
    "x": (-1e5, 1e5),
    "y": (-1e5, 1e5),
    "heading": (-10.0, 10.0),
    "battery_soc": (-1.0, 101.0),
}


_FAST_PLAUSIBLE = tuple(name for name in FAST_CHANNELS if name in PLAUSIBLE)
_IMPLAUSIBLE = {name: f"implausible:{name}" for name in PLAUSIBLE}
_STUCK = {name: f"stuck:{name}" for name in FAST_CHANNELS + NAV_CHANNELS}


@dataclass(frozen=True, slots=True)
class Trip:
    name: str  # "over_current", "tilt", "stuck:vibration", ...
    reaction: Reaction
    reason: str  # "drum current 41.2 A > 35.0 A for 1.0 s"
    value: float
    threshold: float


@dataclass(frozen=True, slots=True)
class InterlockReport:
    active: tuple[Trip, ...]  # every latched trip, most severe first
    asserted: tuple[Trip, ...]  # trips that became active at this update
    cleared: tuple[str, ...]  # names whose cause went away at this update

    @property
    def reaction(self) -> Reaction | None:
        if any(t.reaction is Reaction.IMMEDIATE_STOP for t in self.active):
            return Reaction.IMMEDIATE_STOP
        return Reaction.CONTROLLED_STOP if self.active else None

    def summary(self) -> str:
        return "; ".join(t.reason for t in self.active)


@dataclass(slots=True)
class _Check:
    since: float | None = None  # condition true since
    clear_since: float | None = None
    trip: Trip | None = None  # latched


class Interlocks:
    def __init__(self, config: InterlockConfig) -> None:
        self.config = config
        self._checks: dict[str, _Check] = {}
        self._latched = 0  # checks with a trip (so a quiet update skips the scan)
        self._asserted: list[Trip] = []
        self._cleared: list[str] = []
        self.stuck = StuckSensors(config)

    # -- queries -------------------------------------------------------------------
    @property
    def active(self) -> tuple[Trip, ...]:
        if not self._latched:
            return ()
        trips = [c.trip for c in self._checks.values() if c.trip is not None]
        trips.sort(key=lambda t: t.reaction is not Reaction.IMMEDIATE_STOP)
        return tuple(trips)

    def cause_present(self, reaction: Reaction | None = None) -> tuple[Trip, ...]:
        return tuple(t for t in self.active if reaction is None or t.reaction is reaction)

    # -- the step -----------------------------------------------------------------
    def update(self, now: float, dt: float, m: Measurements, ground_link_ok: bool = True,
               setpoints: SetpointCommand | None = None) -> InterlockReport:
        """*setpoints*: the ones sent after the previous update (``None``: none were)."""
        cfg = self.config
        self._asserted, self._cleared = [], []
        judge = self._judge
        # Each reason is a callable, formatted only when its trip latches: the checks
        # run every control period and are nearly always clear.
        fresh = m.age <= cfg.sensor_stale_s
        judge(now, "stale_sensors", Reaction.CONTROLLED_STOP, not fresh, m.age,
              cfg.sensor_stale_s, 0.0,
              lambda: _silence("fast sensor stream", m.age, cfg.sensor_stale_s))
        judge(now, "stale_navigation", Reaction.CONTROLLED_STOP, m.nav_age > cfg.nav_stale_s,
              m.nav_age, cfg.nav_stale_s, 0.0,
              lambda: _silence("navigation stream", m.nav_age, cfg.nav_stale_s))
        judge(now, "ground_link", Reaction.CONTROLLED_STOP, not ground_link_ok, 0.0, 0.0, 0.0,
              lambda: "ground link lost")

        # Value checks only on data we trust to be current (stale is its own trip).
        if fresh:
            i = m.drum_current
            judge(now, "over_current_immediate", Reaction.IMMEDIATE_STOP,
                  i > cfg.drum_current_estop_a, i, cfg.drum_current_estop_a,
                  cfg.drum_current_estop_hold_s,
                  lambda: f"drum current {_num(i)} A > {cfg.drum_current_estop_a:g} A")
            judge(now, "over_current", Reaction.CONTROLLED_STOP, i > cfg.drum_current_stop_a,
                  i, cfg.drum_current_stop_a, cfg.drum_current_stop_hold_s,
                  lambda: f"drum current {_num(i)} A > {cfg.drum_current_stop_a:g} A "
                          f"for {cfg.drum_current_stop_hold_s:g} s")
            judge(now, "over_temperature", Reaction.CONTROLLED_STOP,
                  m.motor_temp > cfg.motor_temp_stop_c, m.motor_temp, cfg.motor_temp_stop_c, 0.0,
                  lambda: f"motor temperature {_num(m.motor_temp)} degC > "
                          f"{cfg.motor_temp_stop_c:g} degC")
            tilt = m.tilt
            judge(now, "tilt_immediate", Reaction.IMMEDIATE_STOP, tilt > cfg.tilt_estop_deg,
                  tilt, cfg.tilt_estop_deg, 0.0,
                  lambda: f"tilt {_num(tilt)} deg > {cfg.tilt_estop_deg:g} deg")
            judge(now, "tilt", Reaction.CONTROLLED_STOP, tilt > cfg.tilt_stop_deg, tilt,
                  cfg.tilt_stop_deg, 0.0,
                  lambda: f"tilt {_num(tilt)} deg > {cfg.tilt_stop_deg:g} deg")
            v = m.battery_voltage
            judge(now, "low_battery_voltage", Reaction.CONTROLLED_STOP,
                  v < cfg.battery_voltage_min_v, v, cfg.battery_voltage_min_v, 0.2,
                  lambda: f"battery {_num(v)} V < {cfg.battery_voltage_min_v:g} V")
            self._ranges(now, _FAST_PLAUSIBLE, m)
            for name, flat, by_noise in self.stuck.flat_for(now, dt, m, setpoints):
                judge(now, _STUCK.get(name) or f"stuck:{name}", Reaction.CONTROLLED_STOP,
                      flat >= cfg.stuck_s, flat, cfg.stuck_s, 0.0,
                      lambda: self.stuck.reason(name, flat, by_noise))  # noqa: B023
        if m.nav_age <= cfg.nav_stale_s:
            soc = m.battery_soc
            judge(now, "low_battery_soc", Reaction.CONTROLLED_STOP,
                  soc < cfg.battery_soc_min_pct, soc, cfg.battery_soc_min_pct, 0.0,
                  lambda: f"battery charge {_num(soc)} % < {cfg.battery_soc_min_pct:g} %")
            self._ranges(now, NAV_CHANNELS, m)
        # checks not evaluated this time (data stale) keep their latch: no news is no clearance
        return InterlockReport(self.active, tuple(self._asserted), tuple(self._cleared))

    def _judge(self, now: float, name: str, reaction: Reaction, bad: bool, value: float,
               threshold: float, hold: float, text: Callable[[], str]) -> None:
        """Advance one check's latch (condition held for ``hold``; clear for
        ``clear_hold_s``); a check is registered the first time it is evaluated."""
        c = self._checks.get(name)
        if c is None:
            c = self._checks[name] = _Check()
        if bad:
            c.clear_since = None
            if c.since is None:
                c.since = now
            if c.trip is None and now - c.since >= hold - 1e-9:
                c.trip = Trip(name, reaction, text(), value, threshold)
                self._latched += 1
                self._asserted.append(c.trip)
        else:
            c.since = None
            if c.trip is not None:
                if c.clear_since is None:
                    c.clear_since = now
                if now - c.clear_since >= self.config.clear_hold_s - 1e-9:
                    c.trip = None
                    c.clear_since = None
                    self._latched -= 1
                    self._cleared.append(name)

    def _ranges(self, now: float, names: tuple[str, ...], m: Measurements) -> None:
        """The plausibility checks of *names*; a clear channel with a quiet check costs a
        lookup and two comparisons."""
        checks, saturated = self._checks, m.saturated
        for name in names:
            lo, hi = PLAUSIBLE[name]
            value = float(getattr(m, name))
            sat = name in saturated
            bad = not (lo <= value <= hi) or sat
            key = _IMPLAUSIBLE[name]
            c = checks.get(key)
            if not bad and c is not None and c.since is None and c.trip is None:
                continue
            self._judge(now, key, Reaction.CONTROLLED_STOP, bad, value, hi, 0.05,
                        lambda: _implausible(name, value, lo, hi, sat))  # noqa: B023


# Reasons are read by operators on the console: numbers with the digits a reading
# deserves, limits as configured (``:g``), never "inf" or "nan".

def _num(x: float) -> str:
    """A reading: one decimal (no decimals from 1000 on, two significant digits below 1)."""
    if math.isnan(x):
        return "no number (the sensor reports a fault)"
    if math.isinf(x):
        return "out of range (the sensor reports an overflow)"
    a = abs(x)
    if a >= 1000:
        return f"{x:.0f}"
    return f"{x:.1f}" if a >= 1 or a == 0 else f"{x:.2g}"


def _silence(stream: str, age: float, limit: float) -> str:
    if not math.isfinite(age):
        return f"{stream}: nothing received since the controller started " \
               f"(allowed silence {limit:g} s)"
    return f"{stream} silent for {age:.1f} s (allowed {limit:g} s)"


def _implausible(name: str, value: float, lo: float, hi: float, saturated: bool) -> str:
    return f"{name} reads {_num(value)}, plausible {lo:g} to {hi:g}" + \
        (" (saturated)" if saturated else "")
