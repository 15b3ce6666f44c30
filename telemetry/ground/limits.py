"""Red/yellow limits per channel: what the console and ``watch`` colour values by (sans-I/O).

A :class:`Limit` has up to four thresholds, ``red_low <= yellow_low < yellow_high <=
red_high`` (any may be absent). A value beyond a red threshold is ``RED``, beyond
a yellow one ``YELLOW``, otherwise ``OK``; a non-finite value (no reading) is
``UNKNOWN``; a channel without limits is always ``OK``.

The defaults (:data:`DEFAULT_LIMITS`) are the controller's interlock thresholds
(docs/control.md, "Interlocks"): red is where the rover stops itself, so a red
value on the ground means an interlock has tripped or is about to; yellow is a
ground-side pre-warning band (the stall current, the tilt at which the strategy
starts to back off, 10 degC below the temperature stop...), and the interlock's
hold time where it has one (drum current: red for 1.5 s). A limits file
overrides them per channel and per threshold (TOML)::

    [drum_current]          # a channel name of a batch stream, or "tilt"
    yellow_high = 15.0
    red_high = 19.0

    [battery_voltage]
    red_low = 40.0
    yellow_low = 42.0
    hold_s = 0.2            # an alarm only once red this long (rig seconds); colour at once

``[clock_offset]`` is the alarm limit on the rover's estimated clock offset
(``clock_offset_s`` in the state, seconds).

State fields carry their unit in their name (``drum_current_a``); they are
coloured with their channel's limits through :data:`STATE_CHANNELS`.
"""

from __future__ import annotations

import enum
import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from telemetry.ground.errors import LimitsError

__all__ = [
    "DEFAULT_LIMITS",
    "STATE_CHANNELS",
    "Limit",
    "LimitLevel",
    "LimitSet",
    "load_limits",
]


class LimitLevel(enum.IntEnum):
    """Ordered: a higher level is worse (``max`` of several levels is the worst)."""

    UNKNOWN = -1
    OK = 0
    YELLOW = 1
    RED = 2

    @property
    def css(self) -> str:
        return self.name.lower()


_THRESHOLDS = ("red_low", "yellow_low", "yellow_high", "red_high")


@dataclass(frozen=True, slots=True)
class Limit:
    red_low: float | None = None
    yellow_low: float | None = None
    yellow_high: float | None = None
    red_high: float | None = None
    hold_s: float = 0.0  # a red value raises an alarm once it has stayed red this long

    def level(self, value: float) -> LimitLevel:
        if not math.isfinite(value):
            return LimitLevel.UNKNOWN
        if (self.red_high is not None and value > self.red_high) or \
                (self.red_low is not None and value < self.red_low):
            return LimitLevel.RED
        if (self.yellow_high is not None and value > self.yellow_high) or \
                (self.yellow_low is not None and value < self.yellow_low):
            return LimitLevel.YELLOW
        return LimitLevel.OK

    def describe(self, value: float) -> str:
        """Which threshold ``value`` crosses, for an alarm text ("above red 19")."""
        for name in ("red_high", "red_low", "yellow_high", "yellow_low"):
            t = getattr(self, name)
            if t is None:
                continue
            if (name.endswith("high") and value > t) or (name.endswith("low") and value < t):
                colour, side = name.split("_")
                return f"{'above' if side == 'high' else 'below'} {colour} limit {t:g}"
        return "within limits"

    def as_dict(self) -> dict[str, float]:
        return {n: v for n in _THRESHOLDS if (v := getattr(self, n)) is not None}

    def check(self, where: str, key: str) -> None:
        present = [(n, v) for n in _THRESHOLDS if (v := getattr(self, n)) is not None]
        for (n1, v1), (n2, v2) in itertools.pairwise(present):
            if v1 > v2 or (n1 == "yellow_low" and n2 == "yellow_high" and v1 == v2):
                raise LimitsError(where, key, f"expected {n1} ({v1:g}) below {n2} ({v2:g})")


