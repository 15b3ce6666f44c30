"""The alarm and event log: the pure log (occurrences, bound, filters) and ``GET /api/log``
against a real console fed through a real Mosquitto.

A cleared, acknowledged alarm leaves the alarm table (the alarms page), and
before the log it left every view: here it stays listed, with who acknowledged
it and when.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from urllib.parse import urlencode

import pytest

from telemetry.contract import Severity
from telemetry.contract.downlink_signature import sign_payload
from telemetry.contract.keys import generate
from telemetry.ground.alarms import AlarmTable
from telemetry.ground.console.log_view import LogQueryError, parse_filter
from telemetry.ground.event_log import EntryType, EventLog, LogFilter, LogState
from telemetry.ground.fleet import FleetModel
from telemetry.mqtt.adapter import InboundMessage, MqttSettings, connect

from .test_console_app import Browser, console
from .test_fleet_watch import P, Rig


def _model() -> tuple[FleetModel, Rig]:
    m, r = FleetModel(P), Rig()
    m.handle(r.status(True), 0.0)
    m.handle(r.event(1.0, "interlock_tripped", "alarm", "tilt 16.2 deg > 15 deg", name="tilt"),
             1.0)
    m.handle(r.event(2.0, "mission_started", "info", "mission m-1 begins"), 2.0)
    m.handle(r.event(3.0, "obstacle_reported", "critical", "obstacle 0.4 m ahead"), 3.0)
    return m, r


def test_a_cleared_acknowledged_alarm_stays_in_the_log() -> None:
    m, r = _model()
    tilt = m.alarms.get("rig-1", "interlock:tilt")
    m.alarms.acknowledge(tilt.id, "alice", 4.0)
    m.handle(r.event(5.0, "interlock_cleared", "info", "tilt back within limits", name="tilt"),
             5.0)
    assert m.alarms.get("rig-1", "interlock:tilt") is None  # gone from the alarm table
    (entry,) = m.log.query(LogFilter(kind="interlock:tilt")).entries
    assert entry.alarm.state.value == "cleared" and entry.alarm.acked_by == "alice"
    assert entry.alarm.acked_at == 4.0 and entry.alarm.cleared_at == 5.0 and entry.at == 1.0
    # the cause comes back: a new alarm, a new line; the old one stays as it was
    m.handle(r.event(6.0, "interlock_tripped", "alarm", "tilt 15.5 deg > 15 deg", name="tilt"),
             6.0)
    lines = m.log.query(LogFilter(type=EntryType.ALARM, kind="interlock")).entries
    assert [(e.at, e.alarm.state.value, e.alarm.acked_by) for e in lines] == [
        (6.0, "active", None), (1.0, "cleared", "alice")]


def test_filters_newest_first() -> None:
    m, _ = _model()
    everything = m.log.query().entries
    assert [e.at for e in everything] == sorted((e.at for e in everything), reverse=True)
    kinds = [e.name for e in everything]
    assert kinds.count("interlock_tripped") == 1 and "interlock:tilt" in kinds
    q = m.log.query
    assert {e.type for e in q(LogFilter(type=EntryType.EVENT)).entries} == {EntryType.EVENT}
    assert {e.severity for e in q(LogFilter(min_severity=Severity.CRITICAL)).entries} == {
        Severity.CRITICAL}
    assert [e.name for e in q(LogFilter(state=LogState.ACTIVE)).entries] == ["interlock:tilt"]
    assert [e.name for e in q(LogFilter(state=LogState.CLEARED)).entries] == [
        "event:obstacle_reported"]  # a one-off alarm is born cleared
    assert [e.name for e in q(LogFilter(text="OBSTACLE 0.4")).entries] == [
        "event:obstacle_reported", "obstacle_reported"]
    assert [e.at for e in q(LogFilter(since=2.0, until=2.5)).entries] == [2.0]
    assert q(LogFilter(rig="rig-2")).matched == 0
    # no rig keys configured: nothing is verified
    assert q(LogFilter(verified_only=True)).matched == 0


def test_verified_only_keeps_what_the_rig_signed() -> None:
    rover = generate("rover")
    m = FleetModel(P, rig_keys={"rig-1": rover.signing_key.verify_key})
    signed, unkeyed = Rig("rig-1"), Rig("rig-2")

    def sign(inbound: InboundMessage) -> InboundMessage:
        return replace(inbound, payload=sign_payload(rover.signing_key, inbound.topic,
                                                     inbound.payload))

    m.handle(sign(signed.status(True)), 0.0)
    m.handle(sign(signed.event(1.0, "obstacle_reported", "alarm", "obstacle ahead")), 1.0)
    m.handle(unkeyed.status(True), 0.0)
    m.handle(unkeyed.event(1.5, "obstacle_reported", "alarm", "obstacle too"), 1.5)
    forged = signed.event(2.0, "obstacle_reported", "alarm", "forged obstacle")
    m.handle(forged, 2.0)  # rig-1 unsigned: dropped, never logged
    every = m.log.query().entries
    assert {(e.rig, e.type, e.verified) for e in every} == {
        ("rig-1", EntryType.EVENT, True), ("rig-1", EntryType.ALARM, True),
        ("rig-2", EntryType.EVENT, False), ("rig-2", EntryType.ALARM, False)}
    assert {e.rig for e in m.log.query(LogFilter(verified_only=True)).entries} == {"rig-1"}
    assert not any("forged" in e.text for e in every)


def test_the_log_is_bounded_and_counts_what_it_dropped() -> None:
    log = EventLog(capacity=3)
    for i in range(5):
        log.note_event("rig-1", "k", Severity.INFO, f"e{i}", float(i), verified=True)
    page = log.query()
    assert [e.text for e in page.entries] == ["e4", "e3", "e2"]
    assert (page.kept, page.dropped, page.capacity) == (3, 2, 3)
    table = AlarmTable()
    table.observers.append(log.note_alarm)
    table.raise_alarm("rig-1", "limit:x", Severity.ALARM, "x above red limit 5", 9.0)
    assert log.query(LogFilter(type=EntryType.ALARM)).matched == 1 and log.dropped == 3


def test_query_parameters_are_checked() -> None:
    where, limit = parse_filter({"rig": "rig-1", "type": "alarm", "severity": "warning",
                                 "state": "acked", "verified": "1", "q": "tilt",
                                 "since": "2026-12-07T04:00", "until": "1796616000",
                                 "limit": "20"})
    assert (where.rig, where.type, where.min_severity, where.state) == (
        "rig-1", EntryType.ALARM, Severity.WARNING, LogState.ACKED)
    assert where.verified_only and where.text == "tilt" and limit == 20
    assert where.since == 1796616000.0 and where.until == 1796616000.0  # 04:00 UTC
    for params, name in (({"type": "alarms"}, "type"), ({"severity": "loud"}, "severity"),
                         ({"state": "gone"}, "state"), ({"since": "yesterday"}, "since"),
                         ({"until": "inf"}, "until"), ({"limit": "0"}, "limit"),
                         ({"limit": "many"}, "limit"), ({"verified": "yes"}, "verified")):
        with pytest.raises(LogQueryError) as err:
            parse_filter(params)
        assert err.value.param == name and "expected" in str(err.value)


# ---------------------------------------------------------------- the API, real broker


async def _publish(url: str, messages) -> None:
    async with connect(MqttSettings.from_url(url, protocol="5")) as rover:
        for m in messages:
            await rover.publish(m.topic, m.payload, qos=1)


async def _log(b: Browser, **params: str) -> tuple[int, dict]:
    status, _, body, _ = await b.request("GET", f"/api/log?{urlencode(params)}")
    return status, json.loads(body)


async def _until_logged(b: Browser, what: str, check, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body = await _log(b)
        assert status == 200, body
        if check(body):
            return body
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s: {body}"
        await asyncio.sleep(0.1)


@pytest.mark.broker
async def test_the_log_api_filters_and_keeps_cleared_acknowledged_alarms(mosquitto,
                                                                         tmp_path) -> None:
    r = Rig()
    async with console(mosquitto.url, tmp_path) as (port, _):
        b = Browser(port)
        status, _, body, _ = await b.request("GET", "/api/log")
        assert status == 401  # a session first, as every API
        assert (await b.login("olga", "olga-password"))[0] == 303
        await _publish(mosquitto.url, [
            r.status(True),
            r.event(1.0, "interlock_tripped", "alarm", "tilt 16.2 deg > 15 deg", name="tilt"),
            r.event(2.0, "mission_started", "info", "mission m-1 begins")])
        body = await _until_logged(b, "the alarm and both events", lambda j: j["matched"] == 3)
        alarm = next(e for e in body["entries"] if e["type"] == "alarm")
        assert (alarm["kind"], alarm["state"], alarm["acked_by"]) == ("interlock:tilt", "active",
                                                                      None)
        assert body["entries"][0]["at"] >= body["entries"][-1]["at"]  # newest first
        assert body["rigs"] == ["rig-1"] and body["dropped"] == 0

        alice = Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        status, _ = await alice.post_json(f"/api/alarms/{alarm['id']}/ack", {},
                                          await alice.csrf())
        assert status == 200
        await _publish(mosquitto.url, [r.event(3.0, "interlock_cleared", "info",
                                               "tilt back within limits", name="tilt")])
        await _until_logged(b, "the alarm cleared", lambda j: any(
            e["type"] == "alarm" and e["state"] == "cleared" for e in j["entries"]))
        status, _, snap, _ = await b.request("GET", "/api/rigs/rig-1")
        assert json.loads(snap)["alarms"] == []  # gone from the alarm views...
        status, body = await _log(b, state="acked")
        (kept,) = body["entries"]  # ...kept in the log, with who and when
        assert (kept["kind"], kept["state"], kept["acked_by"]) == ("interlock:tilt", "cleared",
                                                                   "alice")
        assert kept["acked_at"] is not None and kept["cleared_at"] >= kept["acked_at"]

        async def kinds(**params: str) -> list[str]:
            status, body = await _log(b, **params)
            assert status == 200, body
            return [e["kind"] for e in body["entries"]]

        assert await kinds(type="event") == ["interlock_cleared", "mission_started",
                                             "interlock_tripped"]
        assert await kinds(severity="alarm") == ["interlock:tilt", "interlock_tripped"]
        assert await kinds(kind="interlock") == ["interlock:tilt"]
        assert await kinds(state="active") == []
        assert await kinds(q="MISSION M-1") == ["mission_started"]
        assert await kinds(rig="rig-2") == []
        assert await kinds(verified="1") == []  # this console checks no signatures
        assert await kinds(since="2100-01-01T00:00:00Z") == []
        assert len(await kinds(until="2100-01-01T00:00:00Z", limit="2")) == 2
        status, body = await _log(b, state="sideways")
        assert status == 400 and body["param"] == "state"
        assert "expected one of active, unacked, acked, cleared" in body["error"]
