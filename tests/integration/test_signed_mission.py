"""Signed commands through a running mission's own downlink and a real Mosquitto:
arm, start and stop are signed; a replay and a forged signature are refused."""

from __future__ import annotations

import asyncio
import time

import aiomqtt
import pytest

from control.core.supervisor import Mode
from control.runtime.app import RigController
from control.security import SignedCommandAuthenticator, SqliteReplayStore
from telemetry.contract.payloads import AckMessage, decode
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.security.helpers import ROGUE, TOPIC, body, make_config, signed

from .control_helpers import SMALL_MISSION, controller_config, simulator, wait_for

pytestmark = pytest.mark.broker


async def test_signed_commands_drive_a_mission_through_its_downlink(mosquitto, tmp_path):
    acks: dict[str, AckMessage] = {}
    cfg = make_config()
    store = SqliteReplayStore(tmp_path / "replay.db", cfg.replay_window)
    gate = SignedCommandAuthenticator(cfg, store, TOPIC)
    async with simulator() as (_rig, url):
        dl_cfg = DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "outbox.db",
                                broker_url=mosquitto.url)
        async with Downlink(dl_cfg) as downlink:
            ctl = RigController(controller_config(), url, SMALL_MISSION, downlink=downlink,
                                authenticator=gate)
            run = asyncio.create_task(ctl.run(max_wall_s=300.0))
            try:
                async with aiomqtt.Client(mosquitto.host, mosquitto.port) as ground:
                    await ground.subscribe("regolith/rig-1/ack", qos=1)

                    async def collect() -> None:
                        async for msg in ground.messages:
                            ack = decode(bytes(msg.payload))
                            if isinstance(ack, AckMessage):
                                acks.setdefault(ack.command_id, ack)

                    collector = asyncio.create_task(collect())

                    async def send(payload: bytes, cid: str) -> AckMessage:
                        acks.pop(cid, None)
                        await ground.publish(TOPIC, payload, qos=1)
                        await wait_for(lambda: cid in acks or run.done(), 20, f"ack {cid}")
                        return acks[cid]

                    await wait_for(lambda: (ctl.core.mode is Mode.IDLE and downlink.connected
                                            and not ctl.core.interlocks.active) or run.done(),
                                   30, "idle, ground up")
                    now = time.time()
                    arm = signed(body(1, "arm", issued=now, cid="s-arm"))
                    assert (await send(arm, "s-arm")).accepted
                    await wait_for(lambda: ctl.core.motors_enabled, 10, "enabled")
                    start = signed(body(2, "start", issued=time.time(), cid="s-start"))
                    assert (await send(start, "s-start")).accepted
                    await wait_for(lambda: ctl.core.mode is Mode.DIGGING, 120,
                                   f"digging (mode {ctl.core.mode}, {ctl.core.interlocks.active},"
                                   f" events {ctl.record.events.since(0)[0][-5:]})")
                    assert ctl.core.motors_enabled
                    forged = signed(body(3, "stop", issued=time.time(), cid="s-forged"),
                                    key=ROGUE)
                    ack = await send(forged, "s-forged")
                    assert not ack.accepted and ack.reason.startswith("bad_signature")
                    assert ctl.core.mode is Mode.DIGGING  # nothing of it reached the rig
                    replay = await send(start, "s-start")
                    assert not replay.accepted and replay.reason.startswith("replayed")
                    stop = signed(body(4, "stop", issued=time.time(), cid="s-stop"))
                    assert (await send(stop, "s-stop")).accepted
                    await wait_for(lambda: ctl.core.mode is Mode.IDLE, 10, "stopped")
                    collector.cancel()
            finally:
                ctl.stop()
                await asyncio.wait_for(run, 30)
    store.close()
    assert gate.accepted == 3
