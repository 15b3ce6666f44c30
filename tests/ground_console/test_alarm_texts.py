"""Every alarm text an operator reads says what happened in words and sensible numbers.

Enumerated: every interlock of the rover (its reason is the ``interlock_tripped``
event's text, the console's alarm and banner), the stuck-sensor reasons, and every
alarm the ground writes itself (limits, clock offset, ``rig:offline``, an interlock
known only from a state). No text may contain "inf" or "nan" (the old "navigation
stream inf s old"), and no number more than one decimal place unless it is below 1
(then at most two significant digits: "expected every 0.05 s").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest

from control.core.config import InterlockConfig
from control.core.interlocks import PLAUSIBLE, Interlocks
from control.core.measurements import FAST_CHANNELS, Measurements
from control.core.stuck_sensors import StuckSensors
from telemetry.ground.alarm_text import clock_text, limit_text, reading
from telemetry.ground.fleet import FleetModel
from telemetry.ground.limits import DEFAULT_LIMITS
from telemetry.ground.offline import OFFLINE_CAUSE, silence_text

from .test_fleet_watch import P, Rig

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.(\d+))?(?:e[+-]?\d+)?")
_WORDS = re.compile(r"\b(inf|infinity|nan)\b", re.IGNORECASE)


def bad_number(text: str) -> str | None:
    """The first number with more decimals than an operator needs, or None."""
    for m in _NUMBER.finditer(text):
        decimals = m.group(1) or ""
        if len(decimals) <= 1:
            continue
        value = abs(float(m.group(0)))
        significant = decimals.lstrip("0")
        if value >= 1 or len(significant) > 2:
            return m.group(0)
    return None


def check(text: str) -> None:
    assert not _WORDS.search(text), f"{text!r}: says inf/nan"
    assert bad_number(text) is None, f"{text!r}: {bad_number(text)} has too many decimals"


def test_the_checker_itself() -> None:
    for good in ("silent for 12.3 s (expected every 0.05 s)", "drum current 41.2 A > 35 A",
                 "tilt 0.042 m", "site A", "rig-1 mission m-1", "1e+05"):
        check(good)
    for bad in ("navigation stream inf s old", "reads nan", "age 12.345 s", "0.12345 s",
                "1.20 s"):
        with pytest.raises(AssertionError):
            check(bad)


def _trip_all(cfg: InterlockConfig, m: Measurements) -> dict[str, str]:
    """Every interlock reason the measurements trip (held long enough)."""
    locks = Interlocks(cfg)
    reasons: dict[str, str] = {}
    for i in range(40):
        report = locks.update(i * 0.1, 0.1, m)
        reasons.update({t.name: t.reason for t in report.asserted})
    return reasons


def interlock_reasons() -> Iterator[tuple[str, str]]:
    cfg = InterlockConfig()
    ok = Measurements(**{**{name: 0.0 for name in PLAUSIBLE}, "battery_voltage": 48.0,
                         "battery_soc": 80.0}, age=0.0, nav_age=0.0)
    cases = {
        "never received": replace(ok, age=math.inf, nav_age=math.inf),
        "silent": replace(ok, age=12.3456, nav_age=7.891),
        "values": replace(ok, drum_current=41.237, motor_temp=91.55, pitch=27.333,
                          battery_voltage=37.777, battery_soc=9.999),
        "tilt only": replace(ok, roll=16.66),
        "current only": replace(ok, drum_current=21.234),
        "implausible nan": replace(ok, **{n: math.nan for n in FAST_CHANNELS if n in PLAUSIBLE}),
        "implausible inf": replace(ok, drum_current=math.inf, x=-math.inf),
        "implausible big": replace(ok, drum_speed=123.456, vibration=-1234.5678,
                                   cut_depth=0.654321, saturated=frozenset({"arm_current"})),
    }
    for case, m in cases.items():
        tripped = _trip_all(cfg, m)
        assert tripped, case
        for name, reason in tripped.items():
            yield f"{case}/{name}", reason
    stuck = StuckSensors(cfg)
    yield "stuck/noise", stuck.reason("vibration", 1.23456, True)
    yield "stuck/moved", stuck.reason("drum_speed", 2.0001, False)


def test_every_interlock_reason_reads_well() -> None:
    seen = dict(interlock_reasons())
    names = {key.split("/", 1)[1] for key in seen}
    assert {"stale_sensors", "stale_navigation", "over_current", "over_current_immediate",
            "over_temperature", "tilt", "tilt_immediate", "low_battery_voltage",
            "low_battery_soc", "implausible:drum_current", "implausible:x"} <= names, names
    for reason in seen.values():
        check(reason)
    assert seen["never received/stale_navigation"] == (
        "navigation stream: nothing received since the controller started (allowed silence "
        "2 s)")
    assert seen["silent/stale_sensors"] == "fast sensor stream silent for 12.3 s (allowed 0.5 s)"
    assert seen["implausible nan/implausible:drum_current"].startswith(
        "drum_current reads no number")
    assert seen["stuck/noise"] == "vibration sensor stuck for 1.2 s"


def ground_texts() -> Iterator[tuple[str, str]]:
    for channel, limit in DEFAULT_LIMITS.items():
        for value in (limit.red_high, limit.red_low):
            if value is None:
                continue
            beyond = value * 1.23456 + (1.2345 if value >= 0 else -1.2345)
            yield f"limit {channel} {beyond}", limit_text(channel, beyond, "u", limit)
    clock = DEFAULT_LIMITS["clock_offset"]
    for offset in (7.891234, -3600.5, 0.123456):
        yield f"clock {offset}", clock_text(offset, clock)
    for silent, period in ((10.04999, 0.1), (12.3456, 0.0512), (3.0, None), (8.0, 1.5)):
        yield f"silence {silent} {period}", silence_text(silent, period)
    m, r = FleetModel(P), Rig()
    m.set_link(True, 0.0)
    m.handle(r.status(True), 0.0)
    m.handle(r.state(0.5, mode="fault", interlocks=["stale_navigation", "stuck:vibration"]),
             0.5)
    m.handle(r.state(0.6, mode="fault", interlocks=["stale_navigation", "stuck:vibration"],
                     clock_offset_s=-7.3456, storage={
                         "full": True, "errno": "ENOSPC", "dropped": 3, "budget_bytes": 10,
                         "used_bytes": 10, "unwritten_bytes": 1234567}), 0.6)
    m.handle(r.status(False, 1.0), 1.0)
    m.tick(3.0)
    for alarm in m.alarms.all():
        yield alarm.cause, alarm.text
    assert {a.cause for a in m.alarms.all()} >= {OFFLINE_CAUSE, "interlock:stale_navigation",
                                                 "rig:storage", "limit:clock_offset"}


def test_every_ground_alarm_text_reads_well() -> None:
    seen = dict(ground_texts())
    for text in seen.values():
        check(text)
    assert limit_text("drum_current", 24.6911, "A", DEFAULT_LIMITS["drum_current"]) == \
        "drum_current 24.7 A, above red limit 19 A"
    assert seen["clock 7.891234"].startswith("rover clock 7.9 s behind the ground's (red "
                                             "limit 5 s)")
    assert seen["clock -3600.5"].startswith("rover clock 3600 s ahead of the ground's")
    assert seen["silence 12.3456 0.0512"] == (
        "rig silent for 12.3 s while its status says online (its states came every 0.051 s): "
        "controller hung or its link lost")
    assert seen["interlock:stale_navigation"] == "interlock stale navigation active"
    assert seen["interlock:stuck:vibration"] == "interlock stuck: vibration active"
    assert reading(0.0512, "s") == "0.051 s" and reading(1234.5, "V") == "1234 V"
    assert reading(math.nan, "V") == "no reading"
