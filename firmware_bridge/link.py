"""The sans-I/O link: reliability, heartbeats, liveness and handshake.

Theory of operation (docs/protocol.md sections 5-7):

* Bytes in with ``receive_data(data, now)``; events out with ``next_event()``;
  bytes to write with ``data_to_send()``; messages in with ``send(msg, now)``.
  Time is always an argument (seconds, any monotonic origin). ``get_timer()``
  says when the link next needs ``handle_timer(now)``.
* Two traffic classes. Reliable messages (``RELIABLE_TYPES``) get their own
  32-bit sequence space starting at 1 after every handshake, are
  retransmitted go-back-N every ``retransmit_timeout`` until cumulatively
  acknowledged, and fail after ``max_retries`` (which also declares the link
  lost: a link that cannot deliver in that time is not a link). The receiver
  delivers them strictly in order and exactly once. Everything else is
  best-effort with its own sequence space, where gaps are counted.
* Liveness per direction. ``rx``: no valid frame for ``loss_timeout``.
  ``tx``: the peer's heartbeats stop echoing our frames for ``loss_timeout``
  while we still hear it (the link died in one direction only).
* The host starts a session with HELLO and re-sends it until the firmware
  answers with FIRMWARE_INFO carrying the same session id. The firmware
  side answers a HELLO with its ``FirmwareInfo``. Both reset their sequence
  state: nothing from a previous session is ever delivered or replayed.
* Garbage never raises: it is counted in ``stats`` and the decoder
  resynchronises. Only API misuse raises (see each method).
"""

from __future__ import annotations

import logging
import secrets
from collections import deque
from dataclasses import dataclass, field, replace
from enum import Enum

from .codec import (
    Frame,
    FrameDecoder,
    channel_table_crc,
    encode_frame,
    encode_payload,
    frame_payload,
)
from .errors import BridgeUsageError, LinkDownError
from .link_config import LinkConfig, LinkStats
from .link_events import (
    DeliveryFailed,
    HandshakeCompleted,
    HandshakeFailed,
    LinkEvent,
    LinkLost,
    LossDirection,
    MessageDelivered,
    MessageReceived,
    PeerReset,
    SampleGap,
)
from .messages import MESSAGE_TYPES as _TYPE_OF
from .messages import (
    PROTOCOL_VERSION,
    RELIABLE_TYPES,
    Ack,
    ChannelInfo,
    CommandResult,
    FirmwareInfo,
    Flags,
    Heartbeat,
    Hello,
    HelloFlag,
    Message,
    MsgType,
    Nack,
    Reason,
    SampleBatch,
    Status,
)

log = logging.getLogger(__name__)

_MOD = 1 << 32
_HALF = 1 << 31
# header flag bits as plain ints: IntFlag arithmetic is a Python call per frame
_RELIABLE, _RETRANSMIT, _ACK_VALID = (int(f) for f in (Flags.RELIABLE, Flags.RETRANSMIT,
                                                       Flags.ACK_VALID))


def seq_after(a: int, b: int) -> bool:
    """True when 32-bit sequence *a* comes after *b* (RFC 1982 serial arithmetic)."""
    return 0 < ((a - b) % _MOD) < _HALF


class Role(Enum):
    HOST = "host"
    FIRMWARE = "firmware"


class LinkState(Enum):
    IDLE = "idle"  # no session (host: before connect(); firmware: before HELLO)
    HANDSHAKING = "handshaking"
    UP = "up"
    LOST = "lost"
    FAILED = "failed"  # incompatible peer: do not retry blindly


@dataclass(slots=True)
class _Pending:
    seq: int
    msg: Message
    msg_type: MsgType
    payload: bytes  # encoded once, framed again for each (re)transmission
    sent_at: float = 0.0
    tries: int = 0


@dataclass(slots=True)
class _Session:
    tx_next: int = 1  # next reliable seq to assign
    rx_expected: int = 1  # next reliable seq we will deliver
    tx_unrel: int = 0
    rx_unrel_last: int | None = None
    outstanding: deque[_Pending] = field(default_factory=deque)
    queued: deque[_Pending] = field(default_factory=deque)
    last_rx: float = 0.0
    last_tx_hb: float = float("-inf")
    peer_heard_us_at: float = 0.0
    last_echo: int | None = None
    ack_pending: bool = False
    stream_seq: dict[int, int] = field(default_factory=dict)
    offsets: deque[float] = field(default_factory=lambda: deque(maxlen=8))


