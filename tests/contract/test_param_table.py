"""The settable-parameter table (``info.params``), the current values (``state.params``) and
the dump site (``state.mission.dump``): typed, round-tripped, and harmless to older readers."""

from __future__ import annotations

import pytest

from control.core.commands import PARAMS
from control.core.config import ControllerConfig, config_from_dict
from control.core.param_report import param_table, param_values
from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.param_table import ParamSpec
from telemetry.contract.rig_state import MissionReport, RigState
from telemetry.contract.status_info import RigInfo


def test_the_rover_publishes_its_table_and_which_parameters_its_strategy_reads() -> None:
    table = param_table(ControllerConfig())  # power_limited, the default strategy
    assert [p.name for p in table] == list(PARAMS)
    by = {p.name: p for p in table}
    assert by["dig_speed_rad_s"] == ParamSpec("dig_speed_rad_s", "rad/s", 1.0, 12.0,
                                              "drum speed", integer=False, used=True)
    assert by["max_stall_retries"].integer and by["max_depth_m"].unit == "m"
    assert not by["current_target_a"].used  # a pi_current set-point
    assert table[0].used  # the console's default choice is one the strategy reads
    pi = {p.name: p for p in param_table(config_from_dict({"strategy": {"kind": "pi_current"}}))}
    assert pi["current_target_a"].used
    assert param_values(ControllerConfig())["dig_speed_rad_s"] == 6.0


def test_table_values_and_dump_round_trip_through_the_wire() -> None:
    info = RigInfo(software="rig-control", strategy="power_limited",
                   params=param_table(ControllerConfig()), extra={"streams": {}})
    assert RigInfo.from_json(info.to_json()) == info
    state = RigState(mode="idle", params={"max_depth_m": 0.095, "max_stall_retries": 3.0},
                     mission=MissionReport("m", 0.0, dump=(0.5, -1.0)))
    wire = state.to_json()
    assert wire["params"] == {"max_depth_m": 0.095, "max_stall_retries": 3.0}
    assert wire["mission"]["dump"] == {"x_m": 0.5, "y_m": -1.0}
    assert RigState.from_json(wire) == state
    # absent (an older rover): nothing written, nothing invented
    assert "params" not in RigState(mode="idle").to_json()
    assert RigState.from_json({"mode": "idle"}).params is None
    assert MissionReport.from_json({"mission": "m", "delivered_kg": 0, "cycles": 0},
                                   "m").dump is None


def test_a_newer_rovers_unknown_keys_pass_and_bad_entries_are_named() -> None:
    entry = {"name": "x", "unit": "m", "lo": 0, "hi": 1, "new_key": [1, 2]}
    info = RigInfo.from_json({"params": [entry], "future": 1})
    assert info.params == (ParamSpec("x", "m", 0.0, 1.0),) and info.extra == {"future": 1}
    with pytest.raises(PayloadDecodeError, match=r"info\.params\[0\].*lo <= hi"):
        RigInfo.from_json({"params": [{**entry, "lo": 2}]})
    with pytest.raises(PayloadDecodeError, match=r"info\.params\[0\]\.hi"):
        RigInfo.from_json({"params": [{**entry, "hi": "big"}]})
    with pytest.raises(PayloadDecodeError, match=r"state\.params\.x"):
        RigState.from_json({"params": {"x": "fast"}})


def test_spec_check_names_the_range() -> None:
    spec = ParamSpec("max_stall_retries", "", 0.0, 10.0, integer=True)
    assert spec.check(3.0) is None
    assert spec.check(11.0) == "max_stall_retries: 11 outside [0, 10]"
    assert "whole number" in (spec.check(2.5) or "")
