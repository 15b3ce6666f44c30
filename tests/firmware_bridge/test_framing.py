"""CRC-32C, COBS and the frame splitter: compiled module and its pure twin."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import _framing_py, framing
from tests.compiled import compiled, uses_compiled

_framing_c = compiled("firmware_bridge._framing")

IMPLS = [pytest.param(_framing_py, id="pure"), pytest.param(_framing_c, id="compiled")]


def test_compiled_module_is_loaded() -> None:
    if uses_compiled(framing, _framing_c, "RIG_FRAMING_PURE"):
        assert framing.FrameSplitter is _framing_c.FrameSplitter


@pytest.mark.parametrize("impl", IMPLS)
def test_crc_check_value(impl) -> None:
    assert impl.crc32c(b"123456789") == 0xE3069283
    assert impl.crc32c(b"") == 0
    assert impl.crc32c(b"6789", impl.crc32c(b"12345")) == 0xE3069283


@pytest.mark.parametrize("impl", IMPLS)
@given(data=st.binary(max_size=2000))
@settings(max_examples=150)
def test_cobs_roundtrip_has_no_zero(impl, data) -> None:
    enc = impl.cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert impl.cobs_decode(enc) == data


@given(data=st.binary(max_size=3000))
@settings(max_examples=150)
def test_compiled_matches_pure(data) -> None:
    assert _framing_c is not None
    assert _framing_c.crc32c(data) == _framing_py.crc32c(data)
    assert _framing_c.cobs_encode(data) == _framing_py.cobs_encode(data)
    assert _framing_c.cobs_decode(data.replace(b"\x00", b"\x01")) == _framing_py.cobs_decode(
        data.replace(b"\x00", b"\x01"))
    assert _framing_c.encode_frame(data) == _framing_py.encode_frame(data)


def _bodies(draw_lists):
    return [bytes(12) + b for b in draw_lists]


@pytest.mark.parametrize("impl", IMPLS)
@given(payloads=st.lists(st.binary(max_size=300), max_size=8),
       garbage=st.binary(max_size=64))
@settings(max_examples=100)
def test_splitter_whole_bytewise_and_trailing_garbage(impl, payloads, garbage) -> None:
    bodies = _bodies(payloads)
    stream = b"".join(impl.encode_frame(b) for b in bodies)
    assert impl.FrameSplitter().feed(stream) == bodies
    sp = impl.FrameSplitter()
    got = []
    for i in range(len(stream)):
        got += sp.feed(stream[i : i + 1])
    assert got == bodies
    sp = impl.FrameSplitter()
    got = sp.feed(stream + garbage)
    assert got == bodies  # garbage after the last delimiter is only buffered
    # and after garbage plus a delimiter, the next frame still comes through
    got = sp.feed(b"\x00" + stream)
    assert got[-len(bodies):] == bodies if bodies else got == []


@pytest.mark.parametrize("impl", IMPLS)
@given(noise=st.binary(max_size=4000))
@settings(max_examples=200)
def test_random_bytes_never_raise_and_never_yield_unsent(impl, noise) -> None:
    sp = impl.FrameSplitter()
    out = sp.feed(noise)
    # a random block passes COBS, length and CRC-32C checks with ~2^-32 odds;
    # whatever comes out must at least carry a valid CRC
    for body in out:
        assert impl.encode_frame(body) is not None


@pytest.mark.parametrize("impl", IMPLS)
@given(payloads=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=6),
       flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1,
                      max_size=5))
@settings(max_examples=150)
def test_corruption_never_delivers_altered_frames(impl, payloads, flips) -> None:
    bodies = _bodies(payloads)
    stream = bytearray(b"".join(impl.encode_frame(b) for b in bodies))
    for pos, xor in flips:
        stream[pos % len(stream)] ^= xor
    sp = impl.FrameSplitter()
    out = sp.feed(bytes(stream)) + sp.feed(b"\x00")  # flush a frame whose delimiter was hit
    for body in out:
        assert body in bodies  # never a message that was not sent
    lost = len(bodies) - len(out)
    assert lost >= 0
    if lost:
        assert sp.crc_errors + sp.framing_errors >= 1


@pytest.mark.parametrize("impl", IMPLS)
def test_oversize_frame_is_dropped_and_resynchronises(impl) -> None:
    sp = impl.FrameSplitter()
    good = impl.encode_frame(bytes(20))
    out = sp.feed(b"\x55" * (impl.MAX_ENCODED + 10) + b"\x00" + good)
    assert out == [bytes(20)]
    assert sp.oversize_errors == 1
    assert sp.framing_errors == 1


@pytest.mark.parametrize("impl", IMPLS)
def test_bad_crc_and_short_frames_are_counted(impl) -> None:
    sp = impl.FrameSplitter()
    frame = bytearray(impl.encode_frame(bytes(range(1, 30))))
    frame[5] ^= 0x01
    assert sp.feed(bytes(frame)) == []
    assert sp.crc_errors == 1
    assert sp.feed(impl.cobs_encode(b"\x01\x02") + b"\x00") == []
    assert sp.framing_errors == 1
    assert sp.feed(b"\x00\x00\x00") == []  # idle fill is not an error
    assert sp.framing_errors == 1
