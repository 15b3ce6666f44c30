"""Rover-signed downlink (issue 24): what operators act on carries the rover's signature.

Pure checks of the signature wrapper and of the fleet model's rules, then the
real thing: the rover's ``Downlink`` (signing with its key) and a forger on
the same Mosquitto racing it with fake acks, events, states and a fake rig,
against a ``GroundClient`` that has the rig's public key.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from telemetry.contract.command_wire import decode_body, decode_envelope
from telemetry.contract.downlink_signature import (
    Verdict,
    sign_payload,
    split_signature,
    verify_payload,
)
from telemetry.contract.keys import generate, write_key_files
from telemetry.contract.payloads import (
    AckMessage,
    BatchBlock,
    BatchMessage,
    Envelope,
    EventMessage,
    StateMessage,
    decode,
    encode,
    set_delivery_flags,
)
from telemetry.contract.rig_state import RigState
from telemetry.contract.status_info import RigInfo
from telemetry.contract.topics import Severity
from telemetry.ground.client import GroundClient
from telemetry.ground.command_log import CommandStatus
from telemetry.ground.fleet import FleetModel
from telemetry.mqtt.adapter import InboundMessage, MqttSettings, connect
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import wait_until

ROVER, OTHER = generate("rover"), generate("other")
T = "regolith/rig-1/state"


def state(seq: int, mode: str = "idle", rig: str = "rig-1") -> bytes:
    return encode(StateMessage(Envelope(rig, 1, seq, 1e9 + seq, float(seq)),
                               RigState(mode=mode)))


def test_a_signature_covers_topic_and_body_but_not_the_delivery_flags() -> None:
    signed = sign_payload(ROVER.signing_key, T, state(0))
    assert decode(signed).state.mode == "idle"  # still an ordinary payload
    key = ROVER.signing_key.verify_key
    assert verify_payload(key, T, signed) is Verdict.VERIFIED
    resent = set_delivery_flags(signed, historical=True, resend=True)
    assert verify_payload(key, T, resent) is Verdict.VERIFIED  # the publisher's rewrite
    assert verify_payload(key, "regolith/rig-2/state", signed) is Verdict.BAD_SIGNATURE
    assert verify_payload(key, T, signed.replace(b"idle", b"digs")) is Verdict.BAD_SIGNATURE
    assert verify_payload(OTHER.signing_key.verify_key, T, signed) is Verdict.BAD_SIGNATURE
    assert verify_payload(key, T, state(0)) is Verdict.UNSIGNED
    assert split_signature(signed)[0] == state(0)
    for garbage in (b"", b"{}", b'{"sig":"' + b"A" * 88 + b'"}', b"\xff" * 200,
                    signed[:-3] + b'!"}'):
        assert verify_payload(key, T, garbage) in (Verdict.UNSIGNED, Verdict.BAD_SIGNATURE)


def msg(topic: str, payload: bytes) -> InboundMessage:
    return InboundMessage(topic, payload, 1, False)


def test_the_fleet_believes_a_keyed_rig_only_when_it_signed() -> None:
    m = FleetModel("regolith", rig_keys={"rig-1": ROVER.signing_key.verify_key})
    sign = ROVER.signing_key
    assert m.handle(msg(T, sign_payload(sign, T, state(0, "idle"))), 1.0) is not None
    assert m.rigs["rig-1"].verified is True
    # a forged state (unsigned, or signed by another key) changes nothing
    assert m.handle(msg(T, state(1, "digging")), 2.0) is None
    assert m.handle(msg(T, sign_payload(OTHER.signing_key, T, state(2, "digging"))), 2.0) \
        is None
    assert m.rigs["rig-1"].mode == "idle" and m.forged == 2 and m.rigs["rig-1"].forged == 2
    # a forged ack is counted against its command; the signed one decides
    m.commands.note_sent("rig-1", "ops-1-1", "stop", {}, key_id="ops-1", user="a", now=3.0)
    ack_t = "regolith/rig-1/ack"
    fake = encode(AckMessage(Envelope("rig-1", 1, 0, 1e9, 0.0), "ops-1-1", False, "busy"))
    m.handle(msg(ack_t, fake), 3.1)
    rec = m.commands.get("rig-1", "ops-1-1")
    assert rec.status is CommandStatus.PENDING and rec.forged_acks == 1
    assert rec.forged_claim == "rejected: busy"
    real = sign_payload(sign, ack_t, encode(AckMessage(Envelope("rig-1", 1, 1, 1e9, 0.0),
                                                       "ops-1-1", True)))
    m.handle(msg(ack_t, real), 3.2)
    assert m.commands.get("rig-1", "ops-1-1").status is CommandStatus.ACCEPTED
    # a rig nobody gave us a key for: shown, marked unverified; or dropped
    fake_rig = "regolith/rig-9/state"
    assert m.handle(msg(fake_rig, state(0, rig="rig-9")), 4.0) is not None
    assert m.rigs["rig-9"].verified is False
    strict = FleetModel("regolith", rig_keys={}, drop_unverified=True)
    assert strict.handle(msg(fake_rig, state(0, rig="rig-9")), 4.0) is None
    assert strict.rigs == {} and strict.unverified == 1


async def _rover(url: str, tmp_path, stop: asyncio.Event) -> None:
    """The rover's downlink, signing, acking every command it gets as accepted."""
    config = DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "rig.db", broker_url=url,
                            event_throttle_s=0, signing_key=ROVER.signing_key)
    async with Downlink(config) as dl:
        dl.publish_birth(RigInfo(software="test"))
        dl.publish_state(RigState(mode="idle"))

        async def answer() -> None:
            async for cmd in dl.commands():
                body = decode_body(decode_envelope(cmd.payload).body)
                await asyncio.sleep(0.3)  # the forger is faster: it answers at once
                dl.publish_ack(body.command_id, True)

        task = asyncio.create_task(answer(), name="rover-acks")
        await stop.wait()
        task.cancel()


