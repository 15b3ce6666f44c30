"""The fleet model (shared by watch, the client and the console) and ``watch``, message by
message."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from telemetry.contract import Severity
from telemetry.contract.command_wire import CommandBody, encode_body, sign_envelope
from telemetry.contract.keys import generate
from telemetry.contract.payloads import (
    AckMessage,
    BatchBlock,
    BatchMessage,
    Envelope,
    EventMessage,
    LedgerMessage,
    StateMessage,
    StatusMessage,
    encode,
)
from telemetry.contract.rig_state import RigState
from telemetry.contract.status_info import RigInfo
from telemetry.ground.alarms import AlarmState
from telemetry.ground.command_log import CommandStatus
from telemetry.ground.fleet import FleetModel
from telemetry.ground.watch import WatchModel
from telemetry.mqtt.adapter import InboundMessage

P = "regolith"


class Rig:
    """Builds the messages one rig would publish (sequence numbers per stream)."""

    def __init__(self, rig: str = "rig-1", boot: int = 1) -> None:
        self.rig, self.boot, self.seq = rig, boot, {}

    def env(self, stream: str, t: float, historical: bool = False) -> Envelope:
        seq = self.seq[stream] = self.seq.get(stream, -1) + 1
        return Envelope(self.rig, self.boot, seq, t, t, historical=historical)

    def msg(self, topic: str, message) -> InboundMessage:
        return InboundMessage(f"{P}/{self.rig}/{topic}", encode(message), 1, False)

    def status(self, online: bool, t: float = 0.0) -> InboundMessage:
        return self.msg("status", StatusMessage(self.env("status", t), online,
                                                RigInfo(software="x")))

    def state(self, t: float, **state) -> InboundMessage:
        return self.msg("state", StateMessage(self.env("state", t), RigState.from_json(state)))

    def event(self, t: float, kind: str, severity: str, text: str, historical: bool = False,
              **fields) -> InboundMessage:
        return self.msg(f"event/{severity}", EventMessage(
            self.env("event", t, historical), kind, Severity(severity), text, fields))

    def batch(self, t: float, **values: float) -> InboundMessage:
        names = tuple(values)
        rows = np.array([[values[n] for n in names]] * 3, dtype=np.float32)
        return self.msg("batch/stream0", BatchMessage(
            self.env("batch/stream0", t),
            BatchBlock("stream0", names, ("u",) * len(names), t, 0.01, rows)))


def causes(model: FleetModel, rig: str = "rig-1") -> dict[str, AlarmState]:
    return {a.cause: a.state for a in model.alarms.for_rig(rig)}


def test_interlock_alarm_raised_by_its_event_and_cleared_by_the_cause() -> None:
    m, r = FleetModel(P), Rig()
    m.handle(r.status(True), 0.0)
    m.handle(r.event(1.0, "interlock_tripped", "alarm", "tilt 16 deg > 15 deg", name="tilt"), 1.0)
    assert causes(m) == {"interlock:tilt": AlarmState.ACTIVE}
    # a state enqueued before the trip but drained after it (events overtake states in the
    # rover's outbox) must not clear it
    m.handle(r.state(0.9, mode="armed", interlocks=[]), 1.1)
    assert causes(m) == {"interlock:tilt": AlarmState.ACTIVE}
    m.handle(r.state(1.2, mode="fault", interlocks=["tilt"]), 1.2)
    assert m.alarms.get("rig-1", "interlock:tilt").text == "tilt 16 deg > 15 deg"
    m.handle(r.state(2.0, mode="fault", interlocks=[]), 2.0)  # the cause went away
    assert causes(m) == {"interlock:tilt": AlarmState.CLEARED}


def test_state_alone_raises_and_clears_interlock_alarms() -> None:
    m, r = FleetModel(P), Rig()
    m.handle(r.state(1.0, mode="fault", interlocks=["over_temperature"]), 1.0)
    assert causes(m) == {"interlock:over_temperature": AlarmState.ACTIVE}
    m.handle(r.event(2.0, "interlock_cleared", "info", "cause gone", name="over_temperature"),
             2.0)
    assert causes(m) == {"interlock:over_temperature": AlarmState.CLEARED}
    # an older state still listing it does not bring it back
    m.handle(r.state(1.5, mode="fault", interlocks=["over_temperature"]), 2.1)
    assert causes(m) == {"interlock:over_temperature": AlarmState.CLEARED}


def test_offline_or_silent_rig_has_stale_alarms_until_it_speaks_again() -> None:
    m, r = FleetModel(P, silent_after_s=5.0), Rig()
    m.handle(r.status(True), 0.0)
    m.handle(r.state(1.0, mode="fault", interlocks=["tilt"]), 1.0)
    m.handle(r.status(False), 2.0)  # the last will
    assert causes(m) == {"interlock:tilt": AlarmState.STALE}
    assert not m.rigs["rig-1"].reachable
    m.handle(r.status(True), 10.0)
    m.handle(r.state(10.5, mode="idle", interlocks=[]), 10.5)
    assert causes(m) == {"interlock:tilt": AlarmState.CLEARED}
    # silence without a last will (the broker has not noticed yet) does the same
    m.handle(r.state(11.0, mode="fault", interlocks=["tilt"]), 11.0)
    m.tick(15.0)
    assert causes(m)["interlock:tilt"] is AlarmState.ACTIVE
    m.tick(16.0)
    assert causes(m)["interlock:tilt"] is AlarmState.STALE and m.rigs["rig-1"].silent
    m.handle(r.state(16.5, mode="fault", interlocks=["tilt"]), 16.5)
    assert causes(m)["interlock:tilt"] is AlarmState.ACTIVE and not m.rigs["rig-1"].silent


def test_limit_alarms_follow_live_values_and_historical_data_raises_nothing() -> None:
    m, r = FleetModel(P), Rig()
    m.handle(r.batch(1.0, motor_temp=90.0, vibration=1.0), 1.0)
    assert causes(m) == {"limit:motor_temp": AlarmState.ACTIVE}
    assert m.rigs["rig-1"].channels["motor_temp"].level.name == "RED"
    m.handle(r.batch(2.0, motor_temp=80.0, vibration=1.0), 2.0)  # yellow: no alarm
    assert causes(m) == {"limit:motor_temp": AlarmState.CLEARED}
    hist = r.event(3.0, "obstacle_reported", "alarm", "rock", historical=True)
    m.handle(hist, 3.0)
    assert set(causes(m)) == {"limit:motor_temp"}
    assert m.rigs["rig-1"].events[0].historical
    m.handle(r.event(4.0, "obstacle_reported", "alarm", "rock at A"), 4.0)
    assert causes(m)["event:obstacle_reported"] is AlarmState.CLEARED  # a one-off


def test_a_limit_with_a_hold_time_alarms_only_when_red_that_long() -> None:
    m, r = FleetModel(P), Rig()  # drum current: red above 19 A for 1.5 s, as the interlock
    m.handle(r.batch(10.0, drum_current=22.0), 10.0)
    assert m.rigs["rig-1"].channels["drum_current"].level.name == "RED"  # coloured at once
    m.handle(r.batch(10.5, drum_current=12.0), 10.5)  # a peak: no alarm
    m.handle(r.batch(11.0, drum_current=22.0), 11.0)
    m.handle(r.batch(12.0, drum_current=22.0), 12.0)
    assert causes(m) == {}
    m.handle(r.batch(12.6, drum_current=21.0), 12.6)  # red since 11.02 (last row): 1.5 s
    assert causes(m) == {"limit:drum_current": AlarmState.ACTIVE}


def test_duplicates_and_malformed_messages_change_nothing() -> None:
    m, r = FleetModel(P), Rig()
    msg = r.event(1.0, "interlock_tripped", "alarm", "tilt", name="tilt")
    assert m.handle(msg, 1.0) is not None
    alarm = m.alarms.get("rig-1", "interlock:tilt")
    m.alarms.clear("rig-1", "interlock:tilt", 1.5)
    assert m.handle(msg, 2.0) is None  # the same (stream, seq) again: dropped
    assert m.alarms.get("rig-1", "interlock:tilt").state is AlarmState.CLEARED
    assert m.handle(InboundMessage(f"{P}/rig-1/state", b"\xff", 1, False), 2.0) is None
    assert m.accounting.malformed == 1 and alarm.count == 1


def test_command_history_from_uplink_and_acks() -> None:
    m, r = FleetModel(P), Rig()
    key = generate("ops-2")
    topic = f"{P}/rig-1/cmd"
    body = CommandBody(7, "ops-2-7", "arm", 100.0, 130.0, {})
    envelope = sign_envelope("ops-2", key.signing_key, topic, encode_body(body))
    m.handle(InboundMessage(topic, envelope, 1, False), 100.0)
    m.handle(InboundMessage(topic, b'{"garbage": true}', 1, False), 100.1)  # ignored
    m.handle(r.msg("ack", AckMessage(r.env("ack", 100.2), "ops-2-7", True)), 100.2)
    m.handle(r.msg("ack", AckMessage(r.env("ack", 100.3), "ops-2-7", False, "replayed: x")),
             100.3)
    m.handle(r.msg("ack", AckMessage(r.env("ack", 100.4), "other-1", False, "expired")), 100.4)
    history = {c.command_id: c for c in m.commands.for_rig("rig-1")}
    assert history["ops-2-7"].status is CommandStatus.ACCEPTED  # the first ack wins
    assert (history["ops-2-7"].command, history["ops-2-7"].key_id) == ("arm", "ops-2")
    assert history["other-1"].command == "?" and history["other-1"].reason == "expired"


def test_ledger_records_and_public_topics_are_kept() -> None:
    m, r = FleetModel(P), Rig()
    for i in (1, 0, 1):
        m.handle(r.msg("ledger", LedgerMessage(r.env("ledger", float(i)), {"index": i})), 1.0)
    assert sorted(m.rigs["rig-1"].ledger) == [0, 1]
    zone = {"v": 1, "type": "safety_zone", "rig": "rig-1", "centre": [1.0, 2.0],
            "radius_m": 3.0, "site": "A"}
    m.handle(InboundMessage(f"public/{P}/rig-1/safety_zone", json.dumps(zone).encode(), 1,
                            True), 2.0)
    m.handle(InboundMessage(f"public/{P}/rig-1/feed", b'{"rig": "rig-2"}', 1, True), 2.0)
    assert m.rigs["rig-1"].safety_zone == zone and m.rigs["rig-1"].public_feed is None
    assert m.accounting.malformed == 1


def test_watch_shows_stale_alarms_and_limit_colours() -> None:
    w, r = WatchModel(P, silent_after_s=5.0), Rig()
    w.handle(r.status(True), 0.0)
    w.handle(r.state(1.0, mode="fault", interlocks=["over_temperature"], motor_temp_c=99.0),
             1.0)
    w.handle(r.batch(1.0, motor_temp=99.0), 1.0)
    console = Console(record=True, width=200, color_system="standard")
    console.print(w.render(1.0))
    styled = console.export_text(styles=True, clear=False)
    text = console.export_text()
    assert "interlock over temperature active" in text and "online" in text
    assert "motor_temp 99.0 u, above red limit 85 u" in text
    red = "\x1b[1;31m"  # bold red: the limit colour of a red value
    assert f"motor_temp_c: {red}99" in styled and f"{red}99 u" in styled
    w.handle(r.status(False), 2.0)
    console = Console(record=True, width=200)
    console.print(w.render(2.0))
    text = console.export_text()
    assert "stale (rig offline): interlock over temperature active" in text
    assert "offline" in text
    # watch has no acknowledgement: cleared alarms leave after the hold time
    w.handle(r.status(True), 3.0)
    w.handle(r.state(3.5, mode="idle", interlocks=[]), 3.5)
    w.handle(r.batch(3.5, motor_temp=20.0), 3.5)
    w.tick(3.6)
    assert all(a.state is AlarmState.CLEARED for a in w.fleet.alarms.all())
    w.tick(40.0)
    assert w.fleet.alarms.all() == []
    # the rover's texts are shown as they are, never read as rich markup
    w.handle(r.event(41.0, "obstacle_reported", "alarm", "[bold]rock[/bold] in [-5, 5]"), 41.0)
    console = Console(record=True, width=200)
    console.print(w.render(41.0))
    assert "cleared: [bold]rock[/bold] in [-5, 5]" in console.export_text()


TOPICS = [f"{P}/rig-1/state", f"{P}/rig-1/event/alarm", f"{P}/rig-1/batch/stream0",
          f"{P}/rig-1/ack", f"{P}/rig-1/ledger", f"{P}/rig-1/status", f"{P}/rig-1/cmd",
          f"{P}/rig-1/stats/stream0", f"public/{P}/rig-1/safety_zone", f"public/{P}/rig-1/feed",
          f"public/{P}/x", f"{P}/rig-1/nonsense", "elsewhere/topic"]


@given(st.lists(st.tuples(st.sampled_from(TOPICS),
                          st.one_of(st.binary(max_size=300),
                                    st.builds(lambda d: json.dumps(d).encode(),
                                              st.dictionaries(st.text(max_size=8),
                                                              st.integers() | st.text(max_size=8),
                                                              max_size=6)))),
                max_size=20))
@settings(max_examples=150, deadline=None)
def test_garbage_never_escapes_the_fleet_model(items) -> None:
    """Wire garbage on any topic is counted or ignored: never an exception, never an alarm."""
    m = FleetModel(P)
    for topic, payload in items:
        m.handle(InboundMessage(topic, payload, 1, False), 1.0)
    m.tick(100.0)
    assert m.alarms.all() == [] and m.commands.for_rig("rig-1") == []


def test_a_rig_id_outside_the_contract_is_malformed_and_makes_no_rig() -> None:
    m = FleetModel(P)
    evil = Rig("<img src=x onerror=alert(1)>")
    assert m.handle(evil.state(1.0, mode="idle"), 1.0) is None
    assert m.handle(evil.status(True), 1.0) is None
    assert m.handle(InboundMessage(f"{P}/rig 1/state", Rig("rig 1").state(1.0).payload, 1,
                                   False), 1.0) is None
    zone = {"v": 1, "type": "safety_zone", "rig": "a b", "centre": [1.0, 2.0]}
    m.handle(InboundMessage(f"public/{P}/a b/safety_zone", json.dumps(zone).encode(), 1,
                            True), 2.0)
    assert m.rigs == {} and m.accounting.malformed == 4
    assert m.handle(Rig("rig-1.a_B").state(1.0, mode="idle"), 1.0) is not None  # all allowed


def test_the_rover_clock_offset_is_shown_and_alarms_beyond_its_limit(tmp_path) -> None:
    limits = tmp_path / "limits.toml"
    limits.write_text("[clock_offset]\nred_low = -20.0\nred_high = 20.0\n")
    from telemetry.ground.limits import load_limits
    w, r = WatchModel(P, limits=load_limits(limits)), Rig()
    w.handle(r.status(True), 0.0)
    w.handle(r.state(1.0, mode="idle", clock_offset_s=12.0, clock_sync_age_s=None,
                     clock_source="rover"), 1.0)
    assert causes(w.fleet) == {}  # within the configured 20 s
    console = Console(record=True, width=200)
    console.print(w.render(1.0))
    assert "clock -12.0 s (not synced yet: its own clock)" in console.export_text()
    w.handle(r.state(2.0, mode="idle", clock_offset_s=3600.0, clock_sync_age_s=4.0,
                     clock_source="ground"), 2.0)
    assert causes(w.fleet) == {"limit:clock_offset": AlarmState.ACTIVE}
    console = Console(record=True, width=200)
    console.print(w.render(2.0))
    text = console.export_text()
    assert "clock -3600.0 s (synced 4 s ago)" in text
    assert "rover clock 3600 s behind the ground's (red limit 20 s)" in text
    w.handle(r.state(3.0, mode="idle", clock_offset_s=0.5, clock_sync_age_s=1.0,
                     clock_source="ground"), 3.0)
    assert causes(w.fleet) == {"limit:clock_offset": AlarmState.CLEARED}


def test_the_console_state_panel_lists_the_clock() -> None:
    from telemetry.ground.console.views import STATE_FIELDS
    keys = [k for k, *_ in STATE_FIELDS]
    assert {"clock_offset_s", "clock_sync_age_s", "clock_source"} <= set(keys)


def test_event_times_are_the_rovers_clock_corrected_by_its_known_offset() -> None:
    m, r = FleetModel(P), Rig()
    wall = 1_796_000_000.0
    m.handle(r.event(wall, "mission_started", "info", "mission m-1 begins"), wall)
    m.handle(r.state(wall + 1, mode="armed", clock_offset_s=-3600.0), wall + 1)
    m.handle(r.event(wall + 2, "mission_started", "info", "mission m-2 begins"), wall + 2)
    newest, oldest = (e.as_dict() for e in m.rigs["rig-1"].events)
    assert (oldest["t_rig"], oldest["t"]) == (wall, wall)  # no offset known yet
    assert (newest["t_rig"], newest["t"]) == (wall + 2, wall + 2 - 3600.0)


def test_invented_rigs_beyond_the_limit_are_refused_and_counted_keyed_ones_never() -> None:
    from nacl.signing import SigningKey

    from telemetry.contract.downlink_signature import sign_payload

    key = SigningKey.generate()
    m = FleetModel(P, rig_keys={"rig-real": key.verify_key}, max_rigs=8)
    for i in range(20):  # a broker client inventing rigs
        m.handle(Rig(f"fake-{i}").status(True), float(i))
    assert len(m.rigs) == 8 and m.rigs_refused == 12
    real = Rig("rig-real")
    msg = real.state(1.0, mode="armed")
    m.handle(type(msg)(msg.topic, sign_payload(key, msg.topic, msg.payload), 1, False), 30.0)
    assert "rig-real" in m.rigs and m.rigs["rig-real"].mode == "armed"


def test_invented_channels_beyond_the_limit_are_ignored_and_counted() -> None:
    from telemetry.ground.fleet import MAX_CHANNELS

    m, r = FleetModel(P), Rig()
    m.handle(r.batch(1.0, load=1.0, drum_speed=2.0), 1.0)
    for i in range(MAX_CHANNELS + 10):  # a broker client naming a new channel each time
        m.handle(r.batch(2.0 + i, **{f"fake_{i}": 0.0}), 2.0 + i)
    view = m.rigs["rig-1"]
    assert len(view.channels) == MAX_CHANNELS and view.channels_refused == 12
    m.handle(r.batch(900.0, load=1.0, drum_speed=2.0), 900.0)
    assert view.channels["load"].t_rig >= 900.0, "the rig's own channels go on"
