"""The client API: ``async with Bridge(url) as bridge:``.

``Bridge`` owns one port and one host-side ``Link``. A supervisor task opens
the port (in an executor), handshakes, and when the port vanishes or the link
is lost it reports it, reconnects with capped, jittered exponential backoff
and handshakes again. Every command gets a result or a typed exception:
``CommandRejectedError``, ``CommandTimeoutError``, ``DeliveryFailedError`` or
``LinkDownError``; never silence.

Events (``async for event in bridge.events()``) are the link events
(``MessageReceived`` with sample batches, firmware events, ...) plus
``Connected`` / ``Disconnected`` from this module. A single consumer is
supported; if it falls behind by ``event_queue_size`` sample batches or
heartbeats, the oldest of those are dropped and counted in
``bridge.events_dropped``. Link transitions (``Connected``, ``Disconnected``),
firmware events, command results and every other event are never dropped: a
consumer that misses a ``Disconnected`` would believe a new ``Connected``
continues the old session (see ``event_queue.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from rig_common.backoff import Backoff

from .errors import (
    CommandRejectedError,
    CommandTimeoutError,
    DeliveryFailedError,
    HandshakeError,
    LinkDownError,
    PortError,
)
from .event_queue import EventQueue
from .link import (
    DeliveryFailed,
    HandshakeCompleted,
    HandshakeFailed,
    Link,
    LinkConfig,
    LinkEvent,
    LinkLost,
    LinkState,
    MessageDelivered,
    MessageReceived,
    Role,
)
from .messages import (
    Command,
    CommandCode,
    CommandResult,
    EStop,
    FirmwareInfo,
    Heartbeat,
    ParamGet,
    ParamSet,
    ParamStatus,
    ParamValue,
    ResultStatus,
    SampleBatch,
    Setpoints,
)
from .transport import LinkProtocol, open_link

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Connected:
    info: FirmwareInfo
    reconnect: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


BridgeEvent = LinkEvent | Connected | Disconnected


def must_deliver(event: BridgeEvent) -> bool:
    """True for events the queue may never drop: all but sample batches and heartbeats."""
    if isinstance(event, MessageReceived):
        return not isinstance(event.message, SampleBatch | Heartbeat)
    return True


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    baudrate: int = 3_000_000
    link: LinkConfig = field(default_factory=LinkConfig)
    connect_timeout: float = 3.0
    backoff_initial: float = 0.05
    backoff_max: float = 2.0
    event_queue_size: int = 8192


class Bridge:
    """Host end of the rig link over a real port (see the module docstring)."""

    def __init__(self, url: str, config: BridgeConfig | None = None) -> None:
        self.url = url
        self.config = config or BridgeConfig()
        self.link = Link(Role.HOST, self.config.link)
        self.info: FirmwareInfo | None = None
        self.connections = 0
        self._events: EventQueue[BridgeEvent] = EventQueue(self.config.event_queue_size,
                                                           keep=must_deliver)
        self._protocol: LinkProtocol | None = None
        self._up = asyncio.Event()
        self._first: asyncio.Future[FirmwareInfo] | None = None
        self._result_waiters: dict[int, tuple[asyncio.Future[CommandResult], ResultStatus]] = {}
        self._delivery_waiters: dict[int, asyncio.Future[None]] = {}
        self._param_waiters: dict[int, asyncio.Future[ParamValue]] = {}
        self._task: asyncio.Task[None] | None = None
        self._relink: asyncio.Future[None] | None = None  # set when the link is lost
        self._closing = False

    # --- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Bridge:
        loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._task = asyncio.create_task(self._supervise(), name=f"bridge:{self.url}")
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await asyncio.shield(self._first)
        except TimeoutError:
            await self.aclose()
            raise HandshakeError(
                f"no handshake with firmware on {self.url!r} within "
                f"{self.config.connect_timeout} s"
            ) from None
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closing = True
        if self._protocol is not None:
            self._protocol.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._fail_all(LinkDownError("bridge closed"))

    @property
    def is_up(self) -> bool:
        return self._up.is_set()

    @property
    def events_dropped(self) -> int:
        """Sample batches and heartbeats dropped because the consumer fell behind."""
        return self._events.dropped

    async def events(self) -> AsyncIterator[BridgeEvent]:
        while True:
            yield await self._events.get()

    def get_event_nowait(self) -> BridgeEvent | None:
        return self._events.get_nowait()

    # --- sending -------------------------------------------------------------------

    def peer_deadline_us(self, ttl: float) -> int:
        loop = asyncio.get_running_loop()
        now_fw = self.link.peer_time_us(loop.time())
        if now_fw is None:
            raise LinkDownError("firmware clock not known yet (no session)")
        return max(0, now_fw + int(ttl * 1e6))

    def send_setpoints(self, drum_speed: float, cut_depth: float, *, enable: bool = True,
                       ttl: float = 0.1) -> None:
        """Best-effort setpoints, latest wins; firmware drops them after *ttl* seconds."""
        self._send(Setpoints(self.peer_deadline_us(ttl), drum_speed, cut_depth, enable))

    async def command(
        self,
        code: CommandCode,
        args: tuple[float, ...] = (),
        *,
        ttl: float = 0.5,
        until: ResultStatus = ResultStatus.ACCEPTED,
        timeout: float | None = None,
    ) -> CommandResult:
        """Send a reliable command and wait for its result.

        Returns the first result whose status is *until* or DONE. Raises
        ``CommandRejectedError`` (REJECTED/FAILED, with ``reason``),
        ``DeliveryFailedError``, ``CommandTimeoutError`` or ``LinkDownError``.
        The firmware refuses to execute it once *ttl* seconds have passed."""
        padded = (*(float(a) for a in args), 0.0, 0.0, 0.0, 0.0)[:4]
        cmd = Command(CommandCode(code), self.peer_deadline_us(ttl), padded)  # type: ignore[arg-type]
        fut: asyncio.Future[CommandResult] = asyncio.get_running_loop().create_future()
        seq = self._send(cmd)
        self._result_waiters[seq] = (fut, until)
        wait = timeout if timeout is not None else max(ttl * 2, 0.5)
        try:
            async with asyncio.timeout(wait):
                return await fut
        except TimeoutError:
            raise CommandTimeoutError(
                f"{cmd.code.name}: no result within {wait:.2f} s", seq=seq, reason="timeout"
            ) from None
        finally:
            self._result_waiters.pop(seq, None)

    async def estop(self, reason: str = "", *, source: int = 0, timeout: float = 0.5) -> None:
        """Latch the firmware e-stop; returns once the firmware has the message."""
        seq = self._send(EStop(source, reason))
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._delivery_waiters[seq] = fut
        try:
            async with asyncio.timeout(timeout):
                await fut
        except TimeoutError:
            raise CommandTimeoutError("ESTOP not acknowledged", seq=seq) from None
        finally:
            self._delivery_waiters.pop(seq, None)

    async def get_param(self, param_id: int, timeout: float = 0.5) -> float:
        return (await self._param(ParamGet(param_id), timeout)).value

    async def set_param(self, param_id: int, value: float, timeout: float = 0.5) -> float:
        return (await self._param(ParamSet(param_id, value), timeout)).value

    async def _param(self, msg: ParamGet | ParamSet, timeout: float) -> ParamValue:
        fut: asyncio.Future[ParamValue] = asyncio.get_running_loop().create_future()
        seq = self._send(msg)
        self._param_waiters[seq] = fut
        try:
            async with asyncio.timeout(timeout):
                pv = await fut
        except TimeoutError:
            raise CommandTimeoutError(f"parameter {msg.param_id}: no answer", seq=seq) from None
        finally:
            self._param_waiters.pop(seq, None)
        if pv.status is not ParamStatus.OK:
            raise CommandRejectedError(
                f"parameter {msg.param_id}: {pv.status.name}", seq=seq, reason=pv.status.name
            )
        return pv

    def _send(self, msg: object) -> int:
        if self._protocol is None or not self.link.is_up:
            raise LinkDownError(f"link to {self.url!r} is not up")
        seq = self.link.send(msg, asyncio.get_running_loop().time())  # type: ignore[arg-type]
        self._protocol.pump()
        return seq

    # --- supervision ------------------------------------------------------------------

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = Backoff(self.config.backoff_initial, self.config.backoff_max)
        while not self._closing:
            try:
                _, proto = await open_link(
                    self.url, lambda: LinkProtocol(self.link, self._on_event),
                    baudrate=self.config.baudrate,
                )
            except PortError as err:
                if self._first is not None and not self._first.done():
                    self._first.set_exception(err)
                    return
                delay = backoff.next_delay()
                log.info("%s; retrying in %.2f s", err, delay)
                await asyncio.sleep(delay)
                continue
            self._protocol = proto
            self.link.connect(loop.time())
            proto.pump()
            lost_task = asyncio.ensure_future(proto.closed)
            try:
                while not lost_task.done():
                    # re-handshake whenever the link is lost while the port stays open
                    relink = loop.create_future()
                    self._relink = relink
                    done, _ = await asyncio.wait(
                        {lost_task, relink}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if relink in done and not lost_task.done():
                        self.link.connect(loop.time())
                        proto.pump()
                    if self._up.is_set():
                        backoff.reset()
            finally:
                proto.close()
                self._protocol = None
            self.link.connection_lost(loop.time(), "port closed")
            while (event := self.link.next_event()) is not None:
                self._on_event(event)
            self._set_down("port closed")
            if self._closing:
                return
            delay = backoff.next_delay()
            log.warning("port %s closed; reconnecting in %.2f s", self.url, delay)
            await asyncio.sleep(delay)

    def _set_down(self, reason: str) -> None:
        if self._up.is_set():
            self._up.clear()
            self._put(Disconnected(reason))
        self._fail_all(LinkDownError(f"link down: {reason}"))

    def _fail_all(self, err: Exception) -> None:
        for fut, _ in self._result_waiters.values():
            if not fut.done():
                fut.set_exception(err)
        for waiters in (self._delivery_waiters, self._param_waiters):
            for fut in waiters.values():  # type: ignore[assignment]
                if not fut.done():
                    fut.set_exception(err)

    def _put(self, event: BridgeEvent) -> None:
        self._events.put(event)

    def _on_event(self, event: LinkEvent) -> None:
        if isinstance(event, MessageReceived):
            msg = event.message
            if isinstance(msg, CommandResult):
                entry = self._result_waiters.get(msg.command_seq)
                if entry is not None:
                    fut, until = entry
                    if fut.done():
                        pass
                    elif msg.status in (ResultStatus.REJECTED, ResultStatus.FAILED):
                        fut.set_exception(CommandRejectedError(
                            f"command rejected: {msg.reason.name}"
                            + (f" ({msg.detail})" if msg.detail else ""),
                            seq=msg.command_seq, reason=msg.reason.name))
                    elif msg.status in (until, ResultStatus.DONE):
                        fut.set_result(msg)
            elif isinstance(msg, ParamValue):
                pfut = self._param_waiters.get(msg.request_seq)
                if pfut is not None and not pfut.done():
                    pfut.set_result(msg)
        elif isinstance(event, DeliveryFailed):
            err = DeliveryFailedError(f"seq {event.seq}: {event.reason}", seq=event.seq,
                                      reason=event.reason)
            for fut in (self._result_waiters.get(event.seq, (None,))[0],
                        self._delivery_waiters.get(event.seq),
                        self._param_waiters.get(event.seq)):
                if fut is not None and not fut.done():
                    fut.set_exception(err)
        elif isinstance(event, MessageDelivered):
            dfut = self._delivery_waiters.get(event.seq)
            if dfut is not None and not dfut.done():
                dfut.set_result(None)
        elif isinstance(event, HandshakeCompleted):
            assert event.info is not None
            reconnect = self.info is not None
            self.info = event.info
            self.connections += 1
            self._up.set()
            log.info("link up with %s %s on %s", event.info.firmware_id,
                     ".".join(map(str, event.info.version)), self.url)
            if self._first is not None and not self._first.done():
                self._first.set_result(event.info)
            self._put(Connected(event.info, reconnect))
        elif isinstance(event, HandshakeFailed):
            if self._first is not None and not self._first.done():
                self._first.set_exception(HandshakeError(event.reason))
        elif isinstance(event, LinkLost):
            self._set_down(f"{event.direction}: {event.reason}")
            if self.link.state is LinkState.LOST and self._relink is not None \
                    and not self._relink.done():
                self._relink.set_result(None)
        self._put(event)
