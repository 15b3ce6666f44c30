"""Protocol 1.2: the channels' noise floors in the per-channel extra block after the
channel table (docs/protocol.md 4.1, 4.2.1).

A 1.0/1.1 host's decoder rejects bytes after the table, so the firmware sends the
block only for a HELLO that set ``HelloFlag.WANTS_CHANNEL_EXTRA`` and says so with
FIRMWARE_INFO's ``INFO_CHANNEL_EXTRA``. Old firmware (no flag) decodes as before,
with every floor 0 (unknown); a host takes the fields it knows from each record and
skips the rest."""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from firmware_bridge.codec import (
    INFO_CHANNEL_EXTRA,
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


def _dec_info(payload: bytes) -> FirmwareInfo:
    info = decode_payload(MsgType.FIRMWARE_INFO, payload)
    assert isinstance(info, FirmwareInfo)
    return info


def _table_1_1(channels: tuple[ChannelInfo, ...]) -> bytes:
    """The 1.1 layout, written out: 10 bytes + name + unit per entry."""
    return b"".join(struct.pack("<BBff", c.channel_id, c.stream_id, c.scale, c.offset)
                    + bytes([len(c.name)]) + c.name.encode() + bytes([len(c.unit)])
                    + c.unit.encode() for c in channels)


def test_the_block_round_trips_when_flagged() -> None:
    wire = encode_payload(replace(INFO, channel_extra=True))
    assert wire[23] & INFO_CHANNEL_EXTRA
    assert wire.endswith(_table_1_1(CHANNELS) + b"\x02" + struct.pack("<3H", 20, 0, 65535))
    back = _dec_info(wire)
    assert back.channel_extra and back.channels == CHANNELS


def test_the_spec_example_decodes() -> None:
    """4.2.1: one channel, extra_size 2, floor 40 counts: the entry is followed by
    ``02 28 00``."""
    one = (ChannelInfo(10, "vibration", "m/s^2", 2.0**-9, 0.0, 0, 40),)
    wire = encode_payload(replace(INFO, channels=one, channel_extra=True))
    assert wire.endswith(b'\x05m/s^2' + bytes.fromhex("022800"))
    assert _dec_info(wire).channels[0].noise_floor_counts == 40


def test_without_the_flag_the_table_has_the_1_1_layout_and_floors_read_0() -> None:
    wire = encode_payload(INFO)
    assert not wire[23] & INFO_CHANNEL_EXTRA
    assert wire.endswith(_table_1_1(CHANNELS)) and encode_channel_table(CHANNELS) == \
        _table_1_1(CHANNELS)
    back = _dec_info(wire)
    assert not back.channel_extra
    assert [c.noise_floor_counts for c in back.channels] == [0, 0, 0]


@pytest.mark.parametrize(("size", "records", "want"), [
    (4, struct.pack("<HHHHHH", 20, 7, 0, 7, 65535, 7), [20, 0, 65535]),  # a later field
    (1, b"\x09\x09\x09", [0, 0, 0]),  # shorter than the floor: unknown
    (0, b"", [0, 0, 0]),
])
def test_a_host_takes_what_it_knows_from_each_record(size: int, records: bytes,
                                                    want: list[int]) -> None:
    wire = encode_payload(INFO)  # the table without a block
    wire = bytearray(wire)
    wire[23] |= INFO_CHANNEL_EXTRA
    back = _dec_info(bytes(wire) + bytes([size]) + records + b"later")  # trailing: ignored
    assert [c.noise_floor_counts for c in back.channels] == want


@pytest.mark.parametrize("name", [v[0] for v in VECTORS if v[0].startswith("FIRMWARE_INFO")])
def test_old_firmware_vectors_decode_with_unknown_floors(name: str) -> None:
    info = decode_body(BODY[name][:-4]).message
    assert isinstance(info, FirmwareInfo) and not info.channel_extra
    assert all(c.noise_floor_counts == 0 for c in info.channels)


@pytest.mark.parametrize(("cut", "match"), [(1, "3 records of 2 bytes need 6, got 5"),
                                            (7, "extra_size missing")])
def test_a_truncated_block_is_a_decode_error_that_says_what_is_missing(cut: int,
                                                                       match: str) -> None:
    wire = encode_payload(replace(INFO, channel_extra=True))
    with pytest.raises(DecodeError, match=match):
        _dec_info(wire[:-cut])


def test_table_crc_covers_the_table_as_sent() -> None:
    assert channel_table_crc(CHANNELS, True) != channel_table_crc(CHANNELS, False)
    no_floors = tuple(replace(c, noise_floor_counts=0) for c in CHANNELS)
    assert channel_table_crc(CHANNELS, False) == channel_table_crc(no_floors, False)
    assert channel_table_crc(CHANNELS, True) != channel_table_crc(no_floors, True)


def test_hello_flags_are_the_u16_at_offset_2() -> None:
    hello = Hello(session_id=9, hello_flags=HelloFlag.WANTS_CHANNEL_EXTRA)
    assert encode_payload(hello)[2:4] == b"\x01\x00"
    (got,) = FrameDecoder().feed(encode_frame(hello, seq=0))
    assert got.message == hello


def test_a_new_host_gets_the_floors_and_caches_them() -> None:
    p = Pair(info=INFO)
    p.connect()
    assert p.fw.peer_hello is not None
    assert p.fw.peer_hello.hello_flags & HelloFlag.WANTS_CHANNEL_EXTRA
    assert p.host.peer_info is not None and p.host.peer_info.channels == CHANNELS
    p.host.connect(p.now, session_id=0xBEEF)  # re-handshake: the cached table, floors kept
    p.pump()
    assert p.host.state is LinkState.UP and p.host.peer_info.channels == CHANNELS


def test_an_old_host_gets_the_1_1_table() -> None:
    fw = Link(Role.FIRMWARE, firmware_info=INFO)
    fw.receive_data(encode_frame(Hello(session_id=0x77), seq=0), 0.0)  # hello_flags 0
    assert fw.state is LinkState.UP
    frames = FrameDecoder().feed(fw.data_to_send())
    info = next(f.message for f in frames if isinstance(f.message, FirmwareInfo))
    assert not info.channel_extra
    assert info.table_crc == channel_table_crc(CHANNELS, False)
    assert encode_payload(info).endswith(_table_1_1(CHANNELS))  # nothing after the table
