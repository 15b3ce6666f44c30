"""The hex vectors in docs/protocol.md section 9, byte for byte, both directions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_bridge.codec import FrameDecoder, decode_body, encode_frame
from firmware_bridge.framing import cobs_decode

from .vectors import VECTORS

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _blocks(kind: str) -> dict[str, bytes]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(rf"```text {kind}=(\w+)\n(.*?)```", text, flags=re.S)
    return {name: bytes.fromhex(hexdump.replace("\n", " ")) for name, hexdump in found}


WIRE = _blocks("wire")
BODY = _blocks("body")


def test_every_message_type_has_a_vector() -> None:
    from firmware_bridge.messages import MsgType

    variants = ("_CACHED", "_LONG", "_RETRANSMIT", "_NOT_HANDSHAKEN", "_WATCHDOG_STOP",
                "_WATCHDOG", "_STANDSTILL")
    base = set()
    for name, *_ in VECTORS:
        for suffix in variants:
            name = name.removesuffix(suffix)
        base.add(name)
    assert base == {t.name for t in MsgType}
    assert set(WIRE) == set(BODY) == {name for name, *_ in VECTORS}


def test_vector_table_crc_is_the_crc_of_the_channel_table() -> None:
    from firmware_bridge.codec import channel_table_crc

    info = dict((v[0], v[1]) for v in VECTORS)["FIRMWARE_INFO"]
    assert channel_table_crc(info.channels) == info.table_crc


@pytest.mark.parametrize(("name", "message", "seq", "ack", "flags"), VECTORS,
                         ids=[v[0] for v in VECTORS])
def test_encode_matches_document(name, message, seq, ack, flags) -> None:
    assert encode_frame(message, seq=seq, ack=ack, flags=flags) == WIRE[name]


@pytest.mark.parametrize(("name", "message", "seq", "ack", "flags"), VECTORS,
                         ids=[v[0] for v in VECTORS])
def test_decode_document_bytes(name, message, seq, ack, flags) -> None:
    wire = WIRE[name]
    assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
    body = cobs_decode(wire[:-1])
    assert body == BODY[name]
    frame = decode_body(body[:-4])
    assert frame.message == message
    assert (frame.seq, frame.ack) == (seq, ack)
    frames = FrameDecoder().feed(wire)
    assert len(frames) == 1 and frames[0].message == message
