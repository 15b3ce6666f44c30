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
  stored in an earlier boot or is older than ``historical_after_s``. Public
  rows (stream ``public/...``) have no envelope to carry them: their bytes go
  out exactly as stored.
* When the link drops, every pending publish is cancelled (TaskGroup) and the
  cursors rewind to the oldest unacknowledged row, so the next connection resends
  in order. ``stop()`` keeps the pump sending what the outbox has on disk until
  nothing is left (the caller bounds how long), then lets the window drain.
* Broker refusals (MQTT 5 PUBACK failure codes, ``PublishRejectedError``): a
  permanent one (not authorized, topic invalid, ...) moves the row to the
  outbox's dead-letter table and reports it through ``on_rejected``; a retryable
  one (quota exceeded, server busy) keeps the row and drops the connection, so
  the reconnect backoff paces the resend, until the same row has been refused
  ``_RETRY_LIMIT`` times: then it is dead-lettered too, never blocking the
  rows behind it for ever. A refused status publish is counted and logged.
* Liveness: every PUBACK (accepted or refused: the broker answered) is a sign of
  life. ``link_ok(now)`` is true while the newest one is younger than
  ``link_loss_s``. While no other traffic is acknowledged, a probe republishes
  the retained status every ``probe_interval_s``, so a broker that goes silent
  without closing the connection (the keepalive notices only after 1.5 x 30 s)
  is noticed within ``link_loss_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from rig_common.backoff import Backoff
from telemetry.contract.payloads import set_delivery_flags
from telemetry.contract.topics import TopicTree
from telemetry.mqtt.adapter import InboundMessage, LastWill, MqttSession, MqttSettings, connect
from telemetry.mqtt.errors import BrokerError, PublishRejectedError
from telemetry.rover.downlink.errors import OutboxError
from telemetry.rover.downlink.outbox import Outbox, OutboxRow
from telemetry.rover.downlink.rate_limit import TokenBucket

__all__ = ["PUBLIC_STREAM_PREFIX", "Publisher", "PublisherCounters", "RejectedPublish"]

log = logging.getLogger(__name__)

_MQTT_OVERHEAD = 8  # fixed header + packet id, charged to the bandwidth budget
#: Outbox streams of pre-encoded public payloads (no envelope, no delivery flags).
PUBLIC_STREAM_PREFIX = "public/"
_RETRY_LIMIT = 3  # refusals of one row with a retryable code before it is dead-lettered
_RETRY_TRACKED_MAX = 1024  # rows whose retryable refusals are remembered


@dataclass(frozen=True, slots=True)
class RejectedPublish:
    """An outbox row the broker refused for good; it is in the dead-letter table now."""

    stream: str
    seq: int
    topic: str
    reason_code: int
    reason: str


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
    rejected: int = 0  # PUBACKs with a failure code (outbox rows and status)
    dead_lettered: int = 0
    status_rejected: int = 0
    probes: int = 0


