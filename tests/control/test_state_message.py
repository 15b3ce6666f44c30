"""The typed state message is the same JSON as the dict the rover sent before it was typed.

``_dict_state_message`` is the former ``control.core.state_message.state_message``
(a ``dict`` built from the core by key), kept here as the oracle: the wire keys,
their order and their values must not change for outside ground tools
(docs/telemetry.md, "State").
"""

from __future__ import annotations

import json
import math
from typing import Any

from control.core.commands import PARAMS
from control.core.step import ControlCore
from control.core.supervisor import Mode
from telemetry.contract.rig_state import RigState

from .helpers import meas
from .test_step import armed_driver


def _r(x: float, nd: int = 2) -> float | None:
    return None if x is None or math.isnan(x) or math.isinf(x) else round(x, nd)


def _dict_state_message(core: ControlCore) -> dict[str, Any]:
    m, est = core.last, core.mass.last
    out: dict[str, Any] = {
        "mode": core.mode.value,
        "since": round(core.supervisor.since, 3),
        "phase": core.strategy.phase.value if core.mode is Mode.DIGGING else "",
        "mission_running": core.mission_running,
        "motors_enabled": core.motors_enabled,
        "drum_current_a": _r(m.drum_current), "drum_speed_rad_s": _r(m.drum_speed),
        "cut_depth_m": _r(m.cut_depth, 4), "tilt_deg": _r(m.tilt),
        "motor_temp_c": _r(m.motor_temp), "battery_v": _r(m.battery_voltage),
        "x_m": _r(m.x), "y_m": _r(m.y),
        "bucket_kg": _r(est.estimate_kg), "load_cell_kg": _r(est.load_cell_kg),
        "model_kg": _r(est.model_kg), "load_cell_ok": est.load_cell_ok,
        "energy_j": _r(est.energy_j, 0),
        "interlocks": [t.name for t in core.interlocks.active],
        "interlock_trips": dict(core.stats.trips_by_cause),
        "stalls": dict(core.stats.stalls_by_cause),
    }
    if core.mission is not None:
        m = core.mission
        out["mission"] = {
            "mission": m.plan.name,
            "mission_id": m.mission_id,  # issue 27: the mission across restarts
            "delivered_kg": round(m.delivered_kg, 3),
            "target_kg": m.plan.target_kg, "cycles": m.cycles,
            "sites": [{"name": s.site.name, "delivered_kg": round(s.delivered_kg, 3),
                       "target_kg": s.site.target_kg, "cycles": s.cycles,
                       "abandoned": s.abandoned} for s in m.sites],
            # issue 24: the dump site, for the ground's map (a key older grounds ignore)
            "dump": {"x_m": m.plan.dump_x, "y_m": m.plan.dump_y},
        }
    # issue 24: the settable parameters' current values, after every older key
    out["params"] = {name: float(getattr(getattr(core.config, p.section), p.key))
                     for name, p in PARAMS.items()}
    return out


def _same_wire(core: ControlCore) -> None:
    state = core.snapshot()
    assert isinstance(state, RigState)
    old = _dict_state_message(core)
    assert json.dumps(state.to_json()) == json.dumps(old)  # keys, order and values
    assert RigState.from_json(json.loads(json.dumps(old))) == state


def test_state_message_json_is_unchanged_through_a_trip() -> None:
    d = armed_driver()
    _same_wire(d.core)  # before any measurement: NaN values are null
    for _ in range(300):  # over temperature: a trip, counted by cause
        d.step(meas(motor_temp=95.0))
    assert d.core.snapshot().interlocks == ("over_temperature",)
    _same_wire(d.core)
    assert d.core.mission is not None
    site = d.core.mission.sites[0]  # a site given up: its reason is a string on the wire
    site.abandoned, site.cycles, site.delivered_kg = "cycle budget exhausted", 3, 12.34567
    _same_wire(d.core)


def test_state_message_without_a_mission_has_no_mission_key() -> None:
    d = armed_driver(plan=None)
    _same_wire(d.core)
    assert "mission" not in d.core.snapshot().to_json()
