"""The run summary and the state message name each interlock trip and stall by cause."""

from __future__ import annotations

from control.cli import _causes

from .helpers import meas
from .test_step import armed_driver


def test_interlock_trips_are_counted_by_name_in_stats_and_state() -> None:
    d = armed_driver()
    for _ in range(300):
        d.step(meas(motor_temp=95.0))
    assert d.core.stats.interlock_trips >= 1
    assert d.core.stats.trips_by_cause == {"over_temperature": d.core.stats.interlock_trips}
    state = d.core.snapshot()
    assert state.interlock_trips == {"over_temperature": d.core.stats.interlock_trips}
    assert state.stalls == {}


def test_causes_are_printed_by_name() -> None:
    assert _causes({}) == ""
    assert _causes({"tilt": 2, "over_current": 1}) == " (over_current 1, tilt 2)"
