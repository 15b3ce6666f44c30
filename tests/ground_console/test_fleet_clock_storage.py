"""The rover's clock offset and storage state beyond the state panel: a fleet-table column
each (``GET /api/fleet``), and console alarms: ``limit:clock_offset`` beyond the limit
``rig-ground watch`` uses, ``rig:storage`` while the rover's disk is full or read-only.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from telemetry.ground.alarms import AlarmState
from telemetry.ground.fleet import FleetModel
from telemetry.ground.watch import WatchModel

from .test_console_app import Browser, console
from .test_event_log import _publish
from .test_fleet_watch import P, Rig, causes

FULL = {"full": True, "errno": "EROFS", "dropped": 12, "budget_bytes": 64_000_000,
        "used_bytes": 1_500_000, "unwritten_bytes": 2_300_000}
OK = {**FULL, "full": False, "errno": None, "dropped": 12, "unwritten_bytes": 0}


def test_storage_full_raises_rig_storage_until_a_state_says_it_can_write() -> None:
    m, r = FleetModel(P), Rig()
    m.handle(r.status(True), 0.0)
    m.handle(r.state(1.0, mode="idle", storage=OK), 1.0)
    assert causes(m) == {}
    m.handle(r.state(2.0, mode="idle", storage=FULL), 2.0)
    m.handle(r.state(2.1, mode="idle", storage={**FULL, "dropped": 40}), 2.1)
    alarm = m.alarms.get("rig-1", "rig:storage")
    assert alarm.state is AlarmState.ACTIVE and alarm.count == 1
    assert alarm.text.startswith("rover storage: disk read-only (EROFS)")
    assert alarm.updated_at == 2.0  # one alarm, not one update per state
    m.handle(r.state(3.0, mode="idle", storage=OK), 3.0)
    assert causes(m) == {"rig:storage": AlarmState.CLEARED}
    m.handle(r.status(False), 4.0)  # offline: its cause is unknown, like any other
    m.handle(r.state(5.0, mode="idle", storage=FULL), 5.0)
    m.handle(r.status(False), 6.0)
    assert causes(m)["rig:storage"] is AlarmState.STALE


def test_watch_and_the_console_share_the_clock_limit(tmp_path) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text("[clock_offset]\nred_low = -3.0\nred_high = 3.0\n")
    from telemetry.ground.limits import load_limits
    w, r = WatchModel(P, limits=load_limits(limits)), Rig()
    w.handle(r.status(True), 0.0)
    w.handle(r.state(1.0, mode="idle", clock_offset_s=4.0, clock_source="ground"), 1.0)
    assert causes(w.fleet) == {"limit:clock_offset": AlarmState.ACTIVE}


async def _fleet_row(b: Browser) -> dict:
    status, _, body, _ = await b.request("GET", "/api/fleet")
    assert status == 200
    rigs = json.loads(body)["rigs"]
    return rigs[0] if rigs else {}


async def _alarms(b: Browser) -> dict[str, str]:
    status, _, body, _ = await b.request("GET", "/api/rigs/rig-1")
    return {a["cause"]: a["state"] for a in json.loads(body)["alarms"]} if status == 200 else {}


async def _until(what: str, probe, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = await probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.1)


@pytest.mark.broker
async def test_the_fleet_api_has_clock_and_storage_columns_and_alarms(mosquitto,
                                                                      tmp_path) -> None:
    r = Rig()
    async with console(mosquitto.url, tmp_path) as (port, _):
        b = Browser(port)
        assert (await b.login("olga", "olga-password"))[0] == 303
        await _publish(mosquitto.url, [r.status(True), r.state(
            1.0, mode="idle", clock_offset_s=0.4, clock_sync_age_s=3.0, clock_source="ground",
            storage=OK)])
        row = await _until("its clock", lambda: _with(b, "clock_offset_s", 0.4))
        assert (row["clock_level"], row["clock_sync_age_s"], row["clock_source"]) == (
            "ok", 3.0, "ground")
        assert row["storage"] == OK and row["storage_level"] == "ok"
        assert await _alarms(b) == {}

        # 7 s behind: beyond the default clock_offset red limit (5 s), the one watch uses
        await _publish(mosquitto.url, [r.state(2.0, mode="idle", clock_offset_s=7.0,
                                               clock_sync_age_s=1.0, clock_source="ground",
                                               storage=FULL)])
        row = await _until("the offset", lambda: _with(b, "clock_offset_s", 7.0))
        assert row["clock_level"] == "red"
        assert row["storage"]["full"] and row["storage"]["errno"] == "EROFS"
        assert row["storage_level"] == "red"
        alarms = await _until("both alarms", lambda: _alarms_with(b, 2))
        assert alarms == {"limit:clock_offset": "active", "rig:storage": "active"}

        await _publish(mosquitto.url, [r.state(3.0, mode="idle", clock_offset_s=-0.2,
                                               clock_source="ground", storage=OK)])
        await _until("cleared", lambda: _cleared(b))
        row = await _fleet_row(b)
        assert row["clock_level"] == "ok" and row["storage_level"] == "ok"

        # a rover without signed commands and without a downlink store: no columns to fill
        r2 = Rig("rig-2")
        await _publish(mosquitto.url, [r2.status(True), r2.state(1.0, mode="idle")])

        async def second() -> dict | None:
            _, _, body, _ = await b.request("GET", "/api/fleet")
            rigs = {x["rig"]: x for x in json.loads(body)["rigs"]}
            return rigs.get("rig-2") if rigs.get("rig-2", {}).get("mode") == "idle" else None

        bare = await _until("rig-2", second)
        assert (bare["clock_offset_s"], bare["clock_level"], bare["storage"],
                bare["storage_level"]) == (None, "none", None, "none")


async def _with(b: Browser, key: str, value: float) -> dict | None:
    row = await _fleet_row(b)
    return row if row.get(key) == value else None


async def _alarms_with(b: Browser, n: int) -> dict | None:
    alarms = await _alarms(b)
    return alarms if len(alarms) >= n else None


async def _cleared(b: Browser) -> bool:
    alarms = await _alarms(b)
    return bool(alarms) and all(s == "cleared" for s in alarms.values())
