"""The commands page's data: the rover's parameter table with current values, the rig's
key values, who else commanded the rig lately, and the dump site (pure: a fleet model fed
the messages a rover publishes), and the page shell that shows them."""

from __future__ import annotations

from control.core.config import ControllerConfig
from control.core.param_report import param_table
from telemetry.contract.payloads import StatusMessage
from telemetry.contract.status_info import RigInfo
from telemetry.ground.command_log import CommandStatus
from telemetry.ground.console.commands_view import RECENT_S
from telemetry.ground.console.views import dump_json, rig_json
from telemetry.ground.fleet import FleetModel

from .test_console_app import Browser, console
from .test_fleet_watch import P, Rig


class ParamRig(Rig):
    def status(self, online: bool, t: float = 0.0, params=()):
        return self.msg("status", StatusMessage(self.env("status", t), online, RigInfo(
            software="rig-control", strategy="power_limited", params=tuple(params))))


def test_the_table_comes_from_the_rover_and_the_values_from_its_state() -> None:
    m, r = FleetModel(P), ParamRig()
    m.handle(r.status(True, 0.0), 0.0)  # an older rover: no table
    m.handle(r.state(0.1, mode="idle"), 0.1)
    snap = rig_json(m, "rig-1", 0.2)
    assert snap["params"] == [] and snap["strategy"] == "power_limited"
    m.handle(r.status(True, 1.0, param_table(ControllerConfig())), 1.0)
    snap = rig_json(m, "rig-1", 1.1)
    assert [p["value"] for p in snap["params"]] == [None] * 5  # no state has carried them yet
    m.handle(r.state(1.2, mode="armed", battery_v=47.5,
                     params={"dig_speed_rad_s": 8.0, "max_depth_m": 0.095}), 1.2)
    snap = rig_json(m, "rig-1", 1.3)
    by = {p["name"]: p for p in snap["params"]}
    assert by["dig_speed_rad_s"] == {"name": "dig_speed_rad_s", "unit": "rad/s", "lo": 1.0,
                                     "hi": 12.0, "doc": "drum speed", "integer": False,
                                     "used": True, "value": 8.0}
    assert by["current_target_a"]["used"] is False and by["current_target_a"]["value"] is None
    assert snap["params"][0]["used"]  # the page's default is a parameter the strategy reads
    # the key values the page shows live are state fields the snapshot carries
    keys = {s["key"]: s["value"] for s in snap["state"]}
    assert set(snap["key_values"]) <= set(keys) and keys["battery_v"] == 47.5
    m.handle(r.batch(1.3, arm_position=0.25), 1.3)
    snap = rig_json(m, "rig-1", 1.4)
    assert "arm_position" in snap["key_channels"]
    assert snap["channels"]["arm_position"]["value"] == 0.25


def test_commands_of_two_stations_in_the_window_are_listed_with_their_results() -> None:
    m, r = FleetModel(P), ParamRig()
    m.handle(r.status(True, 0.0), 0.0)
    m.commands.note_sent("rig-1", "ops-1-a", "stop", {}, key_id="ops-1", user="alice", now=10.0)
    m.commands.note_ack("rig-1", "ops-1-a", True, "", 10.1)
    t = 10.0 + RECENT_S + 5.0
    m.commands.note_sent("rig-1", "ops-1-b", "arm", {}, key_id="ops-1", user="bob", now=t)
    m.commands.note_uplink("rig-1", "ops-2-7", "set_param", {"name": "max_depth_m", "value": 1},
                           key_id="ops-2", now=t + 1)
    m.commands.note_ack("rig-1", "ops-2-7", False, "max_depth_m: 1 outside [0.01, 0.15]", t + 1.1)
    recent = rig_json(m, "rig-1", t + 2)["recent_commands"]
    # newest first; alice's stop is older than the window
    assert [(c["key_id"], c["sent_by"], c["command"], c["status"]) for c in recent] == [
        ("ops-2", "", "set_param", CommandStatus.REJECTED.value),
        ("ops-1", "bob", "arm", CommandStatus.PENDING.value)]
    assert "outside [0.01, 0.15]" in recent[0]["reason"]


def test_the_dump_site_is_the_missions() -> None:
    m, r = FleetModel(P), ParamRig()
    m.handle(r.state(0.1, mode="idle"), 0.1)
    assert dump_json(m.rigs["rig-1"]) is None
    mission = {"mission": "two", "delivered_kg": 0.0, "cycles": 0, "sites": [],
               "dump": {"x_m": 0.25, "y_m": -0.5}}
    m.handle(r.state(0.2, mode="idle", mission=mission), 0.2)
    assert dump_json(m.rigs["rig-1"]) == {"x_m": 0.25, "y_m": -0.5}
    assert rig_json(m, "rig-1", 0.3)["mission"]["dump"] == {"x_m": 0.25, "y_m": -0.5}


async def test_the_commands_page_hard_codes_no_parameter(mosquitto, tmp_path) -> None:
    async with console(mosquitto.url, tmp_path) as (port, _):
        alice = Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        status, _, page, _ = await alice.request("GET", "/rigs/rig-1/commands")
        assert status == 200
        html = page.decode()
        assert '<select id="param-name"></select>' in html  # filled from the rig's table
        assert "current_target_a" not in html
        for panel in ('id="param-info"', 'id="live-table"', 'id="others-table"'):
            assert panel in html
        assert '<script src="/static/commands.js">' in html
        status, _, js, _ = await alice.request("GET", "/static/commands.js")
        assert status == 200 and b"is outside its range" in js
        status, _, body, _ = await alice.request("GET", "/api/rigs/rig-1/map")
        assert status == 200 and b'"dump":null' in body.replace(b" ", b"")
