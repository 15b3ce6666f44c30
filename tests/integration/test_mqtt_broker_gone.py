"""The MQTT adapter when the broker goes away under a publish (real Mosquitto).

paho closes its socket when a read finds the connection gone. aiomqtt 2.5 asks
the loop to watch that socket for writability one loop turn after a publish,
with the descriptor number read at the time of the publish: if the read that
closes the socket runs in between, the late registration hits a closed
descriptor ("Exception in callback ... add_writer ... Bad file descriptor" in
asyncio's log) or, had the number been re-used, watches someone else's.
"""

from __future__ import annotations

import asyncio
import logging
import select

import pytest

from telemetry.mqtt.adapter import MqttSettings, connect
from telemetry.mqtt.errors import LinkLostError


async def test_publish_racing_the_brokers_close_registers_no_dead_socket(
        mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    settings = MqttSettings.from_url(mosquitto.url)
    loop = asyncio.get_running_loop()
    async with connect(settings) as session:
        async def drain() -> None:  # as the downlink does: a drop shows in messages()
            async for _ in session.messages():
                pass

        reader = asyncio.create_task(drain())
        await session.publish("rig/test/warm-up", b"1")  # the link works
        sock = session._paho.socket()
        fd = sock.fileno()
        mosquitto.kill()
        # Block the loop until the broker's close has reached the socket: aiomqtt's
        # reader cannot consume it meanwhile, so the next loop turn runs the publish
        # first and the read that finds the connection gone right after it.
        readable, _, _ = select.select([sock], [], [], 5.0)
        assert readable, "the killed broker's close never reached the socket"
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            publish = asyncio.ensure_future(session.publish("rig/test/late", b"2"))
            with pytest.raises(LinkLostError):
                async with asyncio.timeout(10):
                    await reader
            await asyncio.sleep(0)  # one more turn: a deferred registration has run
            publish.cancel()
            with pytest.raises((asyncio.CancelledError, LinkLostError)):
                await publish
        assert sock.fileno() == -1, "paho did not close the socket"
        assert fd not in loop._selector.get_map()  # type: ignore[attr-defined]
        problems = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
        assert problems == [], problems
