"""The downlink facade the controller uses (docs/telemetry.md).

    async with Downlink(DownlinkConfig(rig_id="rig-1", outbox_path="outbox.db",
                                       broker_url="mqtt://ground:1883")) as downlink:
        downlink.publish_birth(RigInfo(software="rig-control", version="0.1.0"))
        downlink.publish_state(RigState(mode="digging"))      # sync, never awaits
        await downlink.publish_ack("cmd-7", True)             # ...or wait until on disk
        async for command in downlink.commands():              # raw uplink payloads
            ...

Every ``publish_*`` method is synchronous and returns at once: the message is in
the outbox's memory with its sequence number, and the outbox writes the messages
of each loop turn to disk together on its writer thread (the loop never waits for
the disk). The returned receipt (:class:`~telemetry.rover.downlink.outbox.Stored`) can be
awaited: ``await downlink.publish_ack(...)`` returns once the message is on disk,
synced (power-cut safe) for events, acks and ledger entries, committed (crash
safe) for the rest, which are synced within a bound (docs/telemetry.md, "Store
and forward"). The publisher task drains the outbox whenever a broker is
reachable. With ``broker_url=None`` the outbox just fills (within its disk
budget) until a later run configures a broker. Call the ``publish_*`` methods
from the event loop's thread.

Errors: ``publish_*`` raise ``DownlinkUsageError`` (outside ``async with``), the
contract's ``ContractConfigError`` (bad stream names) and ``PayloadEncodeError``
(unencodable payloads), both ``ValueError``, and ``OutboxError`` (disk failure:
from the next call after the writer thread failed, and from an awaited receipt).
Broker trouble never reaches the caller; it shows in ``counters``.

The broker's verdicts (docs/telemetry.md, "Broker refusals and link liveness"):
MQTT 5 by default, so every PUBACK reason code is checked; a message the broker
refuses for good goes to the outbox's dead-letter table, is counted, reported in
an ``alarm`` event (``publish_rejected``, gathered per ``event_throttle_s``) and
in the retained status (``info["downlink"]``). ``link_ok(now)`` says whether the
broker answered within ``link_loss_s``; a status probe keeps that true on an idle
link, so a broker that goes silent without closing the connection is noticed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from nacl.signing import SigningKey

from rig_common.backoff import Backoff
from telemetry.contract.command_wire import RejectReason, peek_payload_command_id
from telemetry.contract.downlink_signature import SIGNED_KINDS, sign_payload
from telemetry.contract.errors import ContractConfigError
from telemetry.contract.event_details import EvictedRange, OutboxEvicted, StorageFull
from telemetry.contract.json_fields import JsonValue
from telemetry.contract.names import EventKind
from telemetry.contract.payloads import (
    AckMessage,
    BatchBlock,
    BatchMessage,
    DownlinkMessage,
    Envelope,
    EventMessage,
    LedgerMessage,
    StateMessage,
    StatsBlock,
    StatsMessage,
    StatusMessage,
    encode,
)
from telemetry.contract.rig_state import RigState, StorageReport
from telemetry.contract.status_info import DownlinkHealth, RigInfo
from telemetry.contract.topics import DEFAULT_PREFIX, Priority, Severity, TopicTree
from telemetry.mqtt.adapter import InboundMessage, MqttSettings
from telemetry.mqtt.errors import MqttConfigError
from telemetry.rover.downlink.errors import (
    DownlinkConfigError,
    DownlinkUsageError,
    OutboxError,
    OutboxStorageError,
)
from telemetry.rover.downlink.event_throttle import EventThrottle, ThrottledEvent
from telemetry.rover.downlink.outbox import DeadLetter, EvictionReport, Outbox, Stored
from telemetry.rover.downlink.outbox_store import storage_errno
from telemetry.rover.downlink.publisher import PUBLIC_STREAM_PREFIX, Publisher, RejectedPublish
from telemetry.rover.downlink.rejections import RefusedRange, RejectionLog

__all__ = ["Clock", "Downlink", "DownlinkConfig", "DownlinkCounters", "SystemClock",
           "UplinkCommand"]

log = logging.getLogger(__name__)


class Clock(Protocol):
    def wall(self) -> float: ...
    def monotonic(self) -> float: ...


class SystemClock:
    """The one place the downlink reads the system clocks."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass(frozen=True, slots=True)
