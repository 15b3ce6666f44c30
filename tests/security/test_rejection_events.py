"""Every security rejection is heard on the ground: an ack AND a security event.

Through the controller's own ground-command handling (``handle_ground_payload``),
its real downlink and a real Mosquitto, to an independent subscriber. The event
carries the reason code and the key id the message claimed, never secret
material (no signing key, no signature).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from control.core.config import load_config
from control.core.policy import CommandRefused
from control.runtime.app import RigController
from control.security import StationKey
from telemetry.contract.payloads import AckMessage, EventMessage
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import collecting, wait_until

from .helpers import NOW, OBS, OPS, ROGUE, TOPIC, body, make_auth, signed

pytestmark = pytest.mark.broker

INTRUDER = StationKey("intruder", SigningKey(bytes(range(3, 35))))


def secrets() -> list[bytes]:
    out = []
    for key in (OPS, OBS, ROGUE, INTRUDER):
        seed = bytes(key.signing_key)
        out += [seed, seed.hex().encode(), base64.b64encode(seed)]
    return out


async def test_each_security_rejection_is_acked_and_published_as_an_event(
        mosquitto, tmp_path: Path) -> None:
    cases = {
        # command id: (payload, reason code, claimed key id)
        "c-1": (signed(body(1, cid="c-1"), ROGUE), "bad_signature", "ops-1"),
        "c-2": (signed(body(2, cid="c-2"), OBS), "unauthorised", "obs-1"),
        "c-3": (signed(body(3, cid="c-3"), INTRUDER), "unknown_key", "intruder"),
    }
    unsigned = json.dumps({"id": "c-4", "command": "arm"}).encode()
    dl_cfg = DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "outbox.db",
                            broker_url=mosquitto.url)
    async with collecting(mosquitto.url, "regolith/rig-1/#") as got, \
            Downlink(dl_cfg) as dl:
        ctl = RigController(load_config(None), "unused", downlink=dl,
                            authenticator=make_auth(), wall_clock=lambda: NOW)
        for payload, _, _ in cases.values():
            assert not (await ctl.handle_ground_payload(payload)).accepted
        assert not (await ctl.handle_ground_payload(unsigned)).accepted

        def events() -> dict[str, EventMessage]:
            return {m.fields.get("command_id", ""): m for _, m in got.received
                    if isinstance(m, EventMessage) and "reason" in m.fields}

        def acks() -> set[str]:
            return {m.command_id for _, m in got.received if isinstance(m, AckMessage)}

        await wait_until(lambda: len(events()) == 4 and len(acks()) == 4, 10,
                         "four security events and four acks")
        for cid, (payload, reason, key) in cases.items():
            ev = events()[cid]
            assert ev.severity == "warning" and ev.kind == "command_rejected"
            assert (ev.fields["reason"], ev.fields["key"]) == (reason, key)
            assert ev.fields["topic"] == TOPIC
            assert ev.fields["authenticated"] is (reason == "unauthorised")
            signature = json.loads(payload)["sig"].encode()
            for _, m in got.received:
                text = json.dumps([getattr(m, "fields", {}), getattr(m, "text", "")]).encode()
                assert signature not in text
        assert events()["c-4"].fields["reason"] == "unsigned"
        assert "key" not in events()["c-4"].fields  # no key was claimed
        await wait_until(lambda: dl.counters.outbox_depth == 0, 10, "drained")
    outbox_bytes = (tmp_path / "outbox.db").read_bytes()
    for secret in secrets():
        assert secret not in outbox_bytes
        assert not any(secret in json.dumps(getattr(m, "fields", {})).encode()
                       for _, m in got.received)


def test_a_plain_refusal_gives_its_reason_and_command_id() -> None:
    fields = CommandRefused("busy", "c-9").event_fields()
    # the event's kind is the core's (EventKind.COMMAND_REJECTED), not a field
    assert fields == {"reason": "busy", "command_id": "c-9"}
