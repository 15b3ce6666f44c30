"""A ground-side subscription that survives broker restarts.

``run_subscription`` connects, subscribes to the filters, hands every message to
``on_message`` and, when the link drops, reconnects with capped jittered
backoff and subscribes again, reporting each drop and recovery to ``on_link``.
``on_message`` may return an awaitable: the next message is read only once it is
done (backpressure: with manual acks the broker then holds what we cannot take).
Returns when ``stop`` is set, after awaiting ``drain`` while still connected
(so a recorder can commit and acknowledge what it holds before it disconnects).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

from rig_common.backoff import Backoff
from telemetry.mqtt.adapter import InboundMessage, MqttSettings, connect
from telemetry.mqtt.errors import BrokerError

__all__ = ["run_subscription", "stop_event"]

log = logging.getLogger(__name__)


async def run_subscription(
    settings: MqttSettings,
    filters: Sequence[str],
    on_message: Callable[[InboundMessage], Awaitable[None] | None],
    *,
    stop: asyncio.Event,
    on_link: Callable[[bool], None] | None = None,
    backoff: Backoff | None = None,
    drain: Callable[[], Awaitable[None]] | None = None,
) -> None:
    backoff = backoff or Backoff(0.2, 5.0)
    while not stop.is_set():
        connected = False
        try:
            async with connect(settings) as session, asyncio.TaskGroup() as tg:
                for topic_filter in filters:
                    await session.subscribe(topic_filter, qos=1)
                connected = True
                backoff.reset()
                log.info("subscribed to %s on %s:%d", ", ".join(filters), settings.host,
                         settings.port)
                if on_link:
                    on_link(True)

                async def pump() -> None:
                    async for message in session.messages():
                        pending = on_message(message)
                        if inspect.isawaitable(pending):
                            await pending

                pumping = tg.create_task(pump(), name="ground-subscription")
                await stop.wait()
                pumping.cancel()
                if drain is not None:
                    await drain()
        except* BrokerError as group:
            log.warning("ground link %s: %s", "lost" if connected else "unavailable",
                        group.exceptions[0])
        if connected and on_link:
            on_link(False)
        if stop.is_set():
            return
        try:
            async with asyncio.timeout(backoff.next_delay()):
                await stop.wait()
        except TimeoutError:
            pass


def stop_event(duration: float | None = None) -> asyncio.Event:
    """An event set by SIGINT/SIGTERM, or after *duration* seconds: when a tool ends."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration:
        loop.call_later(duration, stop.set)
    return stop
