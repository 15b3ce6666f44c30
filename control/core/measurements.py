"""What the control step sees: filtered sensor values plus their freshness.

The app builds one ``Measurements`` per control period from the latest
filtered rows of the two sample streams. Ages are in plant seconds (see
``control.runtime.timebase``); ``unchanged_for`` says how long (sample time) each
channel's raw counts have been bit-identical (the stuck-sensor interlock uses
it), ``noisy`` names the channels whose firmware declared a noise floor (protocol
1.2: such a sensor never reads bit-identical counts while it works),
``saturated`` lists those pinned at the int16 rails or reporting "no reading".
A channel the firmware does not report reads ``nan``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

#: Stream 0 (fast) and stream 1 (navigation) channel names, as sim_hw declares them.
FAST_CHANNELS = (
    "drum_current", "drum_speed", "cut_depth", "arm_current", "bucket_load", "pitch", "roll",
    "motor_temp", "battery_voltage", "battery_current", "vibration", "arm_position",
)
NAV_CHANNELS = ("x", "y", "heading", "battery_soc")

NAN = math.nan


@dataclass(frozen=True, slots=True)
class Measurements:
    drum_current: float = NAN  # A
    drum_speed: float = NAN  # rad/s
    cut_depth: float = NAN  # m
    arm_current: float = NAN  # A
    bucket_load: float = NAN  # kg
    pitch: float = NAN  # deg
    roll: float = NAN  # deg
    motor_temp: float = NAN  # degC
    battery_voltage: float = NAN  # V
    battery_current: float = NAN  # A
    vibration: float = NAN  # m/s^2
    arm_position: float = NAN  # m
    x: float = NAN  # m
    y: float = NAN  # m
    heading: float = NAN  # rad
    battery_soc: float = NAN  # %
    age: float = math.inf  # plant s since the newest fast-stream sample
    nav_age: float = math.inf  # plant s since the newest navigation sample
    sample_time: float = NAN  # plant s: the firmware's timestamp of the newest fast sample
    unchanged_for: dict[str, float] = field(default_factory=dict)
    saturated: frozenset[str] = field(default_factory=frozenset)
    noisy: frozenset[str] = frozenset()

    @property
    def tilt(self) -> float:
        return max(abs(self.pitch), abs(self.roll))

    def get(self, name: str) -> float:
        return float(getattr(self, name))


CHANNEL_FIELDS = frozenset(f.name for f in fields(Measurements)) & frozenset(
    FAST_CHANNELS + NAV_CHANNELS)
