"""Pure-Python twin of :mod:`firmware_bridge._framing` (CRC-32C, COBS, frame splitting).

Same API and same results as the compiled module; used as the reference in
tests, by the benchmark as the baseline, and when ``RIG_FRAMING_PURE=1``.
See docs/protocol.md section 2 for the framing rules these functions follow.
"""

from __future__ import annotations

HEADER_SIZE = 12
CRC_SIZE = 4
MAX_PAYLOAD = 4096
MAX_BODY = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
# COBS adds one code byte per 254 data bytes plus one; the delimiter is not counted.
MAX_ENCODED = MAX_BODY + MAX_BODY // 254 + 1  # 4129: one code byte per 254 data bytes, plus one

_POLY_REFLECTED = 0x82F63B78  # CRC-32C (Castagnoli), reflected form


def _make_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY_REFLECTED if c & 1 else c >> 1
        table.append(c)
    return table


CRC_TABLE = _make_table()


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C of *data*, continuing from *crc* (0 to start)."""
    table = CRC_TABLE
    c = crc ^ 0xFFFFFFFF
    for b in bytes(data):
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def cobs_encode(data: bytes | bytearray | memoryview) -> bytes:
    """COBS-encode *data*; the result contains no zero byte (no delimiter appended)."""
    out = bytearray([0])
    code_index = 0
    code = 1
    for b in bytes(data):
        if b == 0:
            out[code_index] = code
            code_index = len(out)
            out.append(0)
            code = 1
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_index] = code
                code_index = len(out)
                out.append(0)
                code = 1
    out[code_index] = code
    return bytes(out)


def cobs_decode(data: bytes | bytearray | memoryview) -> bytes | None:
    """Decode one COBS block (without delimiter); ``None`` if it is malformed."""
    src = bytes(data)
    out = bytearray()
    i = 0
    n = len(src)
    while i < n:
        code = src[i]
        end = i + code
        if code == 0 or end > n:
            return None
        block = src[i + 1 : end]
        if 0 in block:
            return None
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(body_without_crc: bytes | bytearray | memoryview) -> bytes:
    """Append the CRC, COBS-encode and add the 0x00 delimiter."""
    body = bytes(body_without_crc)
    crc = crc32c(body)
    return cobs_encode(body + crc.to_bytes(4, "little")) + b"\x00"


class FrameSplitter:
    """Incremental splitter: bytes in, CRC-checked frame bodies out.

    ``feed(data)`` returns a list of bodies (header + payload, CRC removed) of
    every complete, valid frame. Malformed input is counted, never raised:
    ``framing_errors`` (bad COBS, oversize, too short), ``crc_errors``.
    After an error the splitter resynchronises at the next 0x00.
    """

    def __init__(self, max_encoded: int = MAX_ENCODED) -> None:
        self.max_encoded = max_encoded
        self._buf = bytearray()
        self._discarding = False
        self.frames = 0
        self.crc_errors = 0
        self.framing_errors = 0
        self.oversize_errors = 0
        self.bytes_received = 0

    def reset(self) -> None:
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        out: list[bytes] = []
        data = bytes(data)
        self.bytes_received += len(data)
        start = 0
        while True:
            z = data.find(b"\x00", start)
            chunk = data[start:] if z < 0 else data[start:z]
            if not self._discarding:
                if len(self._buf) + len(chunk) > self.max_encoded:
                    self._buf.clear()
                    self._discarding = True
                    self.oversize_errors += 1
                    self.framing_errors += 1
                else:
                    self._buf += chunk
            if z < 0:
                return out
            start = z + 1
            if self._discarding:
                self._discarding = False
                continue
            block = bytes(self._buf)
            self._buf.clear()
            if not block:
                continue  # back-to-back delimiters are idle fill, not errors
            body = cobs_decode(block)
            if body is None or len(body) < HEADER_SIZE + CRC_SIZE:
                self.framing_errors += 1
                continue
            if crc32c(body[:-4]) != int.from_bytes(body[-4:], "little"):
                self.crc_errors += 1
                continue
            self.frames += 1
            out.append(body[:-4])
