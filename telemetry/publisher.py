"""Drain the outbox to an MQTT broker: QoS 1, bounded window, bandwidth budget.

Theory of operation:

* ``run()`` is a reconnect loop with capped, jittered exponential backoff. Each
  connection publishes the retained birth (``status`` online) with the
  ``offline`` last will armed, subscribes to the command topic, then pumps.
* The pump fetches rows from the outbox in drain order and publishes each in its
  own task, at most ``max_in_flight`` unacknowledged at once (real backpressure:
  rows wait in the outbox, not in the publisher). The outbox only hands out rows
  that are on disk and wakes the pump when more are ready. A row is deleted from
  the outbox after its PUBACK (the outbox groups the deletes of a loop turn into
  one transaction; a lost delete only costs a resend, which the ``resend`` flag
  makes visible).
* Before sending, the bandwidth token bucket is charged for the message; the
  pump sleeps when the budget is spent.
* Flags are set at send time: ``resend`` if the row was fetched before (an
  earlier connection or process may have sent it); ``historical`` if it was
  stored in an earlier boot or is older than ``historical_after_s``.
* When the link drops, every pending publish is cancelled (TaskGroup) and the
  cursors rewind to the oldest unacknowledged row, so the next connection resends
  in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from telemetry.backoff import Backoff
from telemetry.contract import TopicTree
from telemetry.downlink_errors import BrokerError, OutboxError
from telemetry.mqtt_adapter import InboundMessage, LastWill, MqttSession, MqttSettings, connect
from telemetry.outbox import Outbox, OutboxRow
from telemetry.payloads import set_delivery_flags
from telemetry.rate_limit import TokenBucket

__all__ = ["Publisher", "PublisherCounters"]

log = logging.getLogger(__name__)

_MQTT_OVERHEAD = 8  # fixed header + packet id, charged to the bandwidth budget


@dataclass(slots=True)
class PublisherCounters:
    published: int = 0
    published_bytes: int = 0
    resent: int = 0
    historical: int = 0
    connects: int = 0
    link_drops: int = 0
    connect_failures: int = 0
    commands_received: int = 0


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        settings: MqttSettings,
        topics: TopicTree,
        *,
        status_payload: Callable[[bool], bytes],
        on_command: Callable[[InboundMessage], None],
        monotonic: Callable[[], float],
        bandwidth_bytes_per_s: float | None = None,
        historical_after_s: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._outbox = outbox
        self._settings = settings
        self._topics = topics
        self._status_payload = status_payload
        self._on_command = on_command
        self._monotonic = monotonic
        self._bandwidth = bandwidth_bytes_per_s
        self._historical_after_s = historical_after_s
        self._backoff = backoff or Backoff()
        self._max_in_flight = settings.max_in_flight
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._status_dirty = False
        self.counters = PublisherCounters()
        outbox.set_wakeup(self.wake)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def wake(self) -> None:
        """Tell the pump new rows are in the outbox (call from the loop thread)."""
        self._wake.set()

    def refresh_status(self) -> None:
        """Republish the retained birth (its info changed)."""
        self._status_dirty = True
        self._wake.set()

    def stop(self) -> None:
        """Ask ``run()`` to send what the outbox has on disk, announce offline and return."""
        self._stopping.set()
        self._wake.set()
        self._slot_freed.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._connection()
            except* OutboxError:
                raise  # the disk failed: nothing sensible left to do here
            except* BrokerError as group:
                err = group.exceptions[0]
                if self._connected.is_set():
                    self.counters.link_drops += 1
                    log.warning("downlink to %s:%d lost: %s", self._settings.host,
                                self._settings.port, err)
                else:
                    self.counters.connect_failures += 1
                    log.info("downlink cannot reach %s:%d: %s", self._settings.host,
                             self._settings.port, err)
            finally:
                self._connected.clear()
                self._outbox.rewind()
                self._in_flight = 0
            if self._stopping.is_set():
                break
            try:
                async with asyncio.timeout(self._backoff.next_delay()):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    async def _connection(self) -> None:
        will = LastWill(self._topics.status, self._status_payload(False))
        async with connect(self._settings, will=will) as session:
            self._status_dirty = False
            await session.publish(self._topics.status, self._status_payload(True), retain=True)
            await session.subscribe(self._topics.command, qos=1)
            self._connected.set()
            self._backoff.reset()
            self.counters.connects += 1
            log.info("downlink connected to %s:%d (%d messages in outbox)",
                     self._settings.host, self._settings.port, self._outbox.depth)
            async with asyncio.TaskGroup() as tg:
                receiver = tg.create_task(self._receive(session), name="downlink-receive")
                await self._pump(session, tg)
                while self._in_flight:  # stopping: let the window drain
                    self._slot_freed.clear()
                    await self._slot_freed.wait()
                receiver.cancel()
            await session.publish(self._topics.status, self._status_payload(False), retain=True)

    async def _receive(self, session: MqttSession) -> None:
        async for message in session.messages():
            if message.topic == self._topics.command:
                self.counters.commands_received += 1
                self._on_command(message)

    async def _pump(self, session: MqttSession, tg: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        bucket = (TokenBucket(self._bandwidth, max(self._bandwidth, 4096.0), loop.time())
                  if self._bandwidth else None)
        refill = max(1, self._max_in_flight // 4)
        while True:
            # Stopping: keep sending what the outbox has on disk (the closing downlink
            # flushed this session's last messages to it) until nothing is left; the
            # caller bounds the time that may take (``close_timeout_s``) and lets the
            # window drain.
            stopping = self._stopping.is_set()
            free = self._max_in_flight - self._in_flight
            if free < refill:
                self._slot_freed.clear()
                await self._slot_freed.wait()
                continue
            self._wake.clear()
            if self._status_dirty and not stopping:
                self._status_dirty = False
                self._in_flight += 1
                tg.create_task(self._publish_status(session), name="downlink-status")
            rows = self._outbox.fetch(free)
            if not rows:
                if stopping and not self._outbox.unsent_on_disk:
                    return
                await self._wake.wait()
                continue
            for row in rows:
                if bucket is not None:
                    delay = bucket.reserve(len(row.payload) + len(row.topic) + _MQTT_OVERHEAD,
                                           loop.time())
                    if delay > 0:
                        await asyncio.sleep(delay)
                self._in_flight += 1
                tg.create_task(self._publish_one(session, row), name=f"downlink-pub-{row.id}")

    async def _publish_status(self, session: MqttSession) -> None:
        try:
            await session.publish(self._topics.status, self._status_payload(True), retain=True)
        finally:
            self._in_flight -= 1
            self._slot_freed.set()

    async def _publish_one(self, session: MqttSession, row: OutboxRow) -> None:
        historical = (row.boot != self._outbox.boot
                      or self._monotonic() - row.t_mono > self._historical_after_s)
        data = set_delivery_flags(row.payload, historical=historical, resend=row.sent)
        try:
            await session.publish(row.topic, data, qos=1, retain=row.retain)
        finally:
            self._in_flight -= 1
            self._slot_freed.set()
        c = self.counters
        c.published += 1
        c.published_bytes += len(data)
        c.resent += row.sent
        c.historical += historical
        self._outbox.ack((row,))
