"""Pure cores: limits (defaults = the controller's interlock thresholds) and the alarm table."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from control.core.config import InterlockConfig
from telemetry.contract import Severity
from telemetry.ground.alarms import AlarmNotFoundError, AlarmState, AlarmTable
from telemetry.ground.errors import LimitsError
from telemetry.ground.limits import DEFAULT_LIMITS, Limit, LimitLevel, LimitSet, load_limits

# ------------------------------------------------------------------ limits


def test_default_red_limits_are_the_interlock_thresholds() -> None:
    cfg = InterlockConfig()  # the controller's defaults (docs/control.md, "Interlocks")
    assert DEFAULT_LIMITS["drum_current"].red_high == cfg.drum_current_stop_a
    assert DEFAULT_LIMITS["motor_temp"].red_high == cfg.motor_temp_stop_c
    assert DEFAULT_LIMITS["tilt"].red_high == cfg.tilt_stop_deg
    assert DEFAULT_LIMITS["pitch"].red_high == -DEFAULT_LIMITS["pitch"].red_low \
        == cfg.tilt_stop_deg
    assert DEFAULT_LIMITS["battery_voltage"].red_low == cfg.battery_voltage_min_v
    assert DEFAULT_LIMITS["battery_soc"].red_low == cfg.battery_soc_min_pct
    assert DEFAULT_LIMITS["drum_current"].hold_s == cfg.drum_current_stop_hold_s


def test_levels_and_state_aliases() -> None:
    limits = LimitSet()
    assert limits.level("drum_current", 10.0) is LimitLevel.OK
    assert limits.level("drum_current", 16.0) is LimitLevel.YELLOW
    assert limits.level("drum_current", 19.5) is LimitLevel.RED
    assert limits.level("drum_current_a", 19.5) is LimitLevel.RED  # the state field
    assert limits.level("tilt_deg", 9.0) is LimitLevel.YELLOW
    assert limits.level("battery_v", 39.0) is LimitLevel.RED
    assert limits.level("pitch", -16.0) is LimitLevel.RED
    assert limits.level("vibration", 1e9) is LimitLevel.OK  # no limits: never coloured
    assert limits.level("drum_current", math.nan) is LimitLevel.UNKNOWN
    assert DEFAULT_LIMITS["battery_voltage"].describe(39.0) == "below red limit 40"


def test_a_limits_file_overrides_per_threshold(tmp_path) -> None:
    path = tmp_path / "limits.toml"
    path.write_text("[drum_current]\nred_high = 25.0\n\n[vibration]\nyellow_high = 3\n")
    limits = load_limits(path)
    assert limits.get("drum_current") == Limit(yellow_high=15.0, red_high=25.0, hold_s=1.5)
    assert limits.level("drum_current", 20.0) is LimitLevel.YELLOW
    assert limits.level("vibration", 4.0) is LimitLevel.YELLOW
    assert limits.level("motor_temp", 90.0) is LimitLevel.RED  # untouched default


@pytest.mark.parametrize(("text", "message"), [
    ("[drum_current]\nred_hi = 3\n", "drum_current.red_hi: unknown key"),
    ("[drum_current]\nhold_s = -1\n", "drum_current.hold_s: expected a finite number >= 0"),
    ("[drum_current]\nred_high = 'x'\n", "drum_current.red_high: expected a finite number"),
    ("[drum_current]\nred_high = 10.0\n", "expected yellow_high (15) below red_high (10)"),
    ("drum_current = 3\n", "drum_current: expected a table"),
    ("[x\n", "not TOML"),
])
def test_bad_limits_files_name_the_key(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "limits.toml"
    path.write_text(text)
    with pytest.raises(LimitsError, match="limits.toml") as err:
        load_limits(path)
    assert message in str(err.value)


finite = st.floats(-1e6, 1e6, allow_nan=False)


@given(st.lists(finite, min_size=4, max_size=4, unique=True), finite)
def test_levels_follow_the_threshold_order(bounds: list[float], value: float) -> None:
    rl, yl, yh, rh = sorted(bounds)
    limit = Limit(rl, yl, yh, rh)
    level = limit.level(value)
    assert (level is LimitLevel.RED) == (value < rl or value > rh)
    assert (level is LimitLevel.OK) == (yl <= value <= yh)


# ------------------------------------------------------------------ alarms


def test_alarm_lifecycle_with_acknowledgement() -> None:
    table = AlarmTable()
    a = table.raise_alarm("rig-1", "interlock:tilt", Severity.ALARM, "tilt 16 deg", 10.0)
    assert a.state is AlarmState.ACTIVE and table.active_count() == 1
    acked = table.acknowledge(a.id, "alice", 11.0)
    assert (acked.acked_by, acked.acked_at) == ("alice", 11.0)
    assert table.get("rig-1", "interlock:tilt").state is AlarmState.ACTIVE  # still there
    table.clear("rig-1", "interlock:tilt", 12.0)
    assert table.all() == []  # cleared and acknowledged: done
    with pytest.raises(AlarmNotFoundError):
        table.acknowledge(a.id, "alice", 13.0)


def test_cleared_alarm_waits_for_its_acknowledgement_and_can_come_back() -> None:
    table = AlarmTable()
    a = table.raise_alarm("rig-1", "limit:motor_temp", Severity.ALARM, "hot", 1.0)
    table.clear("rig-1", "limit:motor_temp", 2.0)
    cleared = table.get("rig-1", "limit:motor_temp")
    assert cleared.state is AlarmState.CLEARED and cleared.cleared_at == 2.0
    again = table.raise_alarm("rig-1", "limit:motor_temp", Severity.CRITICAL, "hot", 3.0)
    assert (again.id, again.count, again.state) == (a.id, 2, AlarmState.ACTIVE)
    assert again.severity is Severity.CRITICAL and again.cleared_at is None
    # raising an active alarm again changes nothing (no count, no version bump)
    version = table.version
    assert table.raise_alarm("rig-1", "limit:motor_temp", Severity.ALARM, "hot", 4.0) is again
    assert table.version == version


def test_one_off_alarms_are_born_cleared_and_reopen_on_repeat() -> None:
    table = AlarmTable()
    a = table.raise_alarm("rig-1", "event:obstacle_reported", Severity.ALARM, "rock", 1.0,
                          one_off=True)
    assert a.state is AlarmState.CLEARED and not a.acknowledged
    table.acknowledge(a.id, "bob", 2.0)
    assert table.all() == []
    b = table.raise_alarm("rig-1", "event:obstacle_reported", Severity.ALARM, "rock", 3.0,
                          one_off=True)
    assert not b.acknowledged


def test_offline_rig_marks_active_alarms_stale_only() -> None:
    table = AlarmTable()
    table.raise_alarm("rig-1", "interlock:tilt", Severity.ALARM, "tilt", 1.0)
    table.raise_alarm("rig-1", "event:x", Severity.ALARM, "x", 1.0, one_off=True)
    table.raise_alarm("rig-2", "interlock:tilt", Severity.ALARM, "tilt", 1.0)
    table.mark_stale("rig-1", 5.0)
    states = {(a.rig, a.cause): a.state for a in table.all()}
    assert states == {("rig-1", "interlock:tilt"): AlarmState.STALE,
                      ("rig-1", "event:x"): AlarmState.CLEARED,
                      ("rig-2", "interlock:tilt"): AlarmState.ACTIVE}
    assert table.active_count("rig-1") == 0
    # the rig is back and the cause is still there: active again, same occurrence
    back = table.raise_alarm("rig-1", "interlock:tilt", Severity.ALARM, "tilt", 6.0)
    assert back.state is AlarmState.ACTIVE and back.count == 1


def test_without_acknowledgement_cleared_alarms_expire() -> None:
    table = AlarmTable(require_ack=False, cleared_hold_s=30.0)
    table.raise_alarm("rig-1", "interlock:tilt", Severity.ALARM, "tilt", 0.0)
    table.clear("rig-1", "interlock:tilt", 10.0)
    table.expire(39.0)
    assert table.get("rig-1", "interlock:tilt") is not None
    table.expire(40.0)
    assert table.all() == []


def test_the_table_is_bounded_per_rig() -> None:
    table = AlarmTable(max_per_rig=3)
    for i in range(5):
        table.raise_alarm("rig-1", f"event:{i}", Severity.ALARM, str(i), float(i), one_off=True)
    assert len(table.for_rig("rig-1")) == 3 and table.dropped == 2
    assert {a.cause for a in table.all()} == {"event:2", "event:3", "event:4"}
