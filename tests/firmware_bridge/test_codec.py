"""Round trips over every message type, fed whole, byte by byte and with garbage."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.codec import (
    FrameDecoder,
    decode_payload,
    encode_frame,
    encode_payload,
    message_type,
)
from firmware_bridge.errors import DecodeError, EncodeError
from firmware_bridge.messages import (
    ChannelInfo,
    Command,
    CommandCode,
    CommandResult,
    EStop,
    Event,
    FirmwareInfo,
    FirmwareSeverity,
    Heartbeat,
    Hello,
    MsgType,
    Nack,
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

from .vectors import VECTORS

u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
f32 = st.floats(width=32, allow_nan=False)
text = st.text(max_size=40).filter(lambda s: len(s.encode()) <= 255)

messages = st.one_of(
    st.builds(Hello, session_id=u32, proto_min=u8, proto_max=u8, heartbeat_ms=u16,
              watchdog_ms=u16, table_crc=u32),
    st.builds(
        FirmwareInfo, protocol_version=st.just(1), firmware_id=text,
        version=st.tuples(u8, u8, u8), session_id=u32, boot_id=u32, capabilities=u32,
        sample_rate_hz=u32, batch_samples=u16,
        channels=st.lists(st.builds(ChannelInfo, channel_id=u8, name=text, unit=text, scale=f32,
                                    offset=f32, stream_id=u8), max_size=16).map(tuple),
        time_us=u64, table_crc=u32),
    st.builds(Heartbeat, time_us=u64, status=u32, echo_seq=u32),
    st.builds(Nack, rejected_seq=u32, rejected_type=u8, reason=st.sampled_from(Reason)),
    st.builds(
        SampleBatch, stream_id=u8, stream_seq=u32, t0_us=u64, period_ns=u32,
        counts=st.tuples(st.integers(0, 60), st.integers(1, 16)).flatmap(
            lambda shape: st.lists(st.integers(-32768, 32767), min_size=shape[0] * shape[1],
                                   max_size=shape[0] * shape[1]).map(
                lambda v, s=shape: np.array(v, dtype=np.int16).reshape(s)))),
    st.builds(Setpoints, deadline_us=u64, drum_speed=f32, cut_depth=f32, enable=st.booleans()),
    st.builds(Command, code=st.sampled_from(CommandCode), deadline_us=u64,
              args=st.tuples(f32, f32, f32, f32)),
    st.builds(CommandResult, command_seq=u32, code=u16, status=st.sampled_from(ResultStatus),
              reason=st.sampled_from(Reason), detail=text),
    st.builds(EStop, source=u8, reason=text),
    st.builds(Event, time_us=u64, code=u16, severity=st.sampled_from(FirmwareSeverity), value=f32,
              text=text),
    st.builds(ResetNotice, boot_id=u32, reason=st.sampled_from(ResetReason)),
    st.builds(ParamGet, param_id=u16),
    st.builds(ParamSet, param_id=u16, value=f32),
    st.builds(ParamValue, request_seq=u32, param_id=u16, status=st.sampled_from(ParamStatus),
              value=f32),
)


@given(msgs=st.lists(messages, min_size=1, max_size=6), garbage=st.binary(max_size=40))
@settings(max_examples=150, deadline=None)
def test_round_trip_whole_bytewise_and_with_garbage(msgs, garbage) -> None:
    wire = b"".join(encode_frame(m, seq=i) for i, m in enumerate(msgs))
    whole = [f.message for f in FrameDecoder().feed(wire)]
    assert whole == msgs
    dec = FrameDecoder()
    bytewise = []
    for i in range(len(wire)):
        bytewise += [f.message for f in dec.feed(wire[i : i + 1])]
    assert bytewise == msgs
    dec = FrameDecoder()
    # garbage before (terminated by a delimiter) and after never leaks out
    out = dec.feed(garbage + b"\x00" + wire + garbage)
    assert [f.message for f in out] == msgs


@given(noise=st.binary(max_size=3000))
@settings(max_examples=200)
def test_decoder_never_raises_on_noise(noise) -> None:
    dec = FrameDecoder()
    dec.feed(noise)
    dec.feed(b"\x00")
    assert dec.frames >= 0


@pytest.mark.parametrize(("name", "message", "seq", "ack", "flags"), VECTORS,
                         ids=[v[0] for v in VECTORS])
def test_truncated_and_extended_payloads_are_rejected(name, message, seq, ack, flags) -> None:
    payload = encode_payload(message)
    t = message_type(message)
    assert decode_payload(t, payload) == message
    if payload:
        with pytest.raises(DecodeError) as err:
            decode_payload(t, payload[:-1])
        assert f"0x{t:02x}" in str(err.value)
    with pytest.raises(DecodeError, match="length|trailing|needs"):
        decode_payload(t, payload + b"\x01")


def test_unknown_type_and_wrong_version_are_named() -> None:
    with pytest.raises(DecodeError, match="unknown message type 0x7f"):
        decode_payload(0x7F, b"")
    from firmware_bridge.codec import HEADER, decode_body

    with pytest.raises(DecodeError, match="unsupported protocol version 9, expected 1"):
        decode_body(HEADER.pack(9, 3, 0, 0, 0, 0) + bytes(16))


def test_decoder_counts_valid_crc_with_bad_payload() -> None:
    from firmware_bridge import framing
    from firmware_bridge.codec import HEADER

    dec = FrameDecoder()
    bad = framing.encode_frame(HEADER.pack(1, MsgType.HEARTBEAT, 0, 0, 5, 0) + b"\x01\x02")
    unknown = framing.encode_frame(HEADER.pack(1, 0x7E, 0, 0, 6, 0))
    version = framing.encode_frame(HEADER.pack(2, MsgType.ACK, 0, 0, 7, 0))
    good = encode_frame(Heartbeat(1, 2, 3), seq=8)
    frames = dec.feed(bad + unknown + version + good)
    assert [f.message for f in frames] == [Heartbeat(1, 2, 3)]
    assert dec.decode_errors == 3
    assert dec.unknown_type_errors == 1 and dec.version_errors == 1
    assert [h for h, _ in dec.rejected] == [(MsgType.HEARTBEAT, 0, 5), (0x7E, 0, 6),
                                            (MsgType.ACK, 0, 7)]


def test_bad_utf8_is_a_decode_error_naming_the_field() -> None:
    payload = struct.pack("<QHBBf", 1, 2, 0, 0, 1.0) + b"\x02\xff\xfe"
    with pytest.raises(DecodeError, match="text: invalid UTF-8"):
        decode_payload(MsgType.EVENT, payload)


def test_encode_errors_name_the_problem() -> None:
    with pytest.raises(EncodeError, match="at most 255"):
        encode_payload(EStop(0, "x" * 300))
    with pytest.raises(EncodeError, match="at most 4096"):
        encode_payload(SampleBatch(0, 0, 0, 0, np.zeros((200, 12), np.int16)))
    with pytest.raises(EncodeError, match="field out of range"):
        encode_payload(ParamGet(70000))
    with pytest.raises(EncodeError, match="not a protocol message"):
        encode_frame("hello", seq=0)  # type: ignore[arg-type]
