"""Framing and CRC: picks the compiled implementation, or its pure-Python twin.

``RIG_FRAMING_PURE=1`` forces the twin (tests run both). If the compiled
module cannot be imported the bridge still works, but that is logged at ERROR
level: at 3 Mbaud the pure path costs a large share of a rover core.
"""

from __future__ import annotations

from rig_common.kernels import load

_impl, IMPLEMENTATION = load("firmware_bridge", "_framing", "_framing_py", "RIG_FRAMING_PURE",
                             "framing")

crc32c = _impl.crc32c
cobs_encode = _impl.cobs_encode
cobs_decode = _impl.cobs_decode
encode_frame = _impl.encode_frame
FrameSplitter = _impl.FrameSplitter
HEADER_SIZE: int = _impl.HEADER_SIZE
CRC_SIZE: int = _impl.CRC_SIZE
MAX_PAYLOAD: int = _impl.MAX_PAYLOAD
MAX_ENCODED: int = _impl.MAX_ENCODED

__all__ = [
    "CRC_SIZE",
    "HEADER_SIZE",
    "IMPLEMENTATION",
    "MAX_ENCODED",
    "MAX_PAYLOAD",
    "FrameSplitter",
    "cobs_decode",
    "cobs_encode",
    "crc32c",
    "encode_frame",
]
