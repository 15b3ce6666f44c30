"""Helpers for the downlink integration tests: a collecting subscriber and deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.payloads import DownlinkMessage, decode
from telemetry.ground.subscription import run_subscription
from telemetry.mqtt.adapter import InboundMessage, MqttSettings


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` every 10 ms until true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Collector:
    """Every message received on a filter, decoded; undecodable ones counted."""

    received: list[tuple[str, DownlinkMessage]] = field(default_factory=list)
    undecodable: int = 0
    links: list[bool] = field(default_factory=list)

    def handle(self, message: InboundMessage) -> None:
        try:
            self.received.append((message.topic, decode(message.payload)))
        except PayloadDecodeError:
            self.undecodable += 1

    def by_stream(self, stream_of: Callable[[str], str]) -> dict[str, list[DownlinkMessage]]:
        out: dict[str, list[DownlinkMessage]] = {}
        for topic, msg in self.received:
            out.setdefault(stream_of(topic), []).append(msg)
        return out


@contextlib.asynccontextmanager
async def collecting(url: str, topic_filter: str, *, client_id: str | None = None,
                     persistent: bool = False) -> AsyncIterator[Collector]:
    """Run a reconnecting subscriber in the background; waits until it is subscribed."""
    collector = Collector()
    settings = MqttSettings.from_url(url, client_id=client_id, persistent_session=persistent,
                                     protocol="5")
    stop = asyncio.Event()
    task = asyncio.create_task(run_subscription(
        settings, [topic_filter], collector.handle, stop=stop, on_link=collector.links.append),
        name="test-collector")
    try:
        await wait_until(lambda: bool(collector.links) or task.done(), 10, "subscription")
        yield collector
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