class Link:
    """One end of the rig link (see the module docstring)."""

    def __init__(
        self,
        role: Role,
        config: LinkConfig | None = None,
        *,
        firmware_info: FirmwareInfo | None = None,
        status: int = 0,
    ) -> None:
        if role is Role.FIRMWARE and firmware_info is None:
            raise BridgeUsageError("the firmware side needs firmware_info to answer HELLO")
        self.role = role
        self.config = config or LinkConfig()
        self.firmware_info = firmware_info
        self.status = status  # firmware status bits sent in heartbeats
        self.stats = LinkStats()
        self.state = LinkState.IDLE
        self.session_id = 0
        self.peer_info: FirmwareInfo | None = None
        self.peer_hello: Hello | None = None
        self._decoder = FrameDecoder()
        self._events: deque[LinkEvent] = deque()
        self._out = bytearray()
        self._s = _Session()
        self._next_hello = float("inf")
        self._last_nack_at = float("-inf")
        self._clock_us0: float = 0.0
        # host: the last channel table received, so a re-handshake can skip it
        self._known_table: tuple[int, tuple[ChannelInfo, ...]] | None = None
        self._table_crc = 0

    # --- public API ------------------------------------------------------------

    @property
    def is_up(self) -> bool:
        return self.state is LinkState.UP

    @property
    def last_rx_at(self) -> float:
        """Local time of the last valid frame from the peer in this session."""
        return self._s.last_rx

    def connect(self, now: float, session_id: int | None = None) -> None:
        """Host: start (or restart) a session; HELLO is re-sent until answered."""
        if self.role is not Role.HOST:
            raise BridgeUsageError("only the host starts a session")
        self.session_id = session_id if session_id is not None else secrets.randbits(32) or 1
        self._reset_session(now)
        self._decoder.reset()
        self.state = LinkState.HANDSHAKING
        self._send_hello(now)

    def connection_lost(self, now: float, reason: str = "transport closed") -> None:
        """The transport went away: fail everything in flight, state LOST."""
        self._decoder.reset()
        if self.state in (LinkState.UP, LinkState.HANDSHAKING):
            self._lose(LossDirection.RX, reason)

    def send(self, msg: Message, now: float) -> int:
        """Queue *msg*; returns its sequence number.

        Raises ``LinkDownError`` when no session is up and ``BridgeUsageError``
        when the reliable queue is full (backpressure) or the message is not
        one this side may send."""
        if self.state is not LinkState.UP:
            raise LinkDownError(f"link is {self.state.value}, cannot send {type(msg).__name__}")
        if isinstance(msg, Hello | FirmwareInfo):
            raise BridgeUsageError("handshake messages are sent by the link itself")
        t = _TYPE_OF[type(msg)]
        s = self._s
        if t in RELIABLE_TYPES:
            payload = encode_payload(msg)  # raises EncodeError before any state changes
            if len(s.queued) >= self.config.max_queued:
                raise BridgeUsageError(
                    f"reliable queue full ({self.config.max_queued} messages waiting)"
                )
            p = _Pending(s.tx_next, msg, t, payload)
            s.tx_next = (s.tx_next + 1) % _MOD or 1
            if len(s.outstanding) < self.config.window:
                s.outstanding.append(p)
                self._transmit_pending(p, now)
            else:
                s.queued.append(p)
            return p.seq
        return self._send_unreliable(msg, now)

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> None:
        """Feed bytes read from the port. Never raises on wire content."""
        self.stats.bytes_rx += len(data)
        for frame in self._decoder.feed(data):
            self.stats.frames_rx += 1
            self._on_frame(frame, now)
        self._answer_rejects(now)
        if self._s.ack_pending and self.state is LinkState.UP:
            self._s.ack_pending = False
            self._send_unreliable(Ack(), now)

    def next_event(self) -> LinkEvent | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def get_timer(self) -> float | None:
        s = self._s
        cfg = self.config
        if self.state is LinkState.HANDSHAKING:
            return self._next_hello
        if self.state is not LinkState.UP:
            return None
        t = min(s.last_tx_hb + cfg.heartbeat_interval, s.last_rx + cfg.loss_timeout,
                s.peer_heard_us_at + cfg.loss_timeout)
        if s.outstanding:
            t = min(t, s.outstanding[0].sent_at + cfg.retransmit_timeout)
        return t

    def handle_timer(self, now: float) -> None:
        s = self._s
        cfg = self.config
        if self.state is LinkState.HANDSHAKING:
            if now >= self._next_hello:
                self._send_hello(now)
            return
        if self.state is not LinkState.UP:
            return
        if now - s.last_rx >= cfg.loss_timeout:
            self._lose(LossDirection.RX, f"nothing received for {now - s.last_rx:.3f} s")
            return
        if now - s.peer_heard_us_at >= cfg.loss_timeout:
            self._lose(LossDirection.TX,
                       f"peer has not heard us for {now - s.peer_heard_us_at:.3f} s")
            return
        if s.outstanding and now >= s.outstanding[0].sent_at + cfg.retransmit_timeout:
            head = s.outstanding[0]
            if head.tries > cfg.max_retries:
                self._lose(LossDirection.TX, f"reliable seq {head.seq} unacknowledged after "
                                 f"{cfg.max_retries} retransmissions")
                return
            for p in s.outstanding:  # go-back-N
                self.stats.retransmits += 1
                self._transmit_pending(p, now, retransmit=True)
        if now >= s.last_tx_hb + cfg.heartbeat_interval:
            self._send_heartbeat(now)

    def send_heartbeat(self, now: float) -> None:
        """Send a HEARTBEAT now, in any state.

        The firmware calls it once right after it declares the link lost and has
        stopped the motors, so a host that still listens sees the new status
        (docs/protocol.md section 6)."""
        self._send_heartbeat(now)

    def peer_time_us(self, now: float) -> int | None:
        """Estimate of the peer's clock (µs) at local time *now*; None before any sample."""
        if not self._s.offsets:
            return None
        return int((now + max(self._s.offsets)) * 1e6)

    def set_clock_origin(self, now: float, time_us: float = 0.0) -> None:
        """Firmware side: local clock in µs is ``time_us + (t - now) * 1e6`` from here on."""
        self._clock_us0 = time_us - now * 1e6

    def local_time_us(self, now: float) -> int:
        return int(self._clock_us0 + now * 1e6)

    def counters(self) -> LinkStats:
        st = replace(self.stats)
        st.crc_errors = self._decoder.crc_errors
        st.framing_errors = self._decoder.framing_errors
        st.decode_errors = self._decoder.decode_errors
        return st

    # --- internals -------------------------------------------------------------

    def _reset_session(self, now: float) -> None:
        for p in (*self._s.outstanding, *self._s.queued):
            self.stats.delivery_failures += 1
            self._events.append(DeliveryFailed(p.seq, p.msg_type, "session reset", p.msg))
        self._s = _Session(last_rx=now, peer_heard_us_at=now)

    def _lose(self, direction: LossDirection, reason: str) -> None:
        log.warning("link lost (%s): %s", direction, reason)
        s = self._s
        for p in (*s.outstanding, *s.queued):
            self.stats.delivery_failures += 1
            self._events.append(DeliveryFailed(p.seq, p.msg_type, f"link lost: {reason}", p.msg))
        s.outstanding.clear()
        s.queued.clear()
        self.stats.links_lost += 1
        self.state = LinkState.LOST
        self._events.append(LinkLost(direction, reason))

    def _header_ack(self) -> tuple[int, int]:
        if self.state is LinkState.UP:
            return (self._s.rx_expected - 1) % _MOD, _ACK_VALID
        return 0, 0

    def _write(self, data: bytes) -> None:
        self._out += data
        self.stats.frames_tx += 1
        self.stats.bytes_tx += len(data)

    def _send_unreliable(self, msg: Message, now: float) -> int:
        s = self._s
        seq = s.tx_unrel
        s.tx_unrel = (seq + 1) % _MOD
        ack, flags = self._header_ack()
        self._write(encode_frame(msg, seq=seq, ack=ack, flags=flags))
        return seq

    def _transmit_pending(self, p: _Pending, now: float, retransmit: bool = False) -> None:
        ack, flags = self._header_ack()
        if retransmit:
            flags |= _RETRANSMIT
        self._write(frame_payload(p.msg_type, p.payload, seq=p.seq, ack=ack, flags=flags))
        p.sent_at = now
        p.tries += 1

    def _send_hello(self, now: float) -> None:
        hello = Hello(
            session_id=self.session_id,
            heartbeat_ms=min(0xFFFF, round(self.config.heartbeat_interval * 1000)),
            watchdog_ms=min(0xFFFF, round(self.config.loss_timeout * 1000)),
            table_crc=self._known_table[0] if self._known_table else 0,
            hello_flags=HelloFlag.WANTS_CHANNEL_EXTRA,  # 1.2: we read the noise floors
        )
        self._write(encode_frame(hello, seq=0))
        self._next_hello = now + self.config.handshake_interval

    def _send_heartbeat(self, now: float) -> None:
        s = self._s
        echo = s.rx_unrel_last if s.rx_unrel_last is not None else 0
        self._send_unreliable(Heartbeat(self.local_time_us(now), self.status, echo), now)
        s.last_tx_hb = now

    def _nack(self, seq: int, msg_type: int, reason: Reason, now: float,
              rate_limited: bool = False) -> None:
        if rate_limited and now - self._last_nack_at < self.config.nack_interval:
            return
        self._last_nack_at = now
        self.stats.nacks_tx += 1
        self._send_unreliable(Nack(seq, msg_type & 0xFF, reason), now)

    def _answer_rejects(self, now: float) -> None:
        rejected = self._decoder.rejected
        if not rejected:
            return
        for header, err in rejected:
            log.debug("rejected frame: %s", err)
            if header is None or self.state is not LinkState.UP:
                continue
            t, flags, seq = header
            reason = Reason(err.nack)
            if flags & _RELIABLE and seq == self._s.rx_expected:
                # consume the sequence number so the sender is not stuck retrying it
                self._s.rx_expected = (seq + 1) % _MOD or 1
                self._s.ack_pending = True
            self._nack(seq, t, reason, now)
        rejected.clear()

    def _on_frame(self, frame: Frame, now: float) -> None:
        msg = frame.message
        t = frame.msg_type
        s = self._s
        # -- handshake ------------------------------------------------------
        if t is MsgType.HELLO:
            self._on_hello(msg, now)  # type: ignore[arg-type]
            return
        if t is MsgType.FIRMWARE_INFO:
            self._on_info(msg, now)  # type: ignore[arg-type]
            return
        if t is MsgType.RESET_NOTICE:
            self._events.append(PeerReset(msg))  # type: ignore[arg-type]
            if self.role is Role.HOST and self.state is LinkState.UP:
                self._lose(LossDirection.PEER, f"firmware reset (boot {msg.boot_id})")  # type: ignore[union-attr]
            return
        if self.state is not LinkState.UP:
            self.stats.ignored += 1
            if self.role is Role.FIRMWARE and (frame.reliable or t is MsgType.SETPOINTS):
                self._nack(frame.seq, t, Reason.NOT_HANDSHAKEN, now, rate_limited=True)
            return
        s.last_rx = now
        if t is MsgType.NACK:
            # before the ack it carries, which also covers the rejected seq
            self._on_nack(msg, now)  # type: ignore[arg-type]
        if frame.flags & _ACK_VALID:
            self._on_ack(frame.ack, now)
        if frame.reliable:
            s.ack_pending = True
            if frame.seq == s.rx_expected:
                s.rx_expected = (s.rx_expected + 1) % _MOD or 1
                self._events.append(MessageReceived(msg, frame.seq))
            elif seq_after(s.rx_expected, frame.seq):
                self.stats.duplicates += 1
            else:
                self.stats.out_of_order += 1
            return
        # best-effort class
        last = s.rx_unrel_last
        if last is not None:
            gap = (frame.seq - last - 1) % _MOD
            if gap >= _HALF:
                self.stats.duplicates += 1
            elif gap:
                self.stats.frames_lost += gap
        s.rx_unrel_last = frame.seq
        if t is MsgType.SAMPLE_BATCH:
            self._on_batch(msg, frame.seq)  # type: ignore[arg-type]
        elif t is MsgType.HEARTBEAT:
            self._on_heartbeat(msg, now)  # type: ignore[arg-type]
        elif t is MsgType.ACK or t is MsgType.NACK:
            pass
        else:
            self._events.append(MessageReceived(msg, frame.seq))

    def _on_batch(self, msg: SampleBatch, seq: int) -> None:
        prev = self._s.stream_seq.get(msg.stream_id)
        if prev is not None:
            expected = (prev + 1) % _MOD
            if msg.stream_seq != expected:
                missing = (msg.stream_seq - expected) % _MOD
                if missing < _HALF:
                    self.stats.sample_gaps += 1
                    self.stats.samples_lost += missing * msg.counts.shape[0]
                    self._events.append(SampleGap(msg.stream_id, expected, msg.stream_seq, missing))
        self._s.stream_seq[msg.stream_id] = msg.stream_seq
        self._events.append(MessageReceived(msg, seq))

    def _on_heartbeat(self, hb: Heartbeat, now: float) -> None:
        s = self._s
        if hb.echo_seq != s.last_echo:
            s.last_echo = hb.echo_seq
            s.peer_heard_us_at = now
        s.offsets.append(hb.time_us / 1e6 - now)
        if self.role is Role.HOST:
            self._events.append(MessageReceived(hb, 0))

    def _on_ack(self, ack: int, now: float) -> None:
        s = self._s
        moved = False
        while s.outstanding and not seq_after(s.outstanding[0].seq, ack):
            p = s.outstanding.popleft()
            self._events.append(MessageDelivered(p.seq, p.msg_type))
            moved = True
        if moved:
            s.peer_heard_us_at = now
            while s.queued and len(s.outstanding) < self.config.window:
                p = s.queued.popleft()
                s.outstanding.append(p)
                self._transmit_pending(p, now)

    def _on_nack(self, nack: Nack, now: float) -> None:
        self.stats.nacks_rx += 1
        if nack.reason is Reason.NOT_HANDSHAKEN and self.role is Role.HOST:
            self._lose(LossDirection.PEER, "firmware does not know this session")
            return
        for p in self._s.outstanding:
            if p.seq == nack.rejected_seq and p.msg_type == nack.rejected_type:
                self._s.outstanding.remove(p)  # the peer consumed its seq without running it
                self.stats.delivery_failures += 1
                self._events.append(
                    DeliveryFailed(p.seq, p.msg_type, f"rejected by peer: {nack.reason.name}")
                )
                return
        self._events.append(MessageReceived(nack, 0))

    def _on_hello(self, hello: Hello, now: float) -> None:
        if self.role is not Role.FIRMWARE or hello.session_id == 0:
            self.stats.ignored += 1  # session 0 is not a session (section 4.1, 1.2)
            return
        if not hello.proto_min <= PROTOCOL_VERSION <= hello.proto_max:
            self.stats.nacks_tx += 1
            self._write(encode_frame(Nack(0, MsgType.HELLO, Reason.UNSUPPORTED_VERSION), seq=0))
            return
        if self.state is LinkState.UP and hello.session_id == self.session_id:
            # our FIRMWARE_INFO was lost: answer again without resetting anything
            self._send_info(now)
            return
        self._reset_session(now)
        self.session_id = hello.session_id
        self.peer_hello = hello
        self.state = LinkState.UP
        self._send_info(now)
        self._send_heartbeat(now)
        self._events.append(HandshakeCompleted(hello=hello))

    def _send_info(self, now: float) -> None:
        assert self.firmware_info is not None
        # 1.2: the extra block only to a host that asked (a 1.0/1.1 decoder rejects bytes
        # after the table, 4.2.1); the CRC is of the table as sent
        extra = self.peer_hello is not None and bool(
            self.peer_hello.hello_flags & HelloFlag.WANTS_CHANNEL_EXTRA)
        self._table_crc = channel_table_crc(self.firmware_info.channels, extra)
        cached = self.peer_hello is not None and self.peer_hello.table_crc == self._table_crc
        info = replace(self.firmware_info, session_id=self.session_id, channel_extra=extra,
                       time_us=self.local_time_us(now), table_crc=self._table_crc,
                       table_omitted=cached and bool(self.firmware_info.channels),
                       watchdog_tripped=bool(self.status & Status.WATCHDOG_TRIPPED))
        self._write(encode_frame(info, seq=0))

    def _on_info(self, info: FirmwareInfo, now: float) -> None:
        if self.role is not Role.HOST or self.state is not LinkState.HANDSHAKING:
            self.stats.ignored += 1
            return
        if info.session_id != self.session_id:
            self.stats.ignored += 1  # an answer to an older HELLO
            return
        if info.table_omitted:
            if self._known_table is None or self._known_table[0] != info.table_crc:
                self.stats.ignored += 1  # cannot happen with a correct peer: ask again in full
                self._known_table = None
                return
            info = replace(info, channels=self._known_table[1], table_omitted=False)
        elif info.channels:
            self._known_table = (info.table_crc, info.channels)
        if info.protocol_version != PROTOCOL_VERSION:
            self.state = LinkState.FAILED
            self._events.append(HandshakeFailed(
                f"firmware speaks protocol version {info.protocol_version}, "
                f"this bridge speaks {PROTOCOL_VERSION}"))
            return
        self._reset_session(now)
        self.peer_info = info
        self._s.offsets.append(info.time_us / 1e6 - now)
        self.state = LinkState.UP
        self._next_hello = float("inf")
        self._send_heartbeat(now)
        self._events.append(HandshakeCompleted(info=info))


__all__ = [
    "CommandResult",
    "DeliveryFailed",
    "HandshakeCompleted",
    "HandshakeFailed",
    "Link",
    "LinkConfig",
    "LinkEvent",
    "LinkLost",
    "LinkState",
    "LinkStats",
    "LossDirection",
    "MessageDelivered",
    "MessageReceived",
    "PeerReset",
    "Role",
    "SampleGap",
    "seq_after",
]
