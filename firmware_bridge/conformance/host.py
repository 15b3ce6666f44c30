"""The harness's own host end: explicit control over every header field.

The bridge's ``Link`` does the right thing by itself; a conformance harness
must also do the wrong thing on purpose (withhold acks, freeze the heartbeat
echo, repeat or skip sequence numbers, go silent). ``HostSession`` is a
small sans-I/O host written from docs/protocol.md: it builds frames with the
codec, logs every received frame with its local receive time, tracks the
firmware's reliable sequence and clock, and acknowledges unless told not to.
``HarnessPort`` is its asyncio shell: it opens the port with pyserial
(``serial_for_url`` through pyserial-asyncio-fast, so device paths, ptys and
``socket://`` all work), sends heartbeats every 25 ms while ``heartbeats`` is
on, and waits for conditions with explicit deadlines.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import serial
import serial_asyncio_fast

from ..codec import HEADER, Frame, FrameDecoder, encode_frame, message_type
from ..errors import PortError
from ..framing import encode_frame as frame_body
from ..messages import (
    PROTOCOL_VERSION,
    RELIABLE_TYPES,
    Ack,
    FirmwareInfo,
    Flags,
    Heartbeat,
    Hello,
    Message,
    MsgType,
)

log = logging.getLogger(__name__)

__all__ = ["HarnessPort", "HostSession", "Received"]

_MOD = 1 << 32


@dataclass(frozen=True, slots=True)
class Received:
    t: float  # local receive time, s
    frame: Frame

    @property
    def message(self) -> Message:
        return self.frame.message


class HostSession:
    """Sans-I/O host state for the harness (see the module docstring)."""

    def __init__(self, heartbeat_ms: int = 25, watchdog_ms: int = 250) -> None:
        self.heartbeat_ms = heartbeat_ms
        self.watchdog_ms = watchdog_ms
        self.decoder = FrameDecoder()
        self.log: list[Received] = []
        self.out = bytearray()
        self.session_id = 0
        self.info: FirmwareInfo | None = None
        self.table: tuple[int, object] | None = None  # (table_crc, channels) last received
        self.auto_ack = True
        self.ack_override: int | None = None
        self.echo_override: int | None = None
        self._up_session = 0
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.tx_rel = 1  # next reliable seq we assign
        self.tx_be = 0
        self.rx_expected = 1  # next firmware reliable seq we deliver
        self.last_be_seq: int | None = None
        self.peer_ack: int | None = None  # the firmware's latest cumulative ack
        self.offsets: deque[float] = deque(maxlen=8)
        self.last_echo_sent: int | None = None  # echo_seq of our latest heartbeat
        self.last_echo_changed_at = 0.0  # when a heartbeat last showed a new echo

    # --- building frames ----------------------------------------------------------
    @property
    def up(self) -> bool:
        return self._up_session != 0 and self._up_session == self.session_id

    def ack_field(self) -> int:
        if self.ack_override is not None:
            return self.ack_override
        return (self.rx_expected - 1) % _MOD

    def encode(self, msg: Message, *, seq: int | None = None, flags: int = 0,
               ack: int | None = None) -> tuple[int, bytes]:
        """(seq, wire bytes) of *msg*; reliable types take the next reliable seq."""
        reliable = message_type(msg) in RELIABLE_TYPES
        if seq is None:
            if reliable:
                seq, self.tx_rel = self.tx_rel, (self.tx_rel + 1) % _MOD or 1
            else:
                seq, self.tx_be = self.tx_be, (self.tx_be + 1) % _MOD
        if self.up:
            flags |= Flags.ACK_VALID
            ack = self.ack_field() if ack is None else ack
        return seq, encode_frame(msg, seq=seq, ack=ack or 0, flags=flags)

    def send(self, msg: Message, **kw: int) -> int:
        seq, data = self.encode(msg, **kw)
        self.out += data
        return seq

    def send_raw(self, data: bytes) -> None:
        self.out += data

    @staticmethod
    def raw_frame(msg_type: int, payload: bytes, *, seq: int, flags: int = 0, ack: int = 0,
                  version: int = PROTOCOL_VERSION) -> bytes:
        """A frame with a valid CRC around any header and payload bytes."""
        return frame_body(HEADER.pack(version, msg_type, flags, 0, seq, ack) + payload)

    def hello(self, *, table_crc: int = 0, new_session: bool = True,
              proto: tuple[int, int] = (PROTOCOL_VERSION, PROTOCOL_VERSION)) -> None:
        if new_session:
            self.session_id = secrets.randbits(32) or 1
        self.out += encode_frame(Hello(self.session_id, proto[0], proto[1], self.heartbeat_ms,
                                       self.watchdog_ms, table_crc), seq=0)

    def heartbeat(self, now: float) -> None:
        echo = self.echo_override
        if echo is None:
            echo = self.last_be_seq or 0
        if echo != self.last_echo_sent:
            self.last_echo_changed_at = now
        self.last_echo_sent = echo
        self.send(Heartbeat(int(now * 1e6), 0, echo))

    # --- receiving ----------------------------------------------------------------
    def feed(self, data: bytes, now: float) -> None:
        for frame in self.decoder.feed(data):
            self.log.append(Received(now, frame))
            self._track(frame, now)

    def _track(self, frame: Frame, now: float) -> None:
        msg = frame.message
        if isinstance(msg, FirmwareInfo):
            if msg.session_id == self.session_id and self._up_session != self.session_id:
                self._reset_counters()
                self._up_session = self.session_id
                self.info = msg
                self.offsets.append(msg.time_us / 1e6 - now)
            if not msg.table_omitted:
                self.table = (msg.table_crc, msg.channels)
            return
        if frame.msg_type in (MsgType.HELLO, MsgType.RESET_NOTICE) or not self.up:
            return
        if frame.flags & Flags.ACK_VALID:
            self.peer_ack = frame.ack
        if frame.reliable:
            if frame.seq == self.rx_expected:
                self.rx_expected = (self.rx_expected + 1) % _MOD or 1
            if self.auto_ack:
                self.send(Ack())
            return
        self.last_be_seq = frame.seq
        if isinstance(msg, Heartbeat):
            self.offsets.append(msg.time_us / 1e6 - now)

    def fw_time_us(self, now: float) -> int:
        """The firmware clock at local time *now* (under-estimated by the transit time)."""
        if not self.offsets:
            return 0
        return int((now + max(self.offsets)) * 1e6)

    def acked(self, seq: int) -> bool:
        return self.peer_ack is not None and 0 <= (self.peer_ack - seq) % _MOD < (1 << 31)

    def since(self, t0: float, kind: type | None = None) -> list[Received]:
        return [r for r in self.log if r.t >= t0 and (kind is None or isinstance(r.message, kind))]


class _Rx(asyncio.Protocol):
    def __init__(self, port: HarnessPort) -> None:
        self.port = port

    def data_received(self, data: bytes) -> None:
        self.port.on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.port.closed = True
        self.port.wake()


class HarnessPort:
    """The asyncio shell around a ``HostSession`` (see the module docstring)."""

    def __init__(self, url: str, baudrate: int, session: HostSession) -> None:
        self.url = url
        self.baudrate = baudrate
        self.s = session
        self.heartbeats = False
        self.silent = False  # write nothing at all (the host "dies")
        self.closed = False
        self.last_tx_at = 0.0  # local time of the last write
        self.extra: Callable[[], list[Message]] = list  # more to send with each heartbeat
        self.loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._changed = asyncio.Event()
        self._hb_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        try:
            self._transport, _ = await serial_asyncio_fast.create_serial_connection(
                self.loop, lambda: _Rx(self), self.url, baudrate=self.baudrate, timeout=0,
                write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as err:
            raise PortError(f"cannot open serial port {self.url!r}: {err}") from err
        self._hb_task = self.loop.create_task(self._heartbeat_loop(), name="conformance:hb")

    async def close(self) -> None:
        if self._hb_task is not None:
            self._hb_task.cancel()
            try:
                await self._hb_task
            except asyncio.CancelledError:
                pass
        if self._transport is not None:
            self._transport.close()
            await asyncio.sleep(0)

    def now(self) -> float:
        return self.loop.time()

    def on_data(self, data: bytes) -> None:
        self.s.feed(data, self.now())
        self.flush()
        self.wake()

    def wake(self) -> None:
        self._changed.set()

    def flush(self) -> None:
        if self.s.out and self._transport is not None and not self._transport.is_closing():
            if not self.silent:
                self._transport.write(bytes(self.s.out))
                self.last_tx_at = self.now()
            self.s.out.clear()

    async def _heartbeat_loop(self) -> None:
        period = self.s.heartbeat_ms / 1000.0
        next_at = self.now()
        while True:
            next_at += period
            await asyncio.sleep(max(0.0, next_at - self.now()))
            if self.heartbeats and self.s.up and not self.silent:
                self.s.heartbeat(self.now())
                for msg in self.extra():
                    self.s.send(msg)
                self.flush()

    async def wait(self, pred: Callable[[], bool], timeout: float) -> bool:
        """True as soon as *pred()* holds; False after *timeout* s (an explicit deadline)."""
        deadline = self.now() + timeout
        while not pred():
            left = deadline - self.now()
            if left <= 0 or self.closed:
                return bool(pred())
            self._changed.clear()
            try:
                async with asyncio.timeout(left):
                    await self._changed.wait()
            except TimeoutError:
                return bool(pred())
        return True

    async def pause(self, seconds: float) -> None:
        await self.wait(lambda: False, seconds)

    async def handshake(self, *, table_crc: int = 0, timeout: float = 2.0) -> bool:
        """HELLO every 100 ms until a FIRMWARE_INFO for this session arrives."""
        self.s.hello(table_crc=table_crc)
        self.flush()
        deadline = self.now() + timeout
        while not self.s.up:
            if self.now() >= deadline:
                return False
            if await self.wait(lambda: self.s.up, 0.1):
                break
            self.s.hello(table_crc=table_crc, new_session=False)
            self.flush()
        self.heartbeats = True
        return True

    async def reliable(self, msg: Message, timeout: float = 1.0) -> int:
        """Send *msg* reliably (retransmitted every 50 ms until acked); returns its seq."""
        seq, data = self.s.encode(msg)
        self.s.send_raw(data)
        self.flush()
        deadline = self.now() + timeout
        while not await self.wait(lambda: self.s.acked(seq), 0.05):
            if self.now() >= deadline or not self.s.up:
                break
            _, again = self.s.encode(msg, seq=seq, flags=Flags.RETRANSMIT)
            self.s.send_raw(again)
            self.flush()
        return seq
