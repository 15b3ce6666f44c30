"""``GroundClient``: the async scripting API of the ground station (and the console's engine).

    async with GroundClient("mqtt://127.0.0.1:1883", "rig-1", key="ops-1.key") as g:
        await g.send("arm")                       # signed, waits for the ack
        await g.wait_for(lambda s: s.mode == "armed", timeout=5)
        async for rows in g.stream("stream0"):    # filtered rows, gap-accounted
            print(rows.column("drum_current").max(), rows.gaps)

Theory of operation
-------------------
One MQTT connection (reconnected with capped jittered backoff) subscribes to
the rig's (or, with ``rig=None``, the whole fleet's) downlink, its command
topic and its public topics, and feeds every message to a
:class:`~telemetry.ground.fleet.FleetModel`: the same intake, sequence
accounting, alarm table and command history as ``watch``, ``record`` and the
web console. Commands are signed with the station key exactly like
``rig-ground send`` (counter in ``KEY.counter``, reserved and fsynced in a
thread of the client's own, never the loop's shared default executor, before
publishing) and matched to their ack by id; the ack subscription exists before
anything is published. Streams and event feeds are bounded queues: a slow
consumer loses the oldest items, counted in ``overflow``, and never blocks the
intake.

Exceptions: ``send`` raises ``CommandRejectedError`` (with ``check=True``),
``CommandTimeoutError`` (published, no ack in time), ``NotConnectedError`` (not
published) or ``BrokerError`` (the link dropped while publishing); ``wait_for`` raises
``WaitTimeoutError``; a rig-less client asked about "its" rig raises
``GroundUsageError``. Broker errors never escape the connection task.

With ``rig_keys`` (rig id -> the rover's public key) the model believes a rig's
state, events, acks and status only with its signature: ``send`` resolves only
on a signed ack (a forged one is counted against the command, see
``CommandRecord.forged_acks``), and rigs without a key are marked unverified
(or dropped, ``drop_unverified``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from nacl.signing import VerifyKey

from rig_common.backoff import Backoff
from telemetry.contract import DEFAULT_PREFIX, TopicTree
from telemetry.contract.json_fields import JsonValue
from telemetry.contract.keys import StationKey, load_public_key, load_secret_key
from telemetry.contract.ledger_record import ReceivedRecord
from telemetry.contract.payloads import (
    AckMessage,
    BatchMessage,
    EventMessage,
    StateMessage,
    StatusMessage,
)
from telemetry.contract.rig_state import MissionReport, RigState
from telemetry.ground.accounting import SequenceAccounting
from telemetry.ground.alarms import AlarmTable
from telemetry.ground.errors import (
    CommandRejectedError,
    CommandTimeoutError,
    GroundUsageError,
    NotConnectedError,
    WaitTimeoutError,
)
from telemetry.ground.fleet import EventRecord, FleetModel, public_filter
from telemetry.ground.intake import Sighting
from telemetry.ground.ledger_check import ReceivedLedger, check_received
from telemetry.ground.limits import LimitSet
from telemetry.ground.record import subscription_filter
from telemetry.ground.send import build_command, next_counter
from telemetry.mqtt.adapter import InboundMessage, MqttSession, MqttSettings, connect
from telemetry.mqtt.errors import BrokerError

__all__ = ["Ack", "GroundClient", "LiveState", "Rows"]

log = logging.getLogger(__name__)

Listener = Callable[[Sighting, float], None]


@dataclass(frozen=True, slots=True)
class LiveState:
    """The latest live state of a rig (the contract's ``RigState``) and what the ground
    knows about the rig around it (retained status, boot, rig time of the state)."""

    rig: str
    online: bool | None
    boot: int | None
    t_rig: float | None
    state: RigState

    @property
    def mode(self) -> str:
        return self.state.mode if self.state.mode is not None else "unknown"

    @property
    def x_m(self) -> float | None:
        return self.state.x_m

    @property
    def y_m(self) -> float | None:
        return self.state.y_m

    @property
    def bucket_kg(self) -> float | None:
        return self.state.bucket_kg

    @property
    def interlocks(self) -> tuple[str, ...]:
        return self.state.interlocks

    @property
    def mission(self) -> MissionReport | None:
        return self.state.mission

    def delivered_kg(self, site: str) -> float:
        """Mass delivered from ``site`` according to the mission progress (0 if unknown)."""
        return self.state.mission.delivered_from(site) if self.state.mission else 0.0


@dataclass(frozen=True, slots=True, eq=False)
class Rows:
    """One batch of filtered rows; ``gaps`` is the stream's gap count so far (as ``record``)."""

    rig: str
    stream: str
    seq: int
    boot: int
    t: np.ndarray  # rig time of each row: t0_rig + i * period_s
    channels: tuple[str, ...]
    units: tuple[str, ...]
    values: np.ndarray  # (rows, channels)
    historical: bool
    gaps: int
    overflow: int  # batches this consumer lost because it fell behind

    def column(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.channels.index(name)]
        except ValueError:
            raise KeyError(f"no channel {name!r} in {self.stream} (have "
                           f"{', '.join(self.channels)})") from None


@dataclass(frozen=True, slots=True)
class Ack:
    rig: str
    command_id: str
    command: str
    accepted: bool
    reason: str
    sent_at: float
    acked_at: float


@dataclass(eq=False, slots=True)
class _Feed:
    """A bounded queue of one consumer; overflow drops the oldest item."""

    queue: asyncio.Queue[Any]
    rig: str | None
    stream: str | None
    historical: bool
    overflow: int = 0

    def offer(self, item: Any) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.overflow += 1
        self.queue.put_nowait(item)


class GroundClient:
    def __init__(self, broker: str | MqttSettings, rig: str | None = None, *,
                 key: str | Path | StationKey | None = None,
                 counter_file: str | Path | None = None,
                 prefix: str = DEFAULT_PREFIX, limits: LimitSet | None = None,
                 alarms: AlarmTable | None = None, ttl_s: float = 30.0,
                 silent_after_s: float = 10.0, connect_timeout: float = 10.0,
                 clock: Callable[[], float] = time.time,
                 backoff: Backoff | None = None,
                 rig_keys: Mapping[str, VerifyKey] | None = None,
                 drop_unverified: bool = False) -> None:
        self.settings = broker if isinstance(broker, MqttSettings) else \
            MqttSettings.from_url(broker, protocol="5")
        self.rig = rig
        self.prefix = prefix
        self.ttl_s = ttl_s
        self.connect_timeout = connect_timeout
        self.clock = clock
        self.model = FleetModel(prefix, limits=limits, alarms=alarms,
                                silent_after_s=silent_after_s, rig_keys=rig_keys,
                                drop_unverified=drop_unverified)
        self._key, self._counter_file = _load_key(key, counter_file)
        self._memory_counter = 0
        self._counter_lock = asyncio.Lock()
        # the command path's blocking step (the counter file) has a thread of its own: it
        # must never queue behind other work in the loop's default executor
        self._command_pool = ThreadPoolExecutor(1, thread_name_prefix="ground-command")
        self._backoff = backoff or Backoff(0.2, 5.0)
        self._session: MqttSession | None = None
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._acks: dict[tuple[str, str], asyncio.Future[Ack]] = {}
        self._sent: dict[tuple[str, str], tuple[str, float]] = {}
        self._changed: list[asyncio.Future[None]] = []
        self._feeds: set[_Feed] = set()
        self._listeners: list[Listener] = []
        self.link_listeners: list[Callable[[bool], None]] = []

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> GroundClient:
        try:
            await self.start(wait=True)
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, *, wait: bool = False) -> None:
        """Start the connection task; with ``wait``, until subscribed (``NotConnectedError``)."""
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._link(), name="ground-client-link"),
                           asyncio.create_task(self._ticker(), name="ground-client-tick")]
        if wait:
            await self.wait_connected(self.connect_timeout)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for fut in self._acks.values():
            fut.cancel()
        self._command_pool.shutdown(wait=False)  # a new one starts no thread until used
        self._command_pool = ThreadPoolExecutor(1, thread_name_prefix="ground-command")

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def key_id(self) -> str | None:
        return self._key.key_id if self._key else None

    async def wait_connected(self, timeout: float) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise NotConnectedError(f"not connected to {self.settings.host}:"
                                    f"{self.settings.port} within {timeout} s") from None

    # ------------------------------------------------------------------ queries
    @property
    def accounting(self) -> SequenceAccounting:
        """Per-stream received/unique/duplicates/gaps, exactly as ``rig-ground record``."""
        return self.model.accounting

    def state(self, rig: str | None = None) -> LiveState | None:
        """The rig's latest live state (``None`` before any was received)."""
        rig = self._rig_for(rig)
        view = self.model.rigs.get(rig)
        if view is None:
            return None
        return LiveState(rig, view.online, view.boot, view.state_t_rig,
                         view.state if view.state is not None else RigState())

    def ledger(self, rig: str | None = None) -> list[ReceivedRecord]:
        """Ledger records received so far, in index order (``verify_ledger`` checks them)."""
        return [ReceivedRecord.of(r) for r in self._ledger_records(rig)]

    def _ledger_records(self, rig: str | None) -> list[Mapping[str, JsonValue]]:
        view = self.model.rigs.get(self._rig_for(rig))
        return [view.ledger[i] for i in sorted(view.ledger)] if view else []

    def ledger_totals_kg(self, rig: str | None = None) -> dict[str, float]:
        grams: dict[str, int] = {}
        for rec in self.ledger(rig):
            if rec.site is not None and rec.mass_g is not None:
                grams[rec.site] = grams.get(rec.site, 0) + rec.mass_g
        return {site: g / 1000.0 for site, g in sorted(grams.items())}

    def verify_ledger(self, rover_key: str | Path | VerifyKey, *,
                      rig: str | None = None) -> ReceivedLedger:
        """Check the received ledger (hash chain from the first received entry, signatures)
        with the rover's public key (a ``.pub`` file, 64 hex characters or a key)."""
        rig = self._rig_for(rig)
        if not isinstance(rover_key, VerifyKey):
            _, rover_key = load_public_key(rover_key)
        return check_received(self._ledger_records(rig), rover_key, rig)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(sighting, received_at)`` for every new message; returns a remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # ------------------------------------------------------------------ commands
    async def send(self, command: str, args: Mapping[str, JsonValue] | None = None, *,
                   rig: str | None = None, timeout: float = 10.0, check: bool = True,
                   user: str = "", ttl_s: float | None = None) -> Ack:
        """Sign and publish ``command``, return its ack (see the module doc for errors)."""
        rig = self._rig_for(rig)
        if self._key is None:
            raise GroundUsageError("no station key: GroundClient(..., key=PATH) to send commands")
        loop = asyncio.get_running_loop()
        now = self.clock()
        async with self._counter_lock:  # two sends at once never share a counter
            counter = await loop.run_in_executor(self._command_pool, self._next_counter, now)
        cmd = build_command(self._key, TopicTree(self.prefix, rig).command, command,
                            dict(args or {}), now_wall=now, counter=counter,
                            ttl_s=self.ttl_s if ttl_s is None else ttl_s,
                            command_id=f"{self._key.key_id}-{secrets.token_hex(4)}")
        cid = cmd.body.command_id
        fut: asyncio.Future[Ack] = loop.create_future()
        self._acks[(rig, cid)] = fut
        self._sent[(rig, cid)] = (command, now)
        self.model.commands.note_sent(rig, cid, command, cmd.body.args, key_id=self._key.key_id,
                                      user=user, now=now)
        deadline = loop.time() + timeout
        try:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._connected.wait()
            except TimeoutError:
                self.model.commands.note_timeout(rig, cid)
                raise NotConnectedError(f"{command} ({cid}) not sent: no broker connection "
                                        f"within {timeout} s") from None
            session = self._session
            if session is None:
                raise NotConnectedError(f"{command} ({cid}) not sent: the connection dropped")
            await session.publish(cmd.topic, cmd.envelope, qos=1)
            try:
                async with asyncio.timeout_at(deadline):
                    ack = await fut
            except TimeoutError:
                self.model.commands.note_timeout(rig, cid)
                raise CommandTimeoutError(cid, f"no ack for {command} ({cid}) from {rig} "
                                               f"within {timeout} s") from None
        finally:
            self._acks.pop((rig, cid), None)
            self._sent.pop((rig, cid), None)
        if check and not ack.accepted:
            raise CommandRejectedError(cid, command, ack.reason)
        return ack

    def _next_counter(self, now: float) -> int:
        if self._counter_file is not None:
            return next_counter(self._counter_file, now)
        self._memory_counter = max(self._memory_counter + 1, int(now * 1000))
        return self._memory_counter

    # ------------------------------------------------------------------ waiting
    async def wait_for(self, predicate: Callable[[LiveState], bool], *, timeout: float,
                       rig: str | None = None) -> LiveState:
        """Wait until ``predicate(state)`` holds for a live state of the rig; return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            state = self.state(rig)
            if state is not None and predicate(state):
                return state
            fut: asyncio.Future[None] = loop.create_future()
            self._changed.append(fut)
            try:
                async with asyncio.timeout_at(deadline):
                    await fut
            except TimeoutError:
                last = f"mode {state.mode!r}, online {state.online}" if state else "no state yet"
                raise WaitTimeoutError(f"condition not met within {timeout} s ({last})") \
                    from None

    async def stream(self, name: str, *, rig: str | None = None, historical: bool = False,
                     maxsize: int = 256) -> AsyncIterator[Rows]:
        """Batches of ``batch/<name>`` as :class:`Rows`, live ones only unless ``historical``."""
        feed = _Feed(asyncio.Queue(maxsize), self.rig if rig is None else rig,
                     f"batch/{name}", historical)
        self._feeds.add(feed)
        try:
            while True:
                yield await feed.queue.get()
        finally:
            self._feeds.discard(feed)

    async def events(self, *, rig: str | None = None, historical: bool = False,
                     maxsize: int = 256) -> AsyncIterator[EventRecord]:
        """Events of the rig (or the fleet) as they arrive."""
        feed = _Feed(asyncio.Queue(maxsize), self.rig if rig is None else rig, "event",
                     historical)
        self._feeds.add(feed)
        try:
            while True:
                yield await feed.queue.get()
        finally:
            self._feeds.discard(feed)

    # ------------------------------------------------------------------ intake
    def handle(self, message: InboundMessage, received_at: float) -> None:
        """One received message (the connection task calls this; tests may too)."""
        seen = self.model.handle(message, received_at)
        if seen is None:
            return
        msg = seen.message
        if isinstance(msg, AckMessage):
            self._resolve_ack(seen.rig, msg, received_at)
        elif isinstance(msg, StateMessage | StatusMessage):
            changed, self._changed = self._changed, []
            for fut in changed:
                if not fut.done():
                    fut.set_result(None)
        elif isinstance(msg, BatchMessage | EventMessage):
            self._feed(seen)
        for listener in list(self._listeners):
            try:
                listener(seen, received_at)
            except Exception:  # a broken view must not stop the intake
                log.exception("ground client listener failed")

    def _resolve_ack(self, rig: str, msg: AckMessage, received_at: float) -> None:
        fut = self._acks.get((rig, msg.command_id))
        if fut is None or fut.done():
            return
        command, sent_at = self._sent.pop((rig, msg.command_id), ("?", received_at))
        fut.set_result(Ack(rig, msg.command_id, command, msg.accepted, msg.reason, sent_at,
                           received_at))

    def _feed(self, seen: Sighting) -> None:
        msg, env = seen.message, seen.message.envelope
        for feed in self._feeds:
            if (feed.rig is not None and feed.rig != seen.rig) or \
                    (env.historical and not feed.historical):
                continue
            if isinstance(msg, BatchMessage) and feed.stream == seen.stream:
                stats = self.model.accounting.streams.get((seen.rig, seen.stream))
                t = msg.t0_rig + msg.period_s * np.arange(len(msg.samples))
                feed.offer(Rows(seen.rig, msg.stream, env.seq, env.boot, t, msg.channels,
                                msg.units, msg.samples, env.historical,
                                stats.gaps if stats else 0, feed.overflow))
            elif isinstance(msg, EventMessage) and feed.stream == "event":
                view = self.model.rigs[seen.rig]
                feed.offer(view.events[0])

    # ------------------------------------------------------------------ connection
    def _filters(self) -> list[str]:
        return [subscription_filter(self.prefix, self.rig), public_filter(self.prefix, self.rig)]

    async def _link(self) -> None:
        failures = 0  # attempts since the last good connection: only the first is a warning
        while True:
            connected = False
            try:
                async with connect(self.settings) as session:
                    for topic_filter in self._filters():
                        await session.subscribe(topic_filter, qos=1)
                    self._session, connected = session, True
                    if failures:
                        log.warning("ground client link back after %d attempts", failures)
                    failures = 0
                    self._set_link(True)
                    self._backoff.reset()
                    async for message in session.messages():
                        self.handle(message, self.clock())
            except BrokerError as err:
                failures += not connected
                log.log(logging.WARNING if connected or failures == 1 else logging.DEBUG,
                        "ground client link %s: %s", "lost" if connected else "unavailable", err)
            finally:
                self._session = None
                if connected:
                    self._set_link(False)
            await asyncio.sleep(self._backoff.next_delay())

    def _set_link(self, up: bool) -> None:
        if up:
            self._connected.set()
        else:
            self._connected.clear()
        self.model.set_link(up, self.clock())
        for listener in list(self.link_listeners):
            listener(up)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.model.tick(self.clock())

    def _rig_for(self, rig: str | None) -> str:
        rig = rig or self.rig
        if rig is None:
            raise GroundUsageError("this client watches a fleet: say which rig (rig=...)")
        return rig


def _load_key(key: str | Path | StationKey | None, counter_file: str | Path | None
              ) -> tuple[StationKey | None, Path | None]:
    if key is None or isinstance(key, StationKey):
        return key, Path(counter_file) if counter_file else None
    return load_secret_key(key), Path(counter_file or f"{key}.counter")

