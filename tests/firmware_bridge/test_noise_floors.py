"""Protocol 1.2: the channel table's optional noise floors (docs/protocol.md 4.1, 4.2).

A channel entry has no length of its own, so a 1.0/1.1 host could not skip a
field appended to it: the firmware appends ``noise_floor_counts`` only for a
host whose HELLO set ``HelloFlag.NOISE_FLOORS`` and says so with the
FIRMWARE_INFO flag ``INFO_NOISE_FLOORS``. Old firmware (no flag) decodes as
before, with every floor 0 (unknown)."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from firmware_bridge.codec import (
    INFO_NOISE_FLOORS,
    DecodeError,
    FrameDecoder,
    channel_table_crc,
    decode_body,
    decode_payload,
    encode_channel_table,
    encode_frame,
    encode_payload,
)
from firmware_bridge.link import Link, LinkState, Role
from firmware_bridge.messages import ChannelInfo, FirmwareInfo, Hello, HelloFlag, MsgType

from .test_link import Pair
from .test_vectors import BODY
from .vectors import VECTORS

CHANNELS = (ChannelInfo(0, "drum_speed", "rad/s", 2.0**-11, 0.0, 0, 20),
            ChannelInfo(1, "arm_position", "m", 2.0**-16, 0.0, 0, 0),
            ChannelInfo(2, "x", "m", 2.0**-7, -100.0, 1, 65535))
INFO = FirmwareInfo(1, "fw-1.2", (1, 2, 0), 0, 5, 0, 1000, 5, CHANNELS)


def _enc_info(info: FirmwareInfo) -> bytes:
    return encode_payload(info)


def _dec_info(payload: bytes) -> FirmwareInfo:
    info = decode_payload(MsgType.FIRMWARE_INFO, payload)
    assert isinstance(info, FirmwareInfo)
    return info


def test_noise_floors_round_trip_when_flagged() -> None:
    wire = _enc_info(replace(INFO, noise_floors=True))
    assert wire[23] & INFO_NOISE_FLOORS
    back = _dec_info(wire)
    assert back.noise_floors
    assert [c.noise_floor_counts for c in back.channels] == [20, 0, 65535]
    assert back.channels == CHANNELS


def test_without_the_flag_the_table_has_the_1_1_layout_and_floors_read_0() -> None:
    wire = _enc_info(INFO)
    assert not wire[23] & INFO_NOISE_FLOORS
    # the 1.1 layout exactly: 10 bytes + name + unit per entry, nothing after the last
    table = b"".join(bytes([c.channel_id, c.stream_id]) + _f32(c.scale) + _f32(c.offset)
                     + bytes([len(c.name)]) + c.name.encode() + bytes([len(c.unit)])
                     + c.unit.encode() for c in CHANNELS)
    assert wire.endswith(table)
    assert encode_channel_table(CHANNELS) == table
    back = _dec_info(wire)
    assert not back.noise_floors
    assert [c.noise_floor_counts for c in back.channels] == [0, 0, 0]


def _f32(x: float) -> bytes:
    return struct.pack("<f", x)


@pytest.mark.parametrize("name", [v[0] for v in VECTORS if v[0].startswith("FIRMWARE_INFO")])
def test_old_firmware_vectors_decode_with_unknown_floors(name: str) -> None:
    info = decode_body(BODY[name][:-4]).message
    assert isinstance(info, FirmwareInfo) and not info.noise_floors
    assert all(c.noise_floor_counts == 0 for c in info.channels)


def test_truncated_noise_floor_is_a_decode_error_naming_the_channel() -> None:
    wire = _enc_info(replace(INFO, noise_floors=True))
    with pytest.raises(DecodeError, match="channel 2 noise_floor_counts: truncated"):
        _dec_info(wire[:-1])


def test_table_crc_covers_the_table_as_sent() -> None:
    assert channel_table_crc(CHANNELS, True) != channel_table_crc(CHANNELS, False)
    no_floors = tuple(replace(c, noise_floor_counts=0) for c in CHANNELS)
    assert channel_table_crc(CHANNELS, False) == channel_table_crc(no_floors, False)


def test_hello_flags_round_trip_in_the_reserved_u16() -> None:
    hello = Hello(session_id=9, flags=HelloFlag.NOISE_FLOORS)
    payload = encode_payload(hello)
    assert payload[2:4] == b"\x01\x00"
    (got,) = FrameDecoder().feed(encode_frame(hello, seq=0))
    assert got.message == hello


def test_a_new_host_gets_the_floors_and_caches_them() -> None:
    p = Pair(info=INFO)
    p.connect()
    assert p.fw.peer_hello is not None and p.fw.peer_hello.flags & HelloFlag.NOISE_FLOORS
    assert p.host.peer_info is not None and p.host.peer_info.channels == CHANNELS
    p.host.connect(p.now, session_id=0xBEEF)  # re-handshake: the cached table, floors kept
    p.pump()
    assert p.host.state is LinkState.UP and p.host.peer_info.channels == CHANNELS


def test_an_old_host_gets_the_1_1_table() -> None:
    fw = Link(Role.FIRMWARE, firmware_info=INFO)
    old_hello = Hello(session_id=0x77)  # flags 0: what a 1.0/1.1 host sends
    fw.receive_data(encode_frame(old_hello, seq=0), 0.0)
    assert fw.state is LinkState.UP
    frames = FrameDecoder().feed(fw.data_to_send())
    info = next(f.message for f in frames if isinstance(f.message, FirmwareInfo))
    assert not info.noise_floors
    assert info.table_crc == channel_table_crc(CHANNELS, False)
    assert [c.noise_floor_counts for c in info.channels] == [0, 0, 0]
    assert encode_payload(info).endswith(encode_channel_table(CHANNELS))  # the 1.1 bytes
