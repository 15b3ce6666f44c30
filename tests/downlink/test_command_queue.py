"""A full inbound command queue refuses the newcomer with a "busy" ack: every
command on the command topic gets exactly one ack."""

from __future__ import annotations

import asyncio
import json

from telemetry.contract.command_wire import peek_payload_command_id
from telemetry.contract.payloads import AckMessage, decode
from telemetry.mqtt.adapter import InboundMessage
from telemetry.rover.downlink.facade import Downlink, DownlinkConfig
from tests.security.helpers import body, signed


def _command(cid: str) -> bytes:
    return json.dumps({"id": cid, "command": "stop", "ttl_s": 5}).encode()


async def test_full_queue_acks_the_newcomer_busy_and_keeps_the_queued_order(tmp_path) -> None:
    config = DownlinkConfig(rig_id="rig-q", outbox_path=tmp_path / "outbox.db",
                            command_queue_size=2)
    async with Downlink(config) as downlink:
        for cid in ("c1", "c2", "c3", "c4"):
            # what the publisher does with each message from the command topic
            downlink._on_command(InboundMessage(downlink.topics.command, _command(cid), 1, False))
        got = []
        async with asyncio.timeout(10):
            async for message in downlink.commands():
                got.append(json.loads(message.payload)["id"])
                if len(got) == 2:
                    break
        # store, then forward: the outbox hands out the acks once they are on disk
        outbox = downlink._require_outbox()
        await outbox.flush()
        async with asyncio.timeout(10):
            while not (rows := outbox.fetch(100)):
                await asyncio.sleep(0.01)
        acks = [decode(r.payload) for r in rows if r.stream == "ack"]
        assert downlink.counters.commands_dropped == 2
    assert got == ["c1", "c2"]
    assert all(isinstance(a, AckMessage) for a in acks)
    assert [(a.command_id, a.accepted, a.reason.split(":")[0]) for a in acks] == [
        ("c3", False, "busy"), ("c4", False, "busy")]


def test_peek_payload_command_id_reads_plain_and_signed_and_never_raises() -> None:
    assert peek_payload_command_id(_command("plain-1")) == "plain-1"
    assert peek_payload_command_id(signed(body(cid="signed-7"))) == "signed-7"
    for junk in (b"", b"\xff\xfe", b"[" * 5000, b'{"id": 5}', b"null", b'{"sig": "x"}'):
        assert peek_payload_command_id(junk) == ""
