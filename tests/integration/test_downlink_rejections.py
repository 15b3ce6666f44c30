"""A real Mosquitto whose ACL denies topics: the downlink sees every refusal (MQTT 5).

Mosquitto acknowledges a QoS 1 publish its ACL denies; only an MQTT 5 PUBACK
says so (reason code 0x87). The downlink must count the refusal, move the row to
the dead-letter table, raise an alarm and report it in the retained status,
never count it published. No sleeps: "nothing more happened" is shown with a
marker message published after the fact and received in order.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from telemetry.contract import Severity
from telemetry.contract.payloads import (
    AckMessage,
    BatchBlock,
    EventMessage,
    StateMessage,
    StatusMessage,
)
from telemetry.contract.rig_state import RigState
from telemetry.contract.status_info import RigInfo
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import collecting, wait_until

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[2]
SHIPPED_ACL = REPO / "deploy" / "mosquitto" / "acl"
PASSWORDS = {"rig-1": "rover-pw", "obs-1": "obs-pw"}
DEADLINE_S = 10.0


def password_file(tmp_path: Path) -> str:
    path = tmp_path / "passwd"
    path.touch()
    for user, pw in PASSWORDS.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, pw], check=True,
                       capture_output=True)
    return path.read_text()


def secured(factory: Callable, tmp_path: Path, acl: str):
    return factory(extra_config=["password_file {dir}/passwd", "acl_file {dir}/acl"],
                   files={"passwd": password_file(tmp_path), "acl": acl})


def ground_url(broker) -> str:
    return f"mqtt://obs-1:{PASSWORDS['obs-1']}@{broker.host}:{broker.port}"


def rover_config(tmp_path: Path, broker, **kw: object) -> DownlinkConfig:
    return DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "outbox.db",
                          broker_url=broker.url, username="rig-1", password=PASSWORDS["rig-1"],
                          reconnect_initial_s=0.05, reconnect_cap_s=0.5, **kw)


def of_type(got, kind: type) -> list:
    return [m for _, m in got.received if isinstance(m, kind)]


async def test_acl_denied_publish_is_dead_lettered_counted_alarmed_and_in_status(
        mosquitto_factory, tmp_path: Path) -> None:
    broker = secured(mosquitto_factory, tmp_path, SHIPPED_ACL.read_text())
    # MQTT 5 is the default: nothing here asks for it
    assert DownlinkConfig(rig_id="rig-1", outbox_path="x").protocol == "5"
    async with collecting(ground_url(broker), "regolith/rig-1/#") as got:
        async with Downlink(rover_config(tmp_path, broker, event_throttle_s=0.2)) as dl:
            dl.publish_birth(RigInfo.from_json({"software_version": "test"}))
            await wait_until(lambda: dl.connected, DEADLINE_S, "rover connected")
            dl.publish_state(RigState.from_json({"i": 0}))
            # the shipped ACL grants the rover only its safety_zone and feed public topics
            denied = dl.publish_public("other", "public/regolith/rig-1/not_granted", b"{}")
            dl.publish_ack("after-the-denied-one", True)
            await wait_until(lambda: dl.counters.dead_letters == 1, DEADLINE_S,
                             f"one dead letter (counters {dl.counters})")
            await wait_until(lambda: any(isinstance(m, AckMessage) for _, m in got.received),
                             DEADLINE_S, "the ack published after the denied message")
            c = dl.counters
            assert (c.rejected, c.dead_letters, c.published) == (1, 1, 2), c
            (letter,) = dl.dead_letters()
            assert (letter.stream, letter.seq) == ("public/other", denied.seq)
            assert (letter.topic, letter.reason_code) == ("public/regolith/rig-1/not_granted",
                                                          0x87)

            def alarm() -> EventMessage | None:
                return next((m for m in of_type(got, EventMessage)
                             if m.kind == "publish_rejected"), None)

            await wait_until(lambda: alarm() is not None, DEADLINE_S, "the rejection alarm")
            event = alarm()
            assert event.severity is Severity.ALARM
            assert event.fields["rejected"] == [{
                "stream": "public/other", "topic": "public/regolith/rig-1/not_granted",
                "first_seq": denied.seq, "last_seq": denied.seq, "count": 1,
                "reason_code": 0x87, "reason": "Not authorized"}]
            assert event.fields["dead_letters"] == 1

            def reported() -> bool:
                return any(m.online and m.info.downlink is not None
                           and m.info.downlink.dead_letters == 1
                           for m in of_type(got, StatusMessage))

            await wait_until(reported, DEADLINE_S, "status reporting the dead letter")
            assert [m.state for m in of_type(got, StateMessage)] == [
                RigState.from_json({"i": 0})]
            assert dl.counters.outbox_depth == 0


async def test_an_alarm_about_a_refused_alarm_is_never_raised(mosquitto_factory,
                                                              tmp_path: Path) -> None:
    # this ACL lets the rover publish everything but batch/denied and its alarms
    acl = "\n".join([
        "user rig-1",
        *(f"topic write regolith/rig-1/{t}" for t in (
            "status", "state", "ack", "ledger", "event/info", "event/warning",
            "event/critical", "batch/allowed")),
        "user obs-1", "topic read regolith/#", ""])
    broker = secured(mosquitto_factory, tmp_path, acl)
    async with collecting(ground_url(broker), "regolith/rig-1/#") as got:
        async with Downlink(rover_config(tmp_path, broker, event_throttle_s=0)) as dl:
            await wait_until(lambda: dl.connected, DEADLINE_S, "rover connected")
            dl.publish_batch(BatchBlock("denied", ["x"], ["m"], 0.0, 0.1, [[1.0]]))
            await wait_until(lambda: dl.counters.dead_letters == 2, DEADLINE_S,
                             f"batch and alarm dead-lettered ({dl.counters})")
            # if the refused alarm raised another alarm, that one would be refused too,
            # and so on: by the time this marker is in, the count would have grown
            dl.publish_ack("marker", True)
            await wait_until(lambda: any(isinstance(m, AckMessage) for _, m in got.received),
                             DEADLINE_S, "marker")
            await wait_until(lambda: dl.counters.outbox_depth == 0, DEADLINE_S, "drained")
            c = dl.counters
            assert (c.rejected, c.dead_letters) == (2, 2), c
            assert sorted(d.stream for d in dl.dead_letters()) == ["batch/denied", "event"]


async def test_mqtt_311_cannot_see_a_denied_publish(mosquitto_factory, tmp_path: Path) -> None:
    """The documented limit of MQTT 3.1.1 (docs/telemetry.md): the broker acks a denied
    publish like any other, so it counts as published and the row is deleted."""
    broker = secured(mosquitto_factory, tmp_path, SHIPPED_ACL.read_text())
    async with Downlink(rover_config(tmp_path, broker, protocol="3.1.1")) as dl:
        await wait_until(lambda: dl.connected, DEADLINE_S, "rover connected")
        dl.publish_public("other", "public/regolith/rig-1/not_granted", b"{}")
        await wait_until(lambda: dl.counters.outbox_depth == 0, DEADLINE_S, "drained")
        c = dl.counters
        assert (c.published, c.rejected, c.dead_letters) == (1, 0, 0), c
