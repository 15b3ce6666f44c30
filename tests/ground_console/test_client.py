"""``GroundClient`` against a real Mosquitto and a rover stand-in made of the real pieces.

The stand-in is the rover's downlink (``telemetry.rover.downlink.Downlink``) and its
command authenticator (``control.security``): commands are really verified
(signature, role, counter window) and acked through the outbox, telemetry goes
out exactly as the controller sends it. What it does not have is a controller:
the campaign test (test_campaign.py) drives the real one.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from control.core.policy import Rejection
from control.security import MemoryReplayStore, SignedCommandAuthenticator
from control.security.security_config import security_config_from_dict
from telemetry.contract.keys import generate, write_key_files
from telemetry.contract.payloads import BatchBlock, BatchMessage, Envelope, encode
from telemetry.contract.rig_state import RigState
from telemetry.contract.status_info import RigInfo
from telemetry.ground.client import GroundClient
from telemetry.ground.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    GroundUsageError,
    WaitTimeoutError,
)
from telemetry.mqtt.adapter import MqttSettings, connect
from telemetry.rover.downlink import Downlink, DownlinkConfig

pytestmark = pytest.mark.broker

CHANNELS = [f"ch{i}" for i in range(12)]


@asynccontextmanager
async def rover(url: str, tmp_path: Path,
                keys: dict[str, tuple[Any, str]]) -> AsyncIterator[Downlink]:
    """Downlink + authenticator; acks every command (accepted, or why not)."""
    stations = {name: {"public_key": key.public_key_hex, "role": role}
                for name, (key, role) in keys.items()}
    auth = SignedCommandAuthenticator(security_config_from_dict({"keys": stations}),
                                      MemoryReplayStore(64), "regolith/rig-1/cmd")
    config = DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "rover.db", broker_url=url,
                            event_throttle_s=0)
    async with Downlink(config) as dl:
        dl.publish_birth(RigInfo.from_json({"software": "stand-in"}))

        async def serve_commands() -> None:
            async for raw in dl.commands():
                verified = auth.verify(auth.topic, raw.payload, time.time())
                if isinstance(verified, Rejection):
                    dl.publish_ack(verified.command_id or "?", False, verified.ack_reason)
                    continue
                body = json.loads(verified.payload)
                dl.publish_ack(body["id"], True)
                dl.publish_state(RigState.from_json({
                    "mode": "armed" if body["command"] == "arm" else "idle",
                    "interlocks": []}))

        task = asyncio.create_task(serve_commands(), name="stand-in-commands")
        try:
            yield dl
        finally:
            task.cancel()


@pytest.fixture
def station(tmp_path: Path):
    ops, obs = generate("ops-1"), generate("obs-1")
    ops_path, _ = write_key_files(ops, tmp_path / "keys")
    obs_path, _ = write_key_files(obs, tmp_path / "keys")
    return {"ops-1": (ops, "operator"), "obs-1": (obs, "observer")}, ops_path, obs_path


async def test_send_waits_for_the_ack_and_raises_on_refusal(mosquitto, tmp_path,
                                                             station) -> None:
    keys, ops_path, obs_path = station
    async with rover(mosquitto.url, tmp_path, keys) as dl:
        await asyncio.wait_for(dl.wait_connected(), 10)
        async with GroundClient(mosquitto.url, "rig-1", key=ops_path) as g:
            ack = await g.send("arm")
            assert ack.accepted and ack.command == "arm" and ack.acked_at >= ack.sent_at
            state = await g.wait_for(lambda s: s.mode == "armed", timeout=10)
            assert state.online is True and state.interlocks == ()
            history = g.model.commands.for_rig("rig-1")
            assert [(c.command, c.status.value, c.key_id) for c in history] == \
                [("arm", "accepted", "ops-1")]
            assert Path(f"{ops_path}.counter").read_text().strip().isdigit()  # as `send`
        async with GroundClient(mosquitto.url, "rig-1", key=obs_path) as g:
            with pytest.raises(CommandRejectedError, match="unauthorised") as err:
                await g.send("stop")
            assert err.value.command == "stop" and err.value.command_id.startswith("obs-1-")
            ack = await g.send("status", check=False)  # what the rover lets an observer send
            assert ack.accepted
            with pytest.raises(WaitTimeoutError, match="mode 'idle'"):
                await g.wait_for(lambda s: s.mode == "digging", timeout=0.5)


async def test_no_ack_is_a_timeout_and_a_fleet_client_needs_a_rig(mosquitto, station) -> None:
    _, ops_path, _ = station
    async with GroundClient(mosquitto.url, key=ops_path) as g:  # nobody listens on rig-9
        with pytest.raises(CommandTimeoutError, match="no ack for arm") as err:
            await g.send("arm", rig="rig-9", timeout=0.5)
        assert g.model.commands.get("rig-9", err.value.command_id).status.value == "timeout"
        with pytest.raises(GroundUsageError, match="say which rig"):
            g.state()
    async with GroundClient(mosquitto.url, "rig-1") as g:
        with pytest.raises(GroundUsageError, match="no station key"):
            await g.send("arm")


async def test_stream_yields_typed_rows_with_the_records_gap_accounting(mosquitto) -> None:
    settings = MqttSettings.from_url(mosquitto.url, protocol="5")
    rows = np.arange(10 * 12, dtype=np.float32).reshape(10, 12)

    def batch(seq: int) -> bytes:
        return encode(BatchMessage(Envelope("rig-1", 1, seq, 100.0 + seq, 5.0), BatchBlock(
            "stream0", tuple(CHANNELS), ("A",) * 12, 100.0 + seq, 0.01, rows + seq)))

    async with GroundClient(mosquitto.url, "rig-1") as g, connect(settings) as rig:
        received = []

        async def take(n: int) -> None:
            async for r in g.stream("stream0"):
                received.append(r)
                if len(received) == n:
                    return

        consumer = asyncio.create_task(take(3))
        await asyncio.sleep(0)  # the consumer's feed exists before anything is published
        for seq in (0, 1, 1, 4):  # a duplicate (dropped) and a gap of two
            await rig.publish("regolith/rig-1/batch/stream0", batch(seq), qos=1)
        await asyncio.wait_for(consumer, 10)
    assert [r.seq for r in received] == [0, 1, 4]
    assert [r.gaps for r in received] == [0, 0, 2]
    last = received[-1]
    assert last.channels == tuple(CHANNELS) and last.values.shape == (10, 12)
    np.testing.assert_allclose(last.column("ch3"), rows[:, 3] + 4)
    np.testing.assert_allclose(last.t, 104.0 + 0.01 * np.arange(10))
    with pytest.raises(KeyError, match="no channel 'x'"):
        last.column("x")
    totals = g.accounting.totals()
    assert (totals["unique"], totals["duplicates"], totals["gaps"]) == (3, 1, 2)
