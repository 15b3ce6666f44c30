"""``rig:offline``: a rig gone without a clean shutdown, or silent, raises an alarm (pure).

The rule (``telemetry.ground.offline``) and its wiring in the fleet model, with
plain numbers for time: the broker's last will raises it, the rover's clean
goodbye does not, an online rig silent while the ground's link is up raises it,
and a broker outage on the ground's side raises nothing per rig.
"""

from __future__ import annotations

from telemetry.contract.payloads import StatusMessage
from telemetry.contract.status_info import RigInfo
from telemetry.ground.alarms import AlarmState, AlarmTable
from telemetry.ground.fleet import FleetModel
from telemetry.ground.offline import OFFLINE_CAUSE, OfflineRule
from telemetry.ground.watch import WatchModel

from .test_fleet_watch import P, Rig, causes


def goodbye(r: Rig, t: float):
    """The rover's clean shutdown status (``shutdown: true``)."""
    return r.msg("status", StatusMessage(r.env("status", t), False, RigInfo(software="x"),
                                         shutdown=True))


def live_model(silent_after_s: float = 5.0) -> FleetModel:
    m = FleetModel(P, silent_after_s=silent_after_s)
    m.set_link(True, 0.0)
    return m


def test_the_pure_rule_with_an_injected_clock() -> None:
    table = AlarmTable()
    rule = OfflineRule(table, silent_after_s=3.0)
    rule.link(True, 100.0)
    assert not rule.check_silence("r", True, 99.0, 102.9, 0.1)  # 2.9 s since the link came up
    assert not rule.check_silence("r", True, 99.0, 103.0, 0.1)  # not heard since: grace
    assert not rule.check_silence("r", True, 99.0, 132.9, 0.1)
    assert not rule.check_silence("r", True, 100.5, 103.4, 0.1)  # heard since: 2.9 s
    assert rule.check_silence("r", True, 100.5, 103.5, 0.1)
    alarm = table.get("r", OFFLINE_CAUSE)
    assert alarm is not None and alarm.state is AlarmState.ACTIVE
    assert alarm.text.startswith("rig silent for 3.0 s") and "every 0.1 s" in alarm.text, \
        alarm.text
    rule.heard("r", 104.0)
    assert table.get("r", OFFLINE_CAUSE).state is AlarmState.CLEARED
    # an offline rig is not "silent": its status already said so
    assert not rule.check_silence("q", False, 0.0, 200.0, None)
    assert not rule.check_silence("q", None, 0.0, 200.0, None)
    # the link down: nobody can tell
    rule.link(False, 105.0)
    assert rule.silent_for(0.0, 500.0) is None
    assert not rule.check_silence("s", True, 0.0, 500.0, None)
    assert table.get("s", OFFLINE_CAUSE) is None


def test_the_last_will_raises_it_and_the_rig_coming_back_clears_it() -> None:
    m, r = live_model(), Rig()
    m.handle(r.status(True), 0.0)
    m.handle(r.state(0.5, mode="idle"), 0.5)
    m.handle(r.status(False, 1.0), 1.0)  # the broker's last will: no shutdown flag
    m.tick(1.9)
    assert OFFLINE_CAUSE not in causes(m)  # not before the link stayed up a second
    m.tick(2.0)
    alarm = m.alarms.get("rig-1", OFFLINE_CAUSE)
    assert alarm is not None and alarm.state is AlarmState.ACTIVE
    assert "offline unexpectedly" in alarm.text and alarm.severity.is_alarm
    m.tick(30.0)  # offline, not silent: the alarm stays as it was, raised once
    assert m.alarms.get("rig-1", OFFLINE_CAUSE).count == 1
    m.handle(r.status(True, 40.0), 40.0)
    assert causes(m)[OFFLINE_CAUSE] is AlarmState.CLEARED
    # in the console it stays listed until acknowledged
    m.alarms.acknowledge(alarm.id, "op", 41.0)


