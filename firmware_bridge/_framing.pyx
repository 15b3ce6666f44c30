# cython: language_level=3
"""Compiled framing hot path: CRC-32C (slicing-by-8), COBS, frame splitting.

The pure-Python twin is ``_framing_py``; both have the same API and results.
Rules (docs/protocol.md section 2): a frame on the wire is
``COBS(header | payload | crc32c_le) 0x00``. The splitter never raises on
wire input: malformed blocks are counted and skipped, and it resynchronises
at the next delimiter. It buffers at most ``max_encoded`` bytes.
"""

from libc.stdint cimport uint8_t, uint32_t
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

cdef enum:
    HEADER_SIZE_C = 12
    CRC_SIZE_C = 4

HEADER_SIZE = 12
CRC_SIZE = 4
MAX_PAYLOAD = 4096
MAX_BODY = HEADER_SIZE + MAX_PAYLOAD + CRC_SIZE
MAX_ENCODED = MAX_BODY + MAX_BODY // 254 + 1  # 4129: one code byte per 254 data bytes, plus one

cdef uint32_t _TABLE[8][256]


cdef void _init_table() noexcept:
    cdef uint32_t c
    cdef int n, k
    for n in range(256):
        c = n
        for k in range(8):
            if c & 1:
                c = (c >> 1) ^ 0x82F63B78U
            else:
                c = c >> 1
        _TABLE[0][n] = c
    for n in range(256):
        c = _TABLE[0][n]
        for k in range(1, 8):
            c = _TABLE[0][c & 0xFF] ^ (c >> 8)
            _TABLE[k][n] = c


_init_table()


cdef inline uint32_t _crc32c(const uint8_t* p, Py_ssize_t n, uint32_t crc) noexcept nogil:
    cdef uint32_t c = crc ^ 0xFFFFFFFFU
    cdef uint32_t lo, hi
    while n >= 8:
        lo = (<uint32_t>p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16)
              | (<uint32_t>p[3] << 24)) ^ c
        hi = (<uint32_t>p[4] | (<uint32_t>p[5] << 8) | (<uint32_t>p[6] << 16)
              | (<uint32_t>p[7] << 24))
        c = (_TABLE[7][lo & 0xFF] ^ _TABLE[6][(lo >> 8) & 0xFF]
             ^ _TABLE[5][(lo >> 16) & 0xFF] ^ _TABLE[4][lo >> 24]
             ^ _TABLE[3][hi & 0xFF] ^ _TABLE[2][(hi >> 8) & 0xFF]
             ^ _TABLE[1][(hi >> 16) & 0xFF] ^ _TABLE[0][hi >> 24])
        p += 8
        n -= 8
    while n > 0:
        c = _TABLE[0][(c ^ p[0]) & 0xFF] ^ (c >> 8)
        p += 1
        n -= 1
    return c ^ 0xFFFFFFFFU


def crc32c(const uint8_t[::1] data, uint32_t crc=0):
    """CRC-32C of *data*, continuing from *crc* (0 to start)."""
    if data.shape[0] == 0:
        return crc
    return _crc32c(&data[0], data.shape[0], crc)


cdef Py_ssize_t _cobs_encode(const uint8_t* src, Py_ssize_t n, uint8_t* dst) noexcept nogil:
    cdef Py_ssize_t code_index = 0
    cdef Py_ssize_t o = 1
    cdef uint8_t code = 1
    cdef Py_ssize_t i
    cdef uint8_t b
    for i in range(n):
        b = src[i]
        if b == 0:
            dst[code_index] = code
            code_index = o
            o += 1
            code = 1
        else:
            dst[o] = b
            o += 1
            code += 1
            if code == 0xFF:
                dst[code_index] = code
                code_index = o
                o += 1
                code = 1
    dst[code_index] = code
    return o


cdef Py_ssize_t _cobs_decode(const uint8_t* src, Py_ssize_t n, uint8_t* dst) noexcept nogil:
    """Decode into dst (capacity >= n); return length or -1 when malformed."""
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t o = 0
    cdef Py_ssize_t end, j
    cdef uint8_t code
    while i < n:
        code = src[i]
        end = i + code
        if code == 0 or end > n:
            return -1
        j = i + 1
        while j < end:
            if src[j] == 0:
                return -1
            dst[o] = src[j]
            o += 1
            j += 1
        i = end
        if code != 0xFF and i < n:
            dst[o] = 0
            o += 1
    return o