class DownlinkConfig:
    rig_id: str
    outbox_path: str | Path
    broker_url: str | None = None  # None: embedded default, outbox only
    topic_prefix: str = DEFAULT_PREFIX
    disk_budget_bytes: int = 256 << 20
    # the budget is also held to the filesystem's free space minus this floor
    free_space_floor_bytes: int = 32 << 20
    # a disk that refuses writes: at most this much kept in memory (storage_guard)
    storage_memory_bytes: int = 16 << 20
    bandwidth_bytes_per_s: float | None = None  # None: unlimited
    max_in_flight: int = 64
    username: str | None = None
    password: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_insecure: bool = False
    keepalive_s: int = 30
    # MQTT 5: PUBACK reason codes tell a refused publish (3.1.1 cannot, see the docs)
    protocol: Literal["3.1.1", "5"] = "5"
    client_id: str | None = None  # default "<rig_id>-downlink"
    event_throttle_s: float = 1.0
    historical_after_s: float = 5.0
    reconnect_initial_s: float = 0.2
    reconnect_cap_s: float = 30.0
    power_safe: bool = False  # fsync every append (survive power loss, slower)
    command_queue_size: int = 256
    close_timeout_s: float = 5.0
    link_loss_s: float = 5.0  # link_ok() is false when the broker was silent this long
    probe_interval_s: float | None = None  # status probe on an idle link; None: loss / 4
    # the rover's key: state, events, acks, status and ledger messages carry its signature
    # (telemetry.contract.downlink_signature); None: unsigned
    signing_key: SigningKey | None = None

    def __post_init__(self) -> None:
        try:  # the topic tree checks the rig id and prefix: report them as our keys
            TopicTree(self.topic_prefix, self.rig_id)
        except ContractConfigError as err:
            raise DownlinkConfigError(err.key, err.problem) from err
        if self.max_in_flight < 1:
            raise DownlinkConfigError("max_in_flight", f"expected >= 1, got {self.max_in_flight}")
        if self.disk_budget_bytes < 64 * 1024:
            raise DownlinkConfigError(
                "disk_budget_bytes", f"expected >= 65536, got {self.disk_budget_bytes}")
        if self.free_space_floor_bytes < 0:
            raise DownlinkConfigError("free_space_floor_bytes",
                                      f"expected >= 0, got {self.free_space_floor_bytes}")
        if self.storage_memory_bytes < 64 * 1024:
            raise DownlinkConfigError("storage_memory_bytes",
                                      f"expected >= 65536, got {self.storage_memory_bytes}")
        if self.bandwidth_bytes_per_s is not None and self.bandwidth_bytes_per_s <= 0:
            raise DownlinkConfigError(
                "bandwidth_bytes_per_s", f"expected > 0 or None, got {self.bandwidth_bytes_per_s}")
        if not self.link_loss_s > 0:
            raise DownlinkConfigError("link_loss_s", f"expected > 0, got {self.link_loss_s}")
        probe = self.probe_interval_s
        if probe is not None and not 0 < probe < self.link_loss_s:
            raise DownlinkConfigError(
                "probe_interval_s", f"expected > 0 and < link_loss_s ({self.link_loss_s}), "
                                    f"got {probe}")

    def mqtt_settings(self) -> MqttSettings:
        if self.broker_url is None:
            raise DownlinkConfigError("broker_url", "no broker configured")
        try:
            return MqttSettings.from_url(
                self.broker_url, username=self.username, password=self.password,
                tls_ca_file=self.tls_ca_file, tls_cert_file=self.tls_cert_file,
                tls_key_file=self.tls_key_file, tls_insecure=self.tls_insecure or None,
                protocol=self.protocol, keepalive=self.keepalive_s,
                client_id=self.client_id or f"{self.rig_id}-downlink",
                persistent_session=True, max_in_flight=self.max_in_flight)
        except MqttConfigError as err:
            raise DownlinkConfigError(err.key, err.problem) from err


