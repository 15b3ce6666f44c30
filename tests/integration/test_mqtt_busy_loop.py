"""The MQTT intake keeps up on a busy event loop (issue 24: a login flood delayed acks).

Another process publishes 100 messages while this loop is kept busy for 0.2 s
every turn, as a web console's loop is by a flood of HTTP requests on a loaded
machine. Before the fix each message cost two or more loop turns in aiomqtt's
iterator and one socket read per turn: 100 messages took about a minute, and a
command's ack waited behind the backlog past its timeout.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest

from telemetry.mqtt.adapter import MqttSettings, connect


async def test_received_messages_are_handed_out_without_a_loop_turn_each(mosquitto) -> None:
    tool = shutil.which("mosquitto_pub")
    if tool is None:
        pytest.fail("mosquitto_pub is missing (mosquitto-clients: scripts/ensure-mosquitto.sh)")
    async with connect(MqttSettings.from_url(mosquitto.url, protocol="5")) as session:
        await session.subscribe("busy/#", qos=1)

        async def busy() -> None:
            while True:
                time.sleep(0.2)  # the loop is busy elsewhere: a deliberate block
                await asyncio.sleep(0)

        blocker = asyncio.create_task(busy())
        lines = "".join(f"message {i}\n" for i in range(100))
        pub = subprocess.Popen([tool, "-h", mosquitto.host, "-p", str(mosquitto.port), "-q", "1",
                                "-t", "busy/x", "-l"], stdin=subprocess.PIPE, text=True)
        pub.communicate(lines, timeout=30)
        got, t0 = 0, time.monotonic()
        try:
            async with asyncio.timeout(20):
                async for _ in session.messages():
                    got += 1
                    if got == 100:
                        break
        finally:
            blocker.cancel()
        took = time.monotonic() - t0
    assert got == 100 and took < 10.0, f"{got} messages in {took:.1f} s"
