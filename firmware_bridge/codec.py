"""Encode and decode frames of the rig wire protocol (docs/protocol.md sections 2-4).

Pure functions, no I/O. ``encode_frame(msg, seq=..., ack=..., flags=...)``
gives the bytes to put on the wire (COBS + delimiter included);
``FrameDecoder`` turns a byte stream into ``Frame`` objects and counts
everything it has to throw away. ``decode_payload`` raises ``DecodeError``
(with the message type and byte offset) on a malformed payload; the decoder
and the link never let that escape: they count it and move on.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from . import framing
from .errors import DecodeError, EncodeError
from .messages import (
    MESSAGE_TYPES,
    PROTOCOL_VERSION,
    RELIABLE_TYPES,
    Ack,
    ChannelInfo,
    Command,
    CommandCode,
    CommandResult,
    EStop,
    Event,
    FirmwareInfo,
    FirmwareSeverity,
    Flags,
    Heartbeat,
    Hello,
    Message,
    MsgType,
    Nack,
    Param,
    ParamGet,
    ParamSet,
    ParamStatus,
    ParamValue,
    Reason,
    ResetNotice,
    ResetReason,
    ResultStatus,
    SampleBatch,
    Setpoints,
)

HEADER = struct.Struct("<BBBBII")
assert HEADER.size == framing.HEADER_SIZE
MAX_PAYLOAD = framing.MAX_PAYLOAD
U32 = 0xFFFFFFFF

_HELLO = struct.Struct("<BBHIHHI")
_INFO = struct.Struct("<BBBBIIIIHBBQI")
_CHANNEL = struct.Struct("<BBff")
_NOISE_FLOOR = struct.Struct("<H")  # 1.2: a channel's record in the extra block (4.2.1)
CHANNEL_EXTRA_SIZE = _NOISE_FLOOR.size  # extra_size the 1.2 block is sent with
_HEARTBEAT = struct.Struct("<QII")
_NACK = struct.Struct("<IBBH")
_BATCH = struct.Struct("<BBHIQI")
_SETPOINTS = struct.Struct("<QffI")
_COMMAND = struct.Struct("<QHHffff")
_RESULT = struct.Struct("<IHBBH")
_ESTOP = struct.Struct("<BBH")
_EVENT = struct.Struct("<QHBBf")
_RESET = struct.Struct("<IBBH")
_PARAM_GET = struct.Struct("<HH")
_PARAM_SET = struct.Struct("<HHf")
_PARAM_VALUE = struct.Struct("<IHBBf")
_I16 = np.dtype("<i2")


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame: header fields plus the typed message."""

    msg_type: MsgType
    flags: int
    seq: int
    ack: int
    message: Message

    @property
    def reliable(self) -> bool:
        return bool(self.flags & _RELIABLE)


# --- strings ------------------------------------------------------------------