class Publisher:
    def __init__(
        self,
        outbox: Outbox,
        settings: MqttSettings,
        topics: TopicTree,
        *,
        status_payload: Callable[[bool, bool], bytes],
        on_command: Callable[[InboundMessage], None],
        monotonic: Callable[[], float],
        bandwidth_bytes_per_s: float | None = None,
        historical_after_s: float = 5.0,
        backoff: Backoff | None = None,
        on_rejected: Callable[[RejectedPublish], None] | None = None,
        link_loss_s: float = 5.0,
        probe_interval_s: float | None = None,
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
        self._on_rejected = on_rejected
        self._link_loss_s = link_loss_s
        self._probe_interval_s = probe_interval_s or link_loss_s / 4
        self._last_ack = -float("inf")  # monotonic time of the newest PUBACK
        self._retries: dict[int, int] = {}  # outbox row id -> retryable refusals
        self._max_in_flight = settings.max_in_flight
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._connected = asyncio.Event()
        self._status_dirty = False
        self.counters = PublisherCounters()
        outbox.set_wakeup(self.wake)
        outbox.set_online(False)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def link_ok(self, now: float) -> bool:
        """The broker answered within ``link_loss_s`` before ``now`` (monotonic)."""
        return now - self._last_ack < self._link_loss_s

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
                if isinstance(err, PublishRejectedError):
                    log.warning("downlink: %s; reconnecting to send it again later", err)
                elif self._connected.is_set():
                    self.counters.link_drops += 1
                    log.warning("downlink to %s:%d lost: %s", self._settings.host,
                                self._settings.port, err)
                else:
                    self.counters.connect_failures += 1
                    log.info("downlink cannot reach %s:%d: %s", self._settings.host,
                             self._settings.port, err)
            finally:
                self._connected.clear()
                self._outbox.set_online(False)
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
        will = LastWill(self._topics.status, self._status_payload(False, False))
        async with connect(self._settings, will=will) as session:
            self._status_dirty = False
            await self._send_status(session)
            await session.subscribe(self._topics.command, qos=1)
            self._connected.set()
            self._outbox.set_online(True)
            self._backoff.reset()
            self.counters.connects += 1
            log.info("downlink connected to %s:%d (%d messages in outbox)",
                     self._settings.host, self._settings.port, self._outbox.depth)
            async with asyncio.TaskGroup() as tg:
                receiver = tg.create_task(self._receive(session), name="downlink-receive")
                prober = tg.create_task(self._probe(session), name="downlink-probe")
                await self._pump(session, tg)
                while self._in_flight:  # stopping: let the window drain
                    self._slot_freed.clear()
                    await self._slot_freed.wait()
                receiver.cancel()
                prober.cancel()
            await self._send_status(session, online=False, shutdown=True)

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

    async def _probe(self, session: MqttSession) -> None:
        """Republish the status whenever nothing else was acknowledged for a while."""
        while True:
            await asyncio.sleep(self._probe_interval_s)
            if self._monotonic() - self._last_ack >= self._probe_interval_s:
                self.counters.probes += 1
                await self._send_status(session)

    async def _send_status(self, session: MqttSession, *, online: bool = True,
                           shutdown: bool = False) -> None:
        try:
            await session.publish(self._topics.status, self._status_payload(online, shutdown),
                                  retain=True)
        except PublishRejectedError as err:
            self._last_ack = self._monotonic()
            self.counters.rejected += 1
            self.counters.status_rejected += 1
            if self.counters.status_rejected == 1:
                log.error("downlink: %s (the ground cannot see this rig's status)", err)
            return
        self._last_ack = self._monotonic()

    async def _publish_status(self, session: MqttSession) -> None:
        try:
            await self._send_status(session)
        finally:
            self._in_flight -= 1
            self._slot_freed.set()

    async def _publish_one(self, session: MqttSession, row: OutboxRow) -> None:
        historical = (row.boot != self._outbox.boot
                      or self._monotonic() - row.t_mono > self._historical_after_s)
        data = row.payload if row.stream.startswith(PUBLIC_STREAM_PREFIX) else \
            set_delivery_flags(row.payload, historical=historical, resend=row.sent)
        try:
            await session.publish(row.topic, data, qos=1, retain=row.retain)
        except PublishRejectedError as err:
            self._last_ack = self._monotonic()
            self._refused(row, err)
            return
        finally:
            self._in_flight -= 1
            self._slot_freed.set()
        self._last_ack = self._monotonic()
        self._retries.pop(row.id, None)
        c = self.counters
        c.published += 1
        c.published_bytes += len(data)
        c.resent += row.sent
        c.historical += historical
        self._outbox.ack((row,))

    def _refused(self, row: OutboxRow, err: PublishRejectedError) -> None:
        """Keep the row and reconnect (retryable), or dead-letter it (see module doc)."""
        self.counters.rejected += 1
        tries = self._retries.pop(row.id, 0) + 1
        if err.retryable and tries < _RETRY_LIMIT:
            if len(self._retries) >= _RETRY_TRACKED_MAX:
                self._retries.clear()
            self._retries[row.id] = tries
            raise err
        self._outbox.dead_letter([row], err.reason_code, err.reason)
        self.counters.dead_lettered += 1
        log.error("downlink: %s; %s seq %d moved to the dead-letter table", err, row.stream,
                  row.seq)
        if self._on_rejected is not None:
            self._on_rejected(RejectedPublish(row.stream, row.seq, row.topic, err.reason_code,
                                              err.reason))