@dataclass(frozen=True, slots=True)
class UplinkCommand:
    """A raw message from the command topic; validating it is the controller's job."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class DownlinkCounters:
    boot: int
    connected: bool
    queued: int  # stored in the outbox by this process
    published: int  # acknowledged by the broker
    evicted: int  # dropped to respect the disk budget
    outbox_depth: int  # stored, not yet acknowledged
    outbox_bytes: int
    outbox_cached_bytes: int  # payloads in memory for the publisher
    events_throttled: int
    resent: int
    historical: int
    link_drops: int
    connect_failures: int
    commands_received: int
    commands_dropped: int  # refused as "busy" (acked) because the queue was full
    rejected: int  # PUBACKs with a failure code, this process (MQTT 5 only)
    dead_letters: int  # messages in the outbox's dead-letter table (all boots)


_CLOSED = object()
_RAM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None


class Downlink:
    def __init__(self, config: DownlinkConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.topics = TopicTree(config.topic_prefix, config.rig_id)
        self._clock = clock or SystemClock()
        self._settings = config.mqtt_settings() if config.broker_url else None
        self._outbox: Outbox | None = None
        self._publisher: Publisher | None = None
        self._throttle = EventThrottle(config.event_throttle_s)
        self._rejections = RejectionLog(config.event_throttle_s)
        self._throttle_wake = asyncio.Event()
        self._commands: asyncio.Queue[object] = asyncio.Queue()
        self._commands_dropped = 0
        self._birth = RigInfo()
        self._status_seq = 0
        self._runner: asyncio.Task[None] | None = None
        self._publisher_task: asyncio.Task[None] | None = None
        self._ram_dir: str | None = None  # the temporary outbox's, when the card was unusable

    # ------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Downlink:
        unusable: OutboxStorageError | None = None
        try:
            self._outbox = await self._open_outbox(self.config.outbox_path)
        except OutboxStorageError as err:
            # the card is full or read-only before the first write: a RAM outbox, so the
            # controller and the live downlink still run; the storage_full event says so
            unusable = err
            self._ram_dir = tempfile.mkdtemp(prefix="rig-outbox-", dir=_RAM_DIR)
            log.error("downlink %s: outbox %s unusable (%s): a temporary outbox in %s "
                      "instead (sequence numbers restart)", self.config.rig_id,
                      self.config.outbox_path, err.errno_name, self._ram_dir)
            self._outbox = await self._open_outbox(Path(self._ram_dir) / "outbox.db")
        self._outbox.set_storage_listener(self._on_storage)
        if unusable is not None:
            self._store_event(ThrottledEvent(
                EventKind.STORAGE_FULL, Severity.ALARM,
                f"outbox {self.config.outbox_path} unusable at start ({unusable.errno_name}):"
                f" a temporary outbox in memory instead",
                StorageFull(unusable.errno_name, str(self.config.outbox_path)).to_fields()))
        if self._settings is not None:
            self._publisher = Publisher(
                self._outbox, self._settings, self.topics,
                status_payload=self._status_payload, on_command=self._on_command,
                monotonic=self._clock.monotonic,
                bandwidth_bytes_per_s=self.config.bandwidth_bytes_per_s,
                historical_after_s=self.config.historical_after_s,
                backoff=Backoff(self.config.reconnect_initial_s, self.config.reconnect_cap_s),
                on_rejected=self._on_rejected, link_loss_s=self.config.link_loss_s,
                probe_interval_s=self.config.probe_interval_s)
        else:
            log.info("downlink %s: no broker configured, keeping everything in %s",
                     self.config.rig_id, self.config.outbox_path)
        self._runner = asyncio.create_task(self._run(), name="downlink")
        return self

    async def _open_outbox(self, path: str | Path) -> Outbox:
        try:
            return await Outbox.open(
                path, budget_bytes=self.config.disk_budget_bytes,
                power_safe=self.config.power_safe,
                free_space_floor_bytes=self.config.free_space_floor_bytes,
                memory_bytes=self.config.storage_memory_bytes)
        except OutboxError as err:
            cause = err.__cause__
            if isinstance(err, OutboxStorageError) or not isinstance(
                    cause, OSError | sqlite3.Error):
                raise
            raise OutboxStorageError(str(err), storage_errno(cause, Path(path))) from cause

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._throttle_timer(), name="downlink-event-throttle")
                if self._publisher is not None:
                    self._publisher_task = tg.create_task(self._publisher.run(),
                                                          name="downlink-publisher")
        except Exception:
            log.exception("downlink %s stopped publishing; messages stay in the outbox",
                          self.config.rig_id)
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Flush throttled events, let in-flight publishes finish, close the outbox."""
        if self._outbox is None:
            return
        for event in self._throttle.handle_timer(float("inf")):
            self._store_event(event)
        self._report_rejections(self._rejections.flush())
        try:  # what this loop turn stored: on disk now, so the publisher can still send it
            await self._outbox.flush()
        except OutboxError as err:
            log.error("downlink %s: outbox flush failed: %s", self.config.rig_id, err)
        if self._publisher is not None:
            self._publisher.stop()
        runner, self._runner = self._runner, None
        if runner is not None:
            if self._publisher_task is not None:
                await asyncio.wait({self._publisher_task}, timeout=self.config.close_timeout_s)
            runner.cancel()
            try:
                await runner
            except asyncio.CancelledError:
                pass
            except Exception as err:  # already logged by _run
                log.debug("downlink runner ended with %r", err)
        self._commands.put_nowait(_CLOSED)
        outbox, self._outbox = self._outbox, None
        await outbox.aclose()
        if self._ram_dir is not None:  # what it still held is lost with it
            shutil.rmtree(self._ram_dir, ignore_errors=True)
            self._ram_dir = None

    # ------------------------------------------------------------ enqueue API

    def publish_birth(self, info: RigInfo) -> None:
        """Set the retained birth info (versions, channels, rates); republished on connect."""
        self._birth = info
        if self._publisher is not None:
            self._publisher.refresh_status()

    def publish_state(self, state: RigState) -> Stored:
        return self._store("state", Priority.STATE, self.topics.state,
                           lambda env: StateMessage(env, state))

    def publish_event(self, kind: EventKind | str, severity: Severity | str, text: str,
                      **fields: JsonValue) -> Stored | None:
        """Store an event; ``None`` if it repeats one inside the throttle window. ``kind``:
        an ``EventKind`` (a plain string names a kind of the caller's, as tests do)."""
        severity = Severity(severity)
        event = ThrottledEvent(kind, severity, text, fields)
        stored = None
        for out in self._throttle.offer(event, self._clock.monotonic(), self._clock.wall()):
            result = self._store_event(out)
            if out is event:
                stored = result
        self._throttle_wake.set()
        return stored

    def publish_batch(self, block: BatchBlock) -> Stored:
        """``block.samples``: (n_samples, n_channels) float32/float64 (or integer) array."""
        topic = self.topics.batch(block.stream)
        return self._store(f"batch/{block.stream}", Priority.BATCH, topic,
                           lambda env: BatchMessage(env, block))

    def publish_stats(self, block: StatsBlock) -> Stored:
        """``block.values``: statistic name (``mean``, ``min``, ...) -> one value per channel."""
        topic = self.topics.stats(block.stream)
        return self._store(f"stats/{block.stream}", Priority.STATS, topic,
                           lambda env: StatsMessage(env, block))

    def publish_ack(self, command_id: str, accepted: bool, reason: str = "") -> Stored:
        return self._store("ack", Priority.CRITICAL, self.topics.ack,
                           lambda env: AckMessage(env, command_id, accepted, reason))

    def publish_public(self, name: str, topic: str, payload: bytes, *,
                       retain: bool = True) -> Stored:
        """A pre-encoded public payload (the safety zone, the redacted feed: docs/commands.md).

        It goes through the outbox like everything else (never evicted), but its
        bytes are published as given: the public topics carry no envelope, so that
        nothing beyond the documented redacted fields leaves the rig there."""
        outbox = self._require_outbox()
        stored = outbox.append(stream=f"{PUBLIC_STREAM_PREFIX}{name}", priority=Priority.STATE,
                               topic=topic, t_mono=self._clock.monotonic(),
                               encode=lambda _seq, _boot: bytes(payload), retain=retain)
        return stored

    def publish_ledger(self, record: Mapping[str, JsonValue]) -> Stored:
        return self._store("ledger", Priority.CRITICAL, self.topics.ledger,
                           lambda env: LedgerMessage(env, dict(record)))

    def ledger_entries_stored(self) -> int:
        """How many ledger messages this outbox ever stored (committed with each row):
        the controller republishes ledger entries beyond this count at start."""
        return self._require_outbox().next_seq("ledger")

    async def commands(self) -> AsyncIterator[UplinkCommand]:
        """Raw messages from the command topic, until the downlink closes."""
        while True:
            item = await self._commands.get()
            if item is _CLOSED:
                self._commands.put_nowait(_CLOSED)
                return
            assert isinstance(item, UplinkCommand)
            yield item

    # ------------------------------------------------------------ state

    @property
    def boot(self) -> int:
        return self._require_outbox().boot

    @property
    def connected(self) -> bool:
        return self._publisher is not None and self._publisher.connected

    def link_ok(self, now: float | None = None) -> bool:
        """True while the broker answered (any PUBACK) within ``link_loss_s`` before
        ``now`` (the clock's monotonic time, default: read it; asyncio's ``loop.time()``
        is the same clock). False without a broker."""
        if self._publisher is None:
            return False
        return self._publisher.link_ok(self._clock.monotonic() if now is None else now)

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        """The oldest ``limit`` messages the broker refused for good (reads the disk,
        waiting for the outbox's writer thread: for tools and tests, not the loop)."""
        return self._require_outbox().dead_letters(limit)

    async def wait_connected(self) -> None:
        if self._publisher is None:
            raise DownlinkUsageError("no broker configured (broker_url is None)")
        await self._publisher.wait_connected()

    @property
    def counters(self) -> DownlinkCounters:
        outbox = self._require_outbox()
        p = self._publisher.counters if self._publisher else None
        return DownlinkCounters(
            boot=outbox.boot, connected=self.connected, queued=outbox.counters.appended,
            published=p.published if p else 0, evicted=outbox.counters.evicted,
            outbox_depth=outbox.depth, outbox_bytes=outbox.bytes_used,
            outbox_cached_bytes=outbox.cached_bytes, events_throttled=self._throttle.suppressed,
            resent=p.resent if p else 0, historical=p.historical if p else 0,
            link_drops=p.link_drops if p else 0, connect_failures=p.connect_failures if p else 0,
            commands_received=p.commands_received if p else 0,
            commands_dropped=self._commands_dropped, rejected=p.rejected if p else 0,
            dead_letters=outbox.dead_letter_count)

    # ------------------------------------------------------------ internals

    def _require_outbox(self) -> Outbox:
        if self._outbox is None:
            raise DownlinkUsageError("use the downlink inside `async with Downlink(config)`")
        return self._outbox

    def _store(self, stream: str, priority: Priority, topic: str,
               build: Callable[[Envelope], DownlinkMessage]) -> Stored:
        outbox = self._require_outbox()
        t_rig, t_mono = self._clock.wall(), self._clock.monotonic()

        def encode_at(seq: int, boot: int) -> bytes:
            message: DownlinkMessage = build(Envelope(self.config.rig_id, boot, seq, t_rig, t_mono))
            return self._signed(topic, stream, encode(message))

        stored = outbox.append(stream=stream, priority=priority, topic=topic, t_mono=t_mono,
                               encode=encode_at)
        if stored.eviction is not None:
            self._report_eviction(stored.eviction)
        return stored  # the outbox wakes the publisher once the message is on disk

    def _store_event(self, event: ThrottledEvent) -> Stored:
        return self._store("event", Priority.CRITICAL, self.topics.event(event.severity),
                           lambda env: EventMessage(env, event.kind, event.severity, event.text,
                                                    event.fields, event.count, event.first_t_rig))

    def _report_eviction(self, report: EvictionReport) -> None:
        evicted = OutboxEvicted(tuple(EvictedRange(r.stream, r.first_seq, r.last_seq, r.count)
                                      for r in report.ranges),
                                report.bytes_freed, report.dropped_new)
        self._store_event(ThrottledEvent(
            EventKind.OUTBOX_EVICTED, Severity.WARNING,
            f"outbox {report.reason}: evicted {report.count} messages", evicted.to_fields()))

    def _on_storage(self, what: str) -> None:
        """The outbox's disk refused writes, dropped messages, or took writes again:
        ``storage_full`` / ``storage_recovered`` events whose ``dropped_count`` add up
        to every message dropped because of it (docs/telemetry.md)."""
        outbox = self._outbox
        if outbox is None:
            return
        status = outbox.storage_status()
        drops = outbox.take_storage_drops()
        if what == "drops" and not drops:
            return
        detail = StorageFull(status.errno, str(self.config.outbox_path),
                             tuple(EvictedRange(r.stream, r.first_seq, r.last_seq, r.count)
                                   for r in drops), status.dropped)
        count = detail.dropped_count
        if what == "recovered":
            text = f"outbox storage writable again; {count} message(s) dropped since the " \
                   f"last report, {status.dropped} in all"
            kind, severity = EventKind.STORAGE_RECOVERED, Severity.INFO
        else:
            cause = "read-only filesystem (EROFS)" if status.errno == "EROFS" else \
                "filesystem full (ENOSPC)" if status.errno == "ENOSPC" else \
                f"write error ({status.errno})"
            text = f"outbox storage full: {cause} at {self.config.outbox_path}; live " \
                   f"messages go straight to the broker, {count} dropped (batches, then " \
                   f"stats first)"
            kind, severity = EventKind.STORAGE_FULL, Severity.ALARM
        self._store_event(ThrottledEvent(kind, severity, text, detail.to_fields()))

    def storage_status(self) -> StorageReport | None:
        """The outbox's storage for the state message."""
        return None if self._outbox is None else self._outbox.storage_status()

    def _status_payload(self, online: bool, shutdown: bool = False) -> bytes:
        """The status; ``shutdown``: the clean goodbye (the last will is sent without)."""
        outbox = self._require_outbox()
        env = Envelope(self.config.rig_id, outbox.boot, self._status_seq,
                       self._clock.wall(), self._clock.monotonic())
        self._status_seq += 1
        p = self._publisher.counters if self._publisher else None
        info = self._birth.with_downlink(DownlinkHealth(p.rejected if p else 0,
                                                        outbox.dead_letter_count))
        payload = encode(StatusMessage(env, online, info, shutdown=shutdown))
        return self._signed(self.topics.status, "status", payload)

    def _signed(self, topic: str, stream: str, payload: bytes) -> bytes:
        key = self.config.signing_key
        if key is None or stream not in SIGNED_KINDS:
            return payload
        return sign_payload(key, topic, payload)

    def _on_rejected(self, refused: RejectedPublish) -> None:
        if self._publisher is not None:
            self._publisher.refresh_status()  # the status reports the dead letters
        if refused.topic == self.topics.event(Severity.ALARM):
            # the alarm about it would be refused too, and so on: the status says it
            log.error("an alarm was refused by the broker; not raising another about it")
            return
        self._report_rejections(self._rejections.add(
            refused.stream, refused.seq, refused.topic, refused.reason_code, refused.reason,
            self._clock.monotonic()))
        self._throttle_wake.set()

    def _report_rejections(self, ranges: tuple[RefusedRange, ...]) -> None:
        if not ranges or self._outbox is None:
            return
        count = sum(r.count for r in ranges)
        what = ", ".join(f"{r.stream} {r.first_seq}-{r.last_seq} ({r.reason})" for r in ranges)
        self._store_event(ThrottledEvent(
            EventKind.PUBLISH_REJECTED, Severity.ALARM,
            f"broker refused {count} message(s), moved to the dead-letter table: {what}",
            {"rejected": [r.as_dict() for r in ranges],
             "dead_letters": self._outbox.dead_letter_count}))

    def _on_command(self, message: InboundMessage) -> None:
        if self._commands.qsize() >= self.config.command_queue_size:
            # Refuse the newcomer, never silently: the queued commands keep their
            # order and this one still gets its one ack (docs/commands.md, "busy").
            self._commands_dropped += 1
            cid = peek_payload_command_id(message.payload) or "?"
            log.warning("command queue full (%d): refused command %s as busy",
                        self.config.command_queue_size, cid)
            self.publish_ack(cid, False, f"{RejectReason.BUSY.value}: the rover's inbound "
                             f"command queue is full ({self.config.command_queue_size})")
            return
        self._commands.put_nowait(UplinkCommand(message.topic, message.payload))

    async def _throttle_timer(self) -> None:
        while True:
            timers = [t for t in (self._throttle.get_timer(), self._rejections.get_timer())
                      if t is not None]
            deadline = min(timers, default=None)
            self._throttle_wake.clear()
            if deadline is None:
                await self._throttle_wake.wait()
                continue
            delay = deadline - self._clock.monotonic()
            if delay > 0:
                try:
                    async with asyncio.timeout(max(delay, 0.001)):
                        await self._throttle_wake.wait()
                except TimeoutError:
                    pass
                continue
            now = self._clock.monotonic()
            for event in self._throttle.handle_timer(now):
                self._store_event(event)
            self._report_rejections(self._rejections.handle_timer(now))
