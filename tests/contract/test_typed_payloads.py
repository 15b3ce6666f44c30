"""The typed payloads: round trips, decode errors that name the field, newer rovers' keys.

Properties over the contract's JSON forms (``RigState``, ``RigInfo``, ``MissionReport``,
the typed event details) and table tests of ``payloads.decode`` on payloads that
are well-formed JSON with one field wrong: the error names that field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telemetry.contract import CauseKind, CommandName, EventKind, Severity, TopicKind
from telemetry.contract.errors import PayloadDecodeError, PayloadEncodeError
from telemetry.contract.event_details import (
    InterlockChange,
    OutboxEvicted,
    StorageFull,
    event_detail,
)
from telemetry.contract.payloads import (
    Envelope,
    EventMessage,
    StateMessage,
    StatusMessage,
    decode,
    encode,
)
from telemetry.contract.rig_state import MissionReport, RigState
from telemetry.contract.status_info import RigInfo
from telemetry.contract.topics import TopicTree, parse_topic

from .strategies import (
    clock_storage_states,
    interlock_changes,
    missions,
    outbox_evictions,
    rig_infos,
    rig_states,
    storage_reports,
)

ENV = Envelope("rig-1", 3, 7, 1.7e9, 12.5)


def _through_json(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(obj, allow_nan=False))


@given(rig_states)
def test_rig_state_round_trips(state: RigState) -> None:
    assert RigState.from_json(_through_json(state.to_json())) == state
    assert decode(encode(StateMessage(ENV, state))) == StateMessage(ENV, state)


@given(clock_storage_states)
def test_clock_and_storage_fields_round_trip(state: RigState) -> None:
    assert RigState.from_json(_through_json(state.to_json())) == state
    if state.clock_offset_s is None and state.storage is None:
        assert "clock_offset_s" not in state.to_json() and "storage" not in state.to_json()


@given(storage_reports)
def test_storage_full_round_trips(detail: StorageFull) -> None:
    for kind in (EventKind.STORAGE_FULL, EventKind.STORAGE_RECOVERED):
        assert event_detail(kind, _through_json(detail.to_fields())) == detail


@given(rig_infos)
def test_rig_info_round_trips(info: RigInfo) -> None:
    assert RigInfo.from_json(_through_json(info.to_json())) == info
    assert decode(encode(StatusMessage(ENV, True, info))) == StatusMessage(ENV, True, info)


@given(missions)
def test_mission_report_round_trips(mission: MissionReport) -> None:
    assert MissionReport.from_json(_through_json(mission.to_json()), "m") == mission


@given(interlock_changes, st.sampled_from([EventKind.INTERLOCK_TRIPPED,
                                           EventKind.INTERLOCK_CLEARED]))
def test_interlock_detail_round_trips(change: InterlockChange, kind: EventKind) -> None:
    msg = EventMessage(ENV, kind, Severity.ALARM, "t", change.to_fields())
    got = decode(encode(msg))
    assert got == msg and isinstance(got, EventMessage) and got.kind is kind
    assert got.detail == change


@given(outbox_evictions)
def test_eviction_detail_round_trips(evicted: OutboxEvicted) -> None:
    msg = EventMessage(ENV, EventKind.OUTBOX_EVICTED, Severity.WARNING, "t", evicted.to_fields())
    got = decode(encode(msg))
    assert isinstance(got, EventMessage) and got.detail == evicted


def test_a_newer_rovers_keys_pass_an_older_ground_untouched() -> None:
    wire = {"mode": "idle", "drill_temp_c": 0.25, "resume": {"site": "A", "cycle": 2}}
    state = RigState.from_json(wire)
    assert state.mode == "idle"
    assert state.extra == {"drill_temp_c": 0.25, "resume": {"site": "A", "cycle": 2}}
    assert ("drill_temp_c", 0.25) in state.readings()  # scalars are shown
    again = state.to_json()
    assert {k: again[k] for k in wire} == wire
    info = RigInfo.from_json({"software": "rig-control", "streams": {"s": 1}, "build": "x"})
    assert info.software_label == "rig-control" and info.to_json() == {
        "software": "rig-control", "streams": {"s": 1}, "build": "x"}
    # an event kind this ground does not know stays its string, with its fields
    msg = decode(encode(EventMessage(ENV, "drill_warmed", Severity.INFO, "t", {"c": 1})))
    assert isinstance(msg, EventMessage) and msg.kind == "drill_warmed" and msg.detail is None


def test_extra_may_not_shadow_a_known_key() -> None:
    with pytest.raises(PayloadEncodeError, match="'x_m' is a RigState field"):
        RigState(extra={"x_m": 1.0}).to_json()
    with pytest.raises(PayloadEncodeError, match="'software' is a RigInfo field"):
        RigInfo(extra={"software": "x"}).to_json()


def _payload(type_: str, **fields: Any) -> dict[str, Any]:
    return {"historical": False, "resend": False, "v": 1, "type": type_, "rig": "rig-1",
            "boot": 1, "seq": 0, "t_rig": 1.0, "t_mono": 1.0, **fields}


def _state(**state: Any) -> dict[str, Any]:
    return _payload("state", state=RigState(mode="idle", mission=MissionReport(
        "m", 1.0, 2.0, 1, ())).to_json() | state)


def _event(kind: str, **fields: Any) -> dict[str, Any]:
    return _payload("event", kind=kind, severity="alarm", text="t", fields=fields, count=1)


SITE = {"name": "A", "delivered_kg": 1.0, "target_kg": 2.0, "cycles": 1, "abandoned": ""}
MISSION = {"mission": "m", "delivered_kg": 1.0, "target_kg": 2.0, "cycles": 1}
RANGE = {"stream": "batch/s", "first_seq": 0, "last_seq": 4, "count": 5}
MALFORMED: list[tuple[dict[str, Any], str]] = [
    (_state(x_m="12"), "field 'state.x_m': expected a number, got str"),
    (_state(load_cell_ok=1), "field 'state.load_cell_ok': expected true, false or null, got int"),
    (_state(mode=3), "field 'state.mode': expected a string or null, got int"),
    (_state(interlocks=["tilt", 4]), "field 'state.interlocks[1]': expected a string, got int"),
    (_state(interlock_trips={"tilt": 1.5}),
     "field 'state.interlock_trips.tilt': expected an integer, got float"),
    (_state(stalls=[]), "field 'state.stalls': expected an object, got list"),
    (_state(mission={**MISSION, "sites": [SITE, {**SITE, "cycles": "2"}]}),
     "field 'state.mission.sites[1].cycles': expected an integer, got str"),
    (_state(mission={"delivered_kg": 1.0, "cycles": 1}), "missing field 'state.mission.mission'"),
    (_payload("status", online=True, info={"downlink": {"rejected": 0}}),
     "missing field 'info.downlink.dead_letters'"),
    (_payload("status", online=True, info={"software": ["x"]}),
     "field 'info.software': expected a string or null, got list"),
    (_event("interlock_tripped", reaction="immediate_stop"), "missing field 'fields.name'"),
    (_event("interlock_cleared", name=7), "field 'fields.name': expected a string, got int"),
    (_event("interlock_tripped", name="tilt", value="high"),
     "field 'fields.value': expected a number, got str"),
    (_event("outbox_evicted", evicted=[RANGE, {**RANGE, "count": None}], bytes_freed=1,
            dropped_new=False), "field 'fields.evicted[1].count': expected an integer, got null"),
    (_event("outbox_evicted", evicted={}, bytes_freed=1, dropped_new=False),
     "field 'fields.evicted': expected a list, got dict"),
]


@pytest.mark.parametrize(("body", "reason"), MALFORMED, ids=[r for _, r in MALFORMED])
def test_decode_names_the_bad_field(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadDecodeError) as err:
        decode(json.dumps(body).encode())
    assert err.value.reason == reason


def test_the_well_formed_versions_of_those_payloads_decode() -> None:
    for body in (_state(), _state(mission={**MISSION, "sites": [SITE]}),
                 _payload("status", online=True, info={"downlink": {"rejected": 0,
                                                                    "dead_letters": 2}}),
                 _event("interlock_tripped", name="tilt", value=16.0, threshold=15.0),
                 _event("outbox_evicted", evicted=[RANGE], bytes_freed=1, dropped_new=False)):
        decode(json.dumps(body).encode())


def test_topic_kinds_are_parsed_once_into_the_enum() -> None:
    tree = TopicTree("fleet/a", "rig-7")
    cases: list[tuple[str, TopicKind]] = [
        (tree.state, TopicKind.STATE), (tree.status, TopicKind.STATUS),
        (tree.event(Severity.ALARM), TopicKind.EVENT), (tree.ack, TopicKind.ACK),
        (tree.ledger, TopicKind.LEDGER), (tree.batch("imu"), TopicKind.BATCH),
        (tree.stats("imu"), TopicKind.STATS), (tree.command, TopicKind.CMD)]
    for topic, kind in cases:
        parsed = parse_topic("fleet/a", topic)
        assert parsed is not None and parsed.kind is kind, topic
    assert parse_topic("fleet/a", "fleet/a/rig-7/telemetry") is None


def test_names_are_the_strings_of_the_wire() -> None:
    assert CommandName.lookup("reset_estop") is CommandName.RESET_ESTOP
    assert CommandName.lookup("launch") is None
    assert EventKind.lookup("outbox_evicted") is EventKind.OUTBOX_EVICTED
    assert CauseKind.INTERLOCK.cause("tilt") == "interlock:tilt"
    assert CauseKind.LIMIT.prefix == "limit:"
    detail: Callable[[str, dict[str, Any]], object] = event_detail
    assert detail("mode_changed", {"from": "idle"}) is None


def test_a_public_payload_names_its_rig_or_is_refused() -> None:
    from telemetry.contract.public_payload import decode_public

    zone = b'{"v":1,"type":"safety_zone","rig":"rig-1","centre":[3.0,0.0],"radius_m":4.0}'
    got = decode_public(zone)
    assert got.rig == "rig-1" and got.body["radius_m"] == 4.0
    for payload, reason in ((b'{"v":1,"type":"public"}', "missing field 'rig'"),
                            (b'{"rig":7}', "field 'rig': expected a string, got int"),
                            (b'[1]', "field 'payload': expected an object, got list")):
        with pytest.raises(PayloadDecodeError) as err:
            decode_public(payload)
        assert err.value.reason == reason
    with pytest.raises(PayloadDecodeError, match="unparseable"):
        decode_public(b"{nope")