def test_a_clean_shutdown_raises_nothing() -> None:
    m, r = live_model(), Rig()
    m.handle(r.status(True), 0.0)
    m.handle(r.state(0.5, mode="idle"), 0.5)
    m.handle(goodbye(r, 1.0), 1.0)
    for t in (2.0, 10.0, 60.0):
        m.tick(t)
    assert OFFLINE_CAUSE not in causes(m)
    assert m.rigs["rig-1"].online is False and m.rigs["rig-1"].shutdown
    m.handle(r.status(True, 70.0), 70.0)
    m.handle(r.status(False, 71.0), 71.0)  # then a last will: not a shutdown
    assert not m.rigs["rig-1"].shutdown


def test_a_silent_online_rig_raises_it_and_the_will_then_rewords_it() -> None:
    m, r = live_model(silent_after_s=5.0), Rig()
    m.handle(r.status(True), 0.0)
    for i in range(10):
        m.handle(r.state(i * 0.1, mode="idle", interlocks=["tilt"]), i * 0.1)
    m.tick(5.8)
    assert OFFLINE_CAUSE not in causes(m)
    m.tick(6.0)  # 5.1 s after the last state
    assert causes(m)[OFFLINE_CAUSE] is AlarmState.ACTIVE
    assert causes(m)["interlock:tilt"] is AlarmState.STALE  # its cause is unknown now
    assert "silent for 5.1 s" in m.alarms.get("rig-1", OFFLINE_CAUSE).text
    m.handle(r.status(False, 20.0), 20.0)  # the keep-alive ran out: the broker's will
    m.tick(21.0)
    alarm = m.alarms.get("rig-1", OFFLINE_CAUSE)
    assert alarm.state is AlarmState.ACTIVE and "offline unexpectedly" in alarm.text
    assert alarm.count == 1  # the same occurrence, reworded


def test_wills_of_a_broker_shutting_down_raise_nothing() -> None:
    """A broker that stops publishes every client's will, then the ground's link drops."""
    m, r = live_model(), Rig()
    m.handle(r.status(True), 0.0)
    m.handle(r.status(False, 5.0), 5.0)
    m.tick(5.5)
    m.set_link(False, 5.6)
    for t in (7.0, 30.0):
        m.tick(t)
    m.set_link(True, 31.0)
    m.handle(r.status(True, 35.0), 35.0)
    m.tick(39.0)
    assert OFFLINE_CAUSE not in causes(m)


def test_broker_loss_on_the_ground_side_raises_no_per_rig_alarm() -> None:
    m, r = live_model(silent_after_s=5.0), Rig()
    m.handle(r.status(True), 0.0)
    m.handle(r.state(0.5, mode="idle"), 0.5)
    m.set_link(False, 1.0)
    for t in (2.0, 10.0, 60.0):
        m.tick(t)
    assert OFFLINE_CAUSE not in causes(m)
    m.set_link(True, 61.0)  # back: a rig not heard since has the reconnect grace (30 s)
    m.tick(63.0)
    m.tick(61.0 + 30.0 + 4.9)
    assert OFFLINE_CAUSE not in causes(m)
    m.handle(r.state(96.0, mode="idle"), 96.0)  # it reconnected and speaks
    m.tick(100.9)
    assert OFFLINE_CAUSE not in causes(m)
    m.tick(101.1)  # and a rig silent after it was heard again is reported as usual
    assert causes(m)[OFFLINE_CAUSE] is AlarmState.ACTIVE


def test_watch_lists_the_offline_alarm() -> None:
    w, r = WatchModel(P, silent_after_s=5.0), Rig()
    w.set_link(True, 0.0)
    w.handle(r.status(True), 0.0)
    w.handle(r.status(False, 1.0), 1.0)
    w.tick(2.0)
    from rich.console import Console
    out = Console(width=200, record=True)
    out.print(w.render(2.0))
    text = out.export_text()
    assert "offline unexpectedly" in text and "rig-1  offline" in text
    w.handle(goodbye(r, 3.0), 3.0)
    out = Console(width=200, record=True)
    out.print(w.render(4.0))
    assert "rig-1  shut down" in out.export_text()