def cobs_encode(const uint8_t[::1] data):
    """COBS-encode *data*; the result contains no zero byte (no delimiter appended)."""
    cdef Py_ssize_t n = data.shape[0]
    cdef bytearray out = bytearray(n + n // 254 + 1)
    cdef uint8_t[::1] dst = out
    cdef Py_ssize_t m
    if n == 0:
        return b"\x01"
    m = _cobs_encode(&data[0], n, &dst[0])
    return bytes(out[:m])


def cobs_decode(const uint8_t[::1] data):
    """Decode one COBS block (without delimiter); ``None`` if it is malformed."""
    cdef Py_ssize_t n = data.shape[0]
    cdef bytearray out
    cdef uint8_t[::1] dst
    cdef Py_ssize_t m
    if n == 0:
        return b""
    out = bytearray(n)
    dst = out
    m = _cobs_decode(&data[0], n, &dst[0])
    if m < 0:
        return None
    return bytes(out[:m])


def encode_frame(const uint8_t[::1] body):
    """Append the CRC, COBS-encode and add the 0x00 delimiter."""
    cdef Py_ssize_t n = body.shape[0]
    cdef bytearray tmp = bytearray(n + 4)
    cdef uint8_t[::1] t = tmp
    cdef uint32_t crc = 0
    cdef Py_ssize_t m
    cdef bytes out
    cdef uint8_t* o
    if n:
        memcpy(&t[0], &body[0], n)
        crc = _crc32c(&body[0], n, 0)
    t[n] = crc & 0xFF
    t[n + 1] = (crc >> 8) & 0xFF
    t[n + 2] = (crc >> 16) & 0xFF
    t[n + 3] = (crc >> 24) & 0xFF
    out = PyBytes_FromStringAndSize(NULL, (n + 4) + (n + 4) // 254 + 2)
    o = <uint8_t*>PyBytes_AS_STRING(out)
    m = _cobs_encode(&t[0], n + 4, o)
    o[m] = 0
    return out[:m + 1]


cdef class FrameSplitter:
    """Incremental splitter: bytes in, CRC-checked frame bodies out.

    ``feed(data)`` returns a list of bodies (header + payload, CRC removed) of
    every complete, valid frame. Malformed input is counted, never raised:
    ``framing_errors`` (bad COBS, oversize, too short), ``crc_errors``.
    After an error the splitter resynchronises at the next 0x00.
    """

    cdef bytearray _buf
    cdef Py_ssize_t _len
    cdef bytearray _scratch
    cdef bint _discarding
    cdef public Py_ssize_t max_encoded
    cdef public unsigned long long frames
    cdef public unsigned long long crc_errors
    cdef public unsigned long long framing_errors
    cdef public unsigned long long oversize_errors
    cdef public unsigned long long bytes_received

    def __init__(self, Py_ssize_t max_encoded=MAX_ENCODED):
        self.max_encoded = max_encoded
        self._buf = bytearray(max_encoded)
        self._scratch = bytearray(max_encoded)
        self._len = 0
        self._discarding = False
        self.frames = 0
        self.crc_errors = 0
        self.framing_errors = 0
        self.oversize_errors = 0
        self.bytes_received = 0

    def reset(self):
        self._len = 0
        self._discarding = False

    def feed(self, const uint8_t[::1] data):
        cdef list out = []
        cdef Py_ssize_t n = data.shape[0]
        cdef Py_ssize_t i
        cdef uint8_t b
        cdef uint8_t* buf = <uint8_t*>(<char*>self._buf)
        cdef uint8_t* scratch = <uint8_t*>(<char*>self._scratch)
        cdef Py_ssize_t m
        cdef uint32_t crc, got
        self.bytes_received += n
        for i in range(n):
            b = data[i]
            if b != 0:
                if self._discarding:
                    continue
                if self._len >= self.max_encoded:
                    self._len = 0
                    self._discarding = True
                    self.oversize_errors += 1
                    self.framing_errors += 1
                    continue
                buf[self._len] = b
                self._len += 1
                continue
            # delimiter
            if self._discarding:
                self._discarding = False
                continue
            if self._len == 0:
                continue  # idle fill
            m = _cobs_decode(buf, self._len, scratch)
            self._len = 0
            if m < HEADER_SIZE_C + CRC_SIZE_C:
                self.framing_errors += 1
                continue
            crc = _crc32c(scratch, m - 4, 0)
            got = (<uint32_t>scratch[m - 4] | (<uint32_t>scratch[m - 3] << 8)
                   | (<uint32_t>scratch[m - 2] << 16) | (<uint32_t>scratch[m - 1] << 24))
            if crc != got:
                self.crc_errors += 1
                continue
            self.frames += 1
            out.append(PyBytes_FromStringAndSize(<char*>scratch, m - 4))
        return out
