"""Every ground command, accepted and rejected, through a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import json
import time

import aiomqtt
import pytest

from control.core.supervisor import Mode
from control.runtime.app import RigController
from telemetry.contract.payloads import AckMessage, decode
from telemetry.rover.downlink import Downlink, DownlinkConfig

from .control_helpers import SMALL_MISSION, controller_config, simulator, wait_for

pytestmark = pytest.mark.broker


def command(cid: str, name: str, ttl: float = 5.0, **extra) -> bytes:
    now = time.time()
    body = {"id": cid, "command": name, "issued_at": now, "expires_at": now + ttl}
    body.update(extra)
    return json.dumps(body).encode()


async def test_ground_commands_accepted_and_rejected(mosquitto, tmp_path):
    acks: dict[str, AckMessage] = {}
    async with simulator() as (rig, url):
        dl_cfg = DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "outbox.db",
                                broker_url=mosquitto.url)
        async with Downlink(dl_cfg) as downlink:
            ctl = RigController(controller_config(), url, SMALL_MISSION, downlink=downlink)
            run = asyncio.create_task(ctl.run(max_wall_s=60.0))
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as ground:
                await ground.subscribe("regolith/rig-1/ack", qos=1)

                async def collect() -> None:
                    async for msg in ground.messages:
                        ack = decode(bytes(msg.payload))
                        if isinstance(ack, AckMessage):
                            acks[ack.command_id] = ack

                collector = asyncio.create_task(collect())

                async def send(cid: str, payload: bytes, accepted: bool, reason: str = ""):
                    acks.pop(cid, None)
                    await ground.publish("regolith/rig-1/cmd", payload, qos=1)
                    await wait_for(lambda: cid in acks, 5.0,
                                   f"ack for {cid} (controller acks: {ctl.acks[-3:]}, "
                                   f"downlink: {downlink.counters} q={downlink._commands.qsize()} "
                                   f"run={run})")
                    ack = acks[cid]
                    assert ack.accepted is accepted, (cid, ack)
                    assert reason in ack.reason, (cid, ack.reason)

                await wait_for(lambda: ctl.core.mode is Mode.IDLE and downlink.connected
                               and not ctl.core.interlocks.active, 10.0, "idle, ground up")
                # an unparseable payload has no readable id: its rejection is acked as "?"
                await send("?", b"{nope", False, "not JSON")
                await send("late", command("late", "arm", ttl=-1.0), False, "expired")
                await send("no-expiry", json.dumps({"id": "no-expiry", "command": "arm"})
                           .encode(), False, "no expiry")
                await send("start-early", command("start-early", "start"), False, "arm first")
                await send("reset-none", command("reset-none", "reset_estop"), False,
                           "no e-stop")
                await send("arm", command("arm", "arm"), True)
                await send("arm-again", command("arm-again", "arm"), False, "cannot arm")
                await send("param-ok", command("param-ok", "set_param",
                                               args={"name": "current_target_a", "value": 11}),
                           True)
                await send("param-high", command("param-high", "set_param",
                                                 args={"name": "current_target_a",
                                                       "value": 80}), False, "outside")
                await wait_for(lambda: ctl.core.motors_enabled, 3.0, "enabled")
                await send("start", command("start", "start"), True)
                await wait_for(lambda: ctl.core.mode is Mode.DIGGING, 20.0, "digging")
                await send("dump-dig", command("dump-dig", "dump"), False, "digging")
                await send("stop", command("stop", "stop"), True)
                assert ctl.core.mode is Mode.IDLE
                await send("estop", command("estop", "estop"), True)
                assert ctl.core.mode is Mode.ESTOP
                await wait_for(lambda: rig.firmware.estop_latched, 2.0, "firmware e-stop")
                await send("reset", command("reset", "reset_estop"), True)
                await wait_for(lambda: ctl.core.mode is Mode.IDLE, 3.0, "reset to idle")
                assert not rig.firmware.motors_enabled  # a reset never restarts motion
                await send("clear-none", command("clear-none", "clear_fault"), False,
                           "no fault")
                collector.cancel()
            ctl.stop()
            await run
    assert ctl.core.stats.commands_accepted >= 6
