"""The fault grammar and scenario files: good input parses, bad input says where."""

from __future__ import annotations

import math

import pytest

from sim_hw import ScenarioError, load_scenario, parse_fault, parse_scenario


def test_fault_spec_grammar() -> None:
    f = parse_fault("rock@12.5:torque=300")
    assert (f.kind, f.at, f["torque"], f["duration"]) == ("rock", 12.5, 300.0, 2.0)
    f = parse_fault("stuck@3:channel=drum_speed,duration=5")
    assert f["channel"] == "drum_speed" and f.duration == 5.0 and math.isnan(f["value"])
    assert parse_fault("reset").at is None
    assert parse_fault("corrupt:rate=0.01,direction=both")["direction"] == "both"


@pytest.mark.parametrize(("spec", "needle"), [
    ("boulder@1", "unknown fault kind 'boulder'"),
    ("rock@soon", "time 'soon'"),
    ("rock@1:torq=3", "unknown key 'torq'; rock takes: torque, duration, angle"),
    ("rock@1:torque=lots", "key 'torque': expected a number, got 'lots'"),
    ("corrupt@1:rate=2", "key 'rate': expected 0 .. 1, got 2"),
    ("stuck@1", "key 'channel' is required"),
    ("dropout@1:channel=speed", "unknown channel 'speed'"),
    ("drop@1:direction=up", "expected one of tx, rx, both, got 'up'"),
    ("rock@1:torque", "expected KEY=VALUE, got 'torque'"),
])
def test_bad_fault_specs_say_what_and_where(spec: str, needle: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_fault(spec)
    assert needle in str(err.value)
    assert repr(spec) in str(err.value)


def test_scenario_file(tmp_path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[[fault]]\nkind = "rock"\nat = 1.5\ntorque = 300\n\n'
                    '[[fault]]\nkind = "disconnect"\nat = 4\nduration = 2\n')
    faults = load_scenario(path)
    assert [f.kind for f in faults] == ["rock", "disconnect"]
    assert faults[1].duration == 2.0 and str(path) in faults[0].source


@pytest.mark.parametrize(("text", "needles"), [
    ('[[fault]]\nkind = "rock"\nat = = 1\n', ["TOML syntax error", "line 3"]),
    ('[[fault]]\nkind = "rock"\n[[fault]]\nkind = "rock"\ntorqe = 1\n',
     ["fault[1] (rock)", "unknown key 'torqe'"]),
    ('[[fault]]\nat = 1\n', ["fault[0]", "key 'kind' is required"]),
    ('[[fault]]\nkind = "lowbatt"\nat = -1\n', ["fault[0] (lowbatt)", "key 'at'"]),
    ('[[fault]]\nkind = "spikes"\nat = 1\nchannel = "pitch"\nrate = "x"\n',
     ["fault[0] (spikes)", "key 'rate': expected a number"]),
    ('seed = 3\n', ["unknown top-level key(s) seed"]),
])
def test_bad_scenario_files_name_line_entry_and_key(text: str, needles: list[str]) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(text, "bad.toml")
    for needle in needles:
        assert needle in str(err.value)
    assert "bad.toml" in str(err.value)


def test_missing_scenario_file(tmp_path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.toml")