async def _forger(url: str, ready: asyncio.Event) -> None:
    """An anonymous broker client: fake acks for every command, fake events, a fake rig."""
    async with connect(MqttSettings.from_url(url, protocol="5")) as evil:
        await evil.subscribe("regolith/+/cmd", qos=1)
        # batches are unsigned: numbered 10**18, then 0 (a "backlog" of 10**18 numbers
        # the ground once looped over), under a stream and channel names of its own
        rows = np.zeros((3, 1), dtype=np.float32)
        for seq in (10**18, 0, 5 * 10**17):
            await evil.publish("regolith/rig-1/batch/evil", encode(BatchMessage(
                Envelope("rig-1", 1, seq, 1e9, 0.0),
                BatchBlock("evil", (f"fake_{seq}",), ("u",), 0.0, 0.01, rows))), qos=1)
        ready.set()
        seq = 100
        async for m in evil.messages():
            body = decode_body(decode_envelope(m.payload).body)
            seq += 1
            env = Envelope("rig-1", 1, seq, 1e9, 0.0)
            await evil.publish("regolith/rig-1/ack", encode(AckMessage(
                env, body.command_id, False, "forged refusal")), qos=1)
            await evil.publish("regolith/rig-1/ack", sign_payload(
                OTHER.signing_key, "regolith/rig-1/ack",
                encode(AckMessage(env, body.command_id, False, "other key"))), qos=1)
            await evil.publish("regolith/rig-1/event/alarm", encode(EventMessage(
                env, "interlock_tripped", Severity.ALARM, "fake tilt", {"name": "tilt"})), qos=1)
            await evil.publish("regolith/rig-1/state", state(seq, "fault"), qos=1)
            await evil.publish("regolith/rig-evil/state", state(seq, "digging", "rig-evil"),
                               qos=1)


@pytest.mark.broker
async def test_a_forger_on_the_broker_changes_nothing_shown_as_verified(mosquitto,
                                                                      tmp_path) -> None:
    stop, ready = asyncio.Event(), asyncio.Event()
    key_file, _ = write_key_files(generate("ops-1"), tmp_path / "keys")
    async with GroundClient(mosquitto.url, None, key=key_file,
                            rig_keys={"rig-1": ROVER.signing_key.verify_key}) as ground:
        async with asyncio.TaskGroup() as tg:
            rover = tg.create_task(_rover(mosquitto.url, tmp_path, stop))
            forger = tg.create_task(_forger(mosquitto.url, ready))
            await asyncio.wait_for(ready.wait(), 10)
            await ground.wait_for(lambda s: s.mode == "idle", timeout=15, rig="rig-1")
            acks = [await ground.send("stop", rig="rig-1", timeout=10) for _ in range(3)]
            await wait_until(lambda: "rig-evil" in ground.model.rigs, 10, "the fake rig")
            stop.set()
            forger.cancel()
        del rover
    assert [a.accepted for a in acks] == [True, True, True]  # the rover's, every time
    model = ground.model
    records = [model.commands.get("rig-1", a.command_id) for a in acks]
    assert all(r.status is CommandStatus.ACCEPTED and r.forged_acks >= 1 for r in records)
    view = model.rigs["rig-1"]
    assert view.verified is True and view.mode == "idle" and view.forged >= 9
    assert not [e for e in view.events if e.text == "fake tilt"]
    assert model.alarms.for_rig("rig-1") == []
    assert model.rigs["rig-evil"].verified is False  # shown, never as verified
    evil = model.accounting.streams[("rig-1", "batch/evil")]
    assert evil.gaps == 10**18 - 1 and len(evil.missing) <= 100_000  # counted, bounded