def _pack_str(text: str, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > 255:
        raise EncodeError(f"{what} is {len(raw)} bytes of UTF-8, at most 255 allowed")
    return bytes((len(raw),)) + raw


def _unpack_str(buf: bytes, off: int, t: MsgType, what: str) -> tuple[str, int]:
    if off >= len(buf):
        raise DecodeError(f"{what}: length byte missing", msg_type=t, offset=off,
                          nack=Reason.BAD_LENGTH)
    n = buf[off]
    end = off + 1 + n
    if end > len(buf):
        raise DecodeError(
            f"{what}: needs {n} bytes, only {len(buf) - off - 1} left", msg_type=t, offset=off,
            nack=Reason.BAD_LENGTH
        )
    try:
        return buf[off + 1 : end].decode("utf-8"), end
    except UnicodeDecodeError as err:
        raise DecodeError(f"{what}: invalid UTF-8", msg_type=t, offset=off + 1) from err


def _fixed(buf: bytes, st: struct.Struct, t: MsgType, exact: bool = True) -> tuple:
    if len(buf) < st.size or (exact and len(buf) != st.size):
        raise DecodeError(
            f"payload length: expected {st.size} bytes, got {len(buf)}", msg_type=t,
            nack=Reason.BAD_LENGTH,
        )
    return st.unpack_from(buf, 0)


def _enum(enum: type, value: int, t: MsgType, what: str):
    try:
        return enum(value)
    except ValueError as err:
        raise DecodeError(f"unknown {what} {value}", msg_type=t) from err


def _end(buf: bytes, off: int, t: MsgType) -> None:
    if off != len(buf):
        raise DecodeError(
            f"payload length: {len(buf) - off} unexpected trailing bytes", msg_type=t, offset=off,
            nack=Reason.BAD_LENGTH
        )


# --- payload encoders ------------------------------------------------------------


def _enc_hello(m: Hello) -> bytes:
    return _HELLO.pack(
        m.proto_min, m.proto_max, m.hello_flags, m.session_id, m.heartbeat_ms, m.watchdog_ms,
        m.table_crc
    )


INFO_TABLE_OMITTED = 0x01
INFO_WATCHDOG_TRIPPED = 0x02  # protocol 1.1: section 4.2
INFO_CHANNEL_EXTRA = 0x04  # protocol 1.2: the per-channel extra block follows (4.2.1)


def encode_channel_table(channels: tuple[ChannelInfo, ...], extra: bool = False) -> bytes:
    """The channel descriptors as sent in FIRMWARE_INFO (section 4.2); with *extra*
    (1.2, for a host whose HELLO set WANTS_CHANNEL_EXTRA) followed by the per-channel
    block of 4.2.1: ``u8 extra_size`` (2), then each channel's ``u16 noise_floor_counts``
    in the order of the entries."""
    if len(channels) > 255:
        raise EncodeError(f"at most 255 channels, got {len(channels)}")
    parts = []
    for ch in channels:
        parts.append(_CHANNEL.pack(ch.channel_id, ch.stream_id, ch.scale, ch.offset))
        parts.append(_pack_str(ch.name, "channel name"))
        parts.append(_pack_str(ch.unit, "channel unit"))
    if extra:
        parts.append(bytes([CHANNEL_EXTRA_SIZE]))
        for ch in channels:
            if not 0 <= ch.noise_floor_counts <= 0xFFFF:
                raise EncodeError(f"channel {ch.name!r} noise_floor_counts: expected 0..65535, "
                                  f"got {ch.noise_floor_counts}")
            parts.append(_NOISE_FLOOR.pack(ch.noise_floor_counts))
    return b"".join(parts)


def channel_table_crc(channels: tuple[ChannelInfo, ...], extra: bool = False) -> int:
    """CRC-32C of the table exactly as it goes on the wire: with the extra block when it
    is sent (4.2.1)."""
    return framing.crc32c(encode_channel_table(channels, extra))


def _enc_info(m: FirmwareInfo) -> bytes:
    extra = m.channel_extra and not m.table_omitted  # an omitted table has no block
    table = b"" if m.table_omitted else encode_channel_table(m.channels, extra)
    header = _INFO.pack(
        m.protocol_version,
        *m.version,
        m.session_id,
        m.boot_id,
        m.capabilities,
        m.sample_rate_hz,
        m.batch_samples,
        0 if m.table_omitted else len(m.channels),
        (INFO_TABLE_OMITTED if m.table_omitted else 0)
        | (INFO_WATCHDOG_TRIPPED if m.watchdog_tripped else 0)
        | (INFO_CHANNEL_EXTRA if extra else 0),
        m.time_us,
        m.table_crc,
    )
    return header + _pack_str(m.firmware_id, "firmware_id") + table


def _enc_batch(m: SampleBatch) -> bytes:
    counts = m.counts
    if counts.ndim != 2:
        raise EncodeError(f"counts must be 2-D (samples x channels), got {counts.ndim}-D")
    n, ch = counts.shape
    if not 1 <= ch <= 255 or n > 0xFFFF:
        raise EncodeError(f"counts shape {counts.shape} out of range (channels 1..255)")
    header = _BATCH.pack(m.stream_id, ch, n, m.stream_seq, m.t0_us, m.period_ns)
    return header + np.ascontiguousarray(counts, dtype=_I16).tobytes()


_ENCODERS: dict[MsgType, Callable[[Message], bytes]] = {
    MsgType.HELLO: _enc_hello,
    MsgType.FIRMWARE_INFO: _enc_info,
    MsgType.HEARTBEAT: lambda m: _HEARTBEAT.pack(m.time_us, m.status, m.echo_seq),
    MsgType.ACK: lambda m: b"",
    MsgType.NACK: lambda m: _NACK.pack(m.rejected_seq, m.rejected_type, m.reason, 0),
    MsgType.SAMPLE_BATCH: _enc_batch,
    MsgType.SETPOINTS: lambda m: _SETPOINTS.pack(
        m.deadline_us, m.drum_speed, m.cut_depth, 1 if m.enable else 0
    ),
    MsgType.COMMAND: lambda m: _COMMAND.pack(m.deadline_us, m.code, 0, *m.args),
    MsgType.COMMAND_RESULT: lambda m: _RESULT.pack(m.command_seq, m.code, m.status, 0, m.reason)
    + _pack_str(m.detail, "detail"),
    MsgType.ESTOP: lambda m: _ESTOP.pack(m.source, 0, 0) + _pack_str(m.reason, "reason"),
    MsgType.EVENT: lambda m: _EVENT.pack(m.time_us, m.code, m.severity, 0, m.value)
    + _pack_str(m.text, "text"),
    MsgType.RESET_NOTICE: lambda m: _RESET.pack(m.boot_id, m.reason, 0, 0),
    MsgType.PARAM_GET: lambda m: _PARAM_GET.pack(m.param_id, 0),
    MsgType.PARAM_SET: lambda m: _PARAM_SET.pack(m.param_id, 0, m.value),
    MsgType.PARAM_VALUE: lambda m: _PARAM_VALUE.pack(
        m.request_seq, m.param_id, m.status, 0, m.value
    ),
}


def message_type(msg: Message) -> MsgType:
    try:
        return MESSAGE_TYPES[type(msg)]
    except KeyError:
        raise EncodeError(f"not a protocol message: {type(msg).__name__}") from None


def encode_payload(msg: Message) -> bytes:
    """Payload bytes of *msg* (no header, no CRC). Raises ``EncodeError``."""
    t = message_type(msg)
    try:
        payload = _ENCODERS[t](msg)
    except struct.error as err:
        raise EncodeError(f"{type(msg).__name__}: field out of range: {err}") from err
    if len(payload) > MAX_PAYLOAD:
        raise EncodeError(
            f"{type(msg).__name__} payload is {len(payload)} bytes, at most {MAX_PAYLOAD} allowed"
        )
    return payload


def encode_frame(msg: Message, *, seq: int, ack: int = 0, flags: int = 0) -> bytes:
    """Complete wire bytes for *msg*: COBS(header | payload | CRC) + 0x00."""
    return frame_payload(message_type(msg), encode_payload(msg), seq=seq, ack=ack, flags=flags)


def frame_payload(t: MsgType, payload: bytes, *, seq: int, ack: int = 0, flags: int = 0) -> bytes:
    """Complete wire bytes for an already encoded payload of type *t* (the link encodes a
    reliable message's payload once and frames it again for each retransmission)."""
    if t in RELIABLE_TYPES:
        flags |= _RELIABLE
    if not (0 <= seq <= U32 and 0 <= ack <= U32):
        raise EncodeError(f"seq/ack must fit in 32 bits, got seq={seq} ack={ack}")
    body = HEADER.pack(PROTOCOL_VERSION, t, flags & 0xFF, 0, seq, ack) + payload
    return framing.encode_frame(body)


# --- payload decoders ------------------------------------------------------------


def _dec_hello(b: bytes) -> Hello:
    pmin, pmax, flags, sid, hb, wd, crc = _fixed(b, _HELLO, MsgType.HELLO)
    return Hello(session_id=sid, proto_min=pmin, proto_max=pmax, heartbeat_ms=hb, watchdog_ms=wd,
                 table_crc=crc, hello_flags=flags)


def _dec_info(b: bytes) -> FirmwareInfo:
    t = MsgType.FIRMWARE_INFO
    pv, ma, mi, pa, sid, boot, caps, rate, batch, nch, info_flags, now_us, crc = _fixed(
        b, _INFO, t, exact=False
    )
    off = _INFO.size
    fw_id, off = _unpack_str(b, off, t, "firmware_id")
    channels = []
    for i in range(nch):
        channel, off = _dec_channel(b, off, i)
        channels.append(channel)
    extra = bool(info_flags & INFO_CHANNEL_EXTRA) and nch > 0
    if extra:  # 4.2.1; bytes after the block are ignored (later revisions)
        channels = _dec_channel_extra(b, off, channels)
    else:
        _end(b, off, t)
    return FirmwareInfo(
        protocol_version=pv,
        firmware_id=fw_id,
        version=(ma, mi, pa),
        session_id=sid,
        boot_id=boot,
        capabilities=caps,
        sample_rate_hz=rate,
        batch_samples=batch,
        channels=tuple(channels),
        time_us=now_us,
        table_crc=crc,
        table_omitted=bool(info_flags & INFO_TABLE_OMITTED),
        watchdog_tripped=bool(info_flags & INFO_WATCHDOG_TRIPPED),
        channel_extra=extra,
    )


def _dec_channel(b: bytes, off: int, i: int) -> tuple[ChannelInfo, int]:
    """Channel entry *i* at *off* (section 4.2)."""
    t = MsgType.FIRMWARE_INFO
    if off + _CHANNEL.size > len(b):
        raise DecodeError(f"channel {i}: truncated", msg_type=t, offset=off,
                          nack=Reason.BAD_LENGTH)
    cid, stream, scale, offset = _CHANNEL.unpack_from(b, off)
    off += _CHANNEL.size
    name, off = _unpack_str(b, off, t, f"channel {i} name")
    unit, off = _unpack_str(b, off, t, f"channel {i} unit")
    return ChannelInfo(cid, name, unit, scale, offset, stream), off


def _dec_channel_extra(b: bytes, off: int, channels: list[ChannelInfo]) -> list[ChannelInfo]:
    """The per-channel block after the table (4.2.1): ``u8 extra_size``, then one record
    of that size per channel; the host takes the fields it knows from each record's
    start (``noise_floor_counts``: 0 when the record is shorter) and skips the rest."""
    t = MsgType.FIRMWARE_INFO
    if off >= len(b):
        raise DecodeError("channel extra block: extra_size missing", msg_type=t, offset=off,
                          nack=Reason.BAD_LENGTH)
    size = b[off]
    off += 1
    if off + size * len(channels) > len(b):
        raise DecodeError(f"channel extra block: {len(channels)} records of {size} bytes need "
                          f"{size * len(channels)}, got {len(b) - off}", msg_type=t,
                          offset=off, nack=Reason.BAD_LENGTH)
    if size < _NOISE_FLOOR.size:
        return channels
    return [replace(ch, noise_floor_counts=_NOISE_FLOOR.unpack_from(b, off + i * size)[0])
            for i, ch in enumerate(channels)]


def _dec_batch(b: bytes) -> SampleBatch:
    t = MsgType.SAMPLE_BATCH
    sid, nch, n, sseq, t0, period = _fixed(b, _BATCH, t, exact=False)
    want = _BATCH.size + 2 * n * nch
    if nch == 0:
        raise DecodeError("zero channels", msg_type=t, offset=1)
    if len(b) != want:
        raise DecodeError(
            f"payload length: {n} samples x {nch} channels needs {want} bytes, got {len(b)}",
            msg_type=t, nack=Reason.BAD_LENGTH,
        )
    counts = np.frombuffer(b, dtype=_I16, offset=_BATCH.size).reshape(n, nch)
    return SampleBatch(sid, sseq, t0, period, counts)


def _dec_nack(b: bytes) -> Nack:
    seq, rtype, reason, _r = _fixed(b, _NACK, MsgType.NACK)
    return Nack(seq, rtype, _enum(Reason, reason, MsgType.NACK, "reason"))


def _dec_setpoints(b: bytes) -> Setpoints:
    dl, speed, depth, fl = _fixed(b, _SETPOINTS, MsgType.SETPOINTS)
    return Setpoints(dl, speed, depth, bool(fl & 1))


def _dec_command(b: bytes) -> Command:
    dl, code, _r, a0, a1, a2, a3 = _fixed(b, _COMMAND, MsgType.COMMAND)
    if code >= 0x100:  # firmware-specific, not one this end implements (section 4.8, 1.2)
        raise DecodeError(f"command code 0x{code:04x} is not implemented", msg_type=MsgType.COMMAND,
                          offset=8, nack=Reason.UNKNOWN_COMMAND)
    return Command(_enum(CommandCode, code, MsgType.COMMAND, "command code"), dl, (a0, a1, a2, a3))


def _dec_result(b: bytes) -> CommandResult:
    t = MsgType.COMMAND_RESULT
    seq, code, status, _r, reason = _fixed(b, _RESULT, t, exact=False)
    detail, off = _unpack_str(b, _RESULT.size, t, "detail")
    _end(b, off, t)
    return CommandResult(
        seq, code, _enum(ResultStatus, status, t, "status"), _enum(Reason, reason, t, "reason"),
        detail,
    )


def _dec_estop(b: bytes) -> EStop:
    t = MsgType.ESTOP
    source, _r1, _r2 = _fixed(b, _ESTOP, t, exact=False)
    reason, off = _unpack_str(b, _ESTOP.size, t, "reason")
    _end(b, off, t)
    return EStop(source, reason)


def _dec_event(b: bytes) -> Event:
    t = MsgType.EVENT
    time_us, code, sev, _r, value = _fixed(b, _EVENT, t, exact=False)
    text, off = _unpack_str(b, _EVENT.size, t, "text")
    _end(b, off, t)
    return Event(time_us, code, _enum(FirmwareSeverity, sev, t, "severity"), value, text)


def _dec_reset(b: bytes) -> ResetNotice:
    boot, reason, _r1, _r2 = _fixed(b, _RESET, MsgType.RESET_NOTICE)
    return ResetNotice(boot, _enum(ResetReason, reason, MsgType.RESET_NOTICE, "reset reason"))


def _dec_param_value(b: bytes) -> ParamValue:
    t = MsgType.PARAM_VALUE
    seq, pid, status, _r, value = _fixed(b, _PARAM_VALUE, t)
    return ParamValue(seq, pid, _enum(ParamStatus, status, t, "param status"), value)


def _dec_ack(b: bytes) -> Ack:
    if b:
        raise DecodeError(f"payload length: expected 0 bytes, got {len(b)}", msg_type=MsgType.ACK,
                          nack=Reason.BAD_LENGTH)
    return Ack()


_DECODERS: dict[MsgType, Callable[[bytes], Message]] = {
    MsgType.HELLO: _dec_hello,
    MsgType.FIRMWARE_INFO: _dec_info,
    MsgType.HEARTBEAT: lambda b: Heartbeat(*_fixed(b, _HEARTBEAT, MsgType.HEARTBEAT)),
    MsgType.ACK: _dec_ack,
    MsgType.NACK: _dec_nack,
    MsgType.SAMPLE_BATCH: _dec_batch,
    MsgType.SETPOINTS: _dec_setpoints,
    MsgType.COMMAND: _dec_command,
    MsgType.COMMAND_RESULT: _dec_result,
    MsgType.ESTOP: _dec_estop,
    MsgType.EVENT: _dec_event,
    MsgType.RESET_NOTICE: _dec_reset,
    MsgType.PARAM_GET: lambda b: ParamGet(_fixed(b, _PARAM_GET, MsgType.PARAM_GET)[0]),
    MsgType.PARAM_SET: lambda b: ParamSet(*_fixed(b, _PARAM_SET, MsgType.PARAM_SET)[::2]),
    MsgType.PARAM_VALUE: _dec_param_value,
}

# The hot path looks types and flags up by plain int: an IntEnum/IntFlag call or
# operation costs a Python-level function call per frame.
_MSG_TYPE_BY_INT: dict[int, MsgType] = {int(t): t for t in MsgType}
_DECODER_BY_INT: dict[int, Callable[[bytes], Message]] = {int(t): f for t, f in _DECODERS.items()}
_RELIABLE = int(Flags.RELIABLE)


def decode_payload(msg_type: int, payload: bytes) -> Message:
    """Typed message from a payload. Raises ``DecodeError`` naming the problem."""
    return _decoder(msg_type)(payload)


def _decoder(msg_type: int) -> Callable[[bytes], Message]:
    decoder = _DECODER_BY_INT.get(msg_type)
    if decoder is None:
        raise DecodeError(f"unknown message type 0x{msg_type:02x}", nack=Reason.UNKNOWN_TYPE)
    return decoder


def decode_body(body: bytes) -> Frame:
    """Decode one CRC-checked frame body (header + payload). Raises ``DecodeError``."""
    if len(body) < HEADER.size:
        raise DecodeError(f"frame body is {len(body)} bytes, header needs {HEADER.size}",
                          nack=Reason.BAD_LENGTH)
    version, t, flags, _reserved, seq, ack = HEADER.unpack_from(body, 0)
    if version != PROTOCOL_VERSION:
        raise DecodeError(
            f"unsupported protocol version {version}, expected {PROTOCOL_VERSION}", offset=0,
            nack=Reason.UNSUPPORTED_VERSION,
        )
    if len(body) - HEADER.size > MAX_PAYLOAD:
        raise DecodeError(f"payload of {len(body) - HEADER.size} bytes exceeds {MAX_PAYLOAD}",
                          nack=Reason.BAD_LENGTH)
    msg = _decoder(t)(body[HEADER.size :])
    return Frame(_MSG_TYPE_BY_INT[t], flags, seq, ack, msg)


class FrameDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the list of valid ``Frame`` objects.

    Nothing raises on wire input. Counters: ``crc_errors``, ``framing_errors``
    (bad COBS, too short, oversize), ``decode_errors`` (valid CRC but
    malformed header or payload; the last one kept in ``last_error``) and
    ``rejected`` (a list of (header-or-None, DecodeError) pairs the caller may
    drain to answer with NACKs).
    """

    def __init__(self) -> None:
        self._splitter = framing.FrameSplitter()
        self.decode_errors = 0
        self.version_errors = 0
        self.unknown_type_errors = 0
        self.last_error: DecodeError | None = None
        self.rejected: list[tuple[tuple[int, int, int] | None, DecodeError]] = []

    @property
    def crc_errors(self) -> int:
        return self._splitter.crc_errors

    @property
    def framing_errors(self) -> int:
        return self._splitter.framing_errors

    @property
    def frames(self) -> int:
        return self._splitter.frames

    @property
    def bytes_received(self) -> int:
        return self._splitter.bytes_received

    def reset(self) -> None:
        self._splitter.reset()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        out = []
        for body in self._splitter.feed(data):
            try:
                out.append(decode_body(body))
            except DecodeError as err:
                self.decode_errors += 1
                self.last_error = err
                header = None
                if len(body) >= HEADER.size:
                    _v, t, flags, _r, seq, _ack = HEADER.unpack_from(body, 0)
                    header = (t, flags, seq)
                if err.nack == Reason.UNSUPPORTED_VERSION:
                    self.version_errors += 1
                elif err.nack == Reason.UNKNOWN_TYPE:
                    self.unknown_type_errors += 1
                if len(self.rejected) < 64:
                    self.rejected.append((header, err))
        return out


__all__ = [
    "HEADER",
    "Frame",
    "FrameDecoder",
    "Param",
    "decode_body",
    "decode_payload",
    "encode_frame",
    "encode_payload",
    "frame_payload",
    "message_type",
]