#: The interlock thresholds of docs/control.md (red) with pre-warning bands (yellow).
DEFAULT_LIMITS: Mapping[str, Limit] = {
    # controlled stop above 19 A sustained for 1.5 s (peaks above it are normal digging);
    # the strategy treats > 15 A at low speed as a stall
    "drum_current": Limit(yellow_high=15.0, red_high=19.0, hold_s=1.5),
    # controlled stop above 85 degC
    "motor_temp": Limit(yellow_high=75.0, red_high=85.0),
    # controlled stop above 15 deg of pitch or roll; the strategy backs off above 8 deg
    "pitch": Limit(red_low=-15.0, yellow_low=-8.0, yellow_high=8.0, red_high=15.0),
    "roll": Limit(red_low=-15.0, yellow_low=-8.0, yellow_high=8.0, red_high=15.0),
    "tilt": Limit(yellow_high=8.0, red_high=15.0),
    # controlled stop below 40 V for 0.2 s, or 15 % state of charge
    "battery_voltage": Limit(red_low=40.0, yellow_low=42.0, hold_s=0.2),
    "battery_soc": Limit(red_low=15.0, yellow_low=25.0),
    # the rover's wall clock minus the ground's, as the rover's signed-command gate
    # estimates it (docs/commands.md, "Timing"): red beyond the default clock-skew
    # allowance, where commands other than stop/estop used to be refused
    "clock_offset": Limit(red_low=-5.0, yellow_low=-1.0, yellow_high=1.0, red_high=5.0),
}

#: State fields (``StateMessage.state``) and the channel whose limits colour them.
STATE_CHANNELS: Mapping[str, str] = {
    "drum_current_a": "drum_current",
    "motor_temp_c": "motor_temp",
    "tilt_deg": "tilt",
    "battery_v": "battery_voltage",
    "clock_offset_s": "clock_offset",
}


class LimitSet:
    """Limits by channel name."""

    def __init__(self, limits: Mapping[str, Limit] | None = None) -> None:
        self.limits: dict[str, Limit] = dict(DEFAULT_LIMITS if limits is None else limits)

    def get(self, channel: str) -> Limit | None:
        return self.limits.get(channel) or self.limits.get(STATE_CHANNELS.get(channel, ""))

    def level(self, channel: str, value: float) -> LimitLevel:
        limit = self.get(channel)
        if limit is None:
            return LimitLevel.OK if math.isfinite(value) else LimitLevel.UNKNOWN
        return limit.level(value)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {name: limit.as_dict() for name, limit in sorted(self.limits.items())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "limits",
                  base: Mapping[str, Limit] | None = None) -> LimitSet:
        """Overlay ``data`` (channel -> thresholds) on ``base`` (default: the defaults)."""
        limits = dict(DEFAULT_LIMITS if base is None else base)
        for channel, table in data.items():
            if not isinstance(table, Mapping):
                raise LimitsError(where, channel, f"expected a table of thresholds, got "
                                                  f"{table!r}")
            values: dict[str, float] = {}
            for key, value in table.items():
                if key not in (*_THRESHOLDS, "hold_s"):
                    raise LimitsError(where, f"{channel}.{key}", "unknown key (expected "
                                      f"{', '.join(_THRESHOLDS)} or hold_s)")
                if isinstance(value, bool) or not isinstance(value, int | float) \
                        or not math.isfinite(value) or (key == "hold_s" and value < 0):
                    raise LimitsError(where, f"{channel}.{key}",
                                      f"expected a finite number{' >= 0' * (key == 'hold_s')}"
                                      f", got {value!r}")
                values[key] = float(value)
            limit = replace(limits.get(channel, Limit()), **values)
            limit.check(where, channel)
            limits[channel] = limit
        return cls(limits)


def load_limits(path: str | Path | None) -> LimitSet:
    """The defaults, overlaid with the TOML file at ``path`` when given."""
    if path is None:
        return LimitSet()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as err:
        raise LimitsError(str(path), "file", f"cannot read: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise LimitsError(str(path), "file", f"not TOML: {err}") from err
    return LimitSet.from_dict(data, str(path))

