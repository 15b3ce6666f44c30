"""NumPy arrays as RFC 8746 CBOR typed arrays.

A 1-D array is a typed-array tag around a byte string (little-endian element
tags, so x86 and ARM ground stations read the bytes without swapping); an N-D
array is tag 40 (row-major multi-dimensional array) around
``[[dims...], typed-array]``. Any CBOR decoder can read these, and decoders that
know RFC 8746 (cbor2 with a tag hook, Python ``cbor2``, Rust ``ciborium``,
JavaScript ``cbor-x``) turn them into native arrays.
"""

from __future__ import annotations

import math

import numpy as np
from cbor2 import CBORTag

from telemetry.contract.errors import PayloadDecodeError, PayloadEncodeError

__all__ = ["array_from_cbor", "array_to_cbor"]

# RFC 8746 section 2.1: little-endian typed-array tags.
_TAG_BY_DTYPE: dict[str, int] = {
    "uint8": 64,
    "int8": 72,
    "uint16": 69,
    "uint32": 70,
    "uint64": 71,
    "int16": 77,
    "int32": 78,
    "int64": 79,
    "float32": 85,
    "float64": 86,
}
_DTYPE_BY_TAG: dict[int, np.dtype] = {
    tag: np.dtype(name).newbyteorder("<") for name, tag in _TAG_BY_DTYPE.items()
}
_MULTI_DIM_TAG = 40
_MAX_ELEMENTS = 1 << 26


def array_to_cbor(array: np.ndarray) -> CBORTag:
    """Wrap ``array`` (any shape, a supported numeric dtype) as a CBOR tag."""
    tag = _TAG_BY_DTYPE.get(array.dtype.name)
    if tag is None:
        raise PayloadEncodeError(
            f"expected one of {sorted(_TAG_BY_DTYPE)} arrays, got dtype {array.dtype}"
        )
    data = np.ascontiguousarray(array, dtype=_DTYPE_BY_TAG[tag]).tobytes()
    typed = CBORTag(tag, data)
    if array.ndim == 1:
        return typed
    return CBORTag(_MULTI_DIM_TAG, [list(array.shape), typed])


def array_from_cbor(value: object, field: str) -> np.ndarray:
    """Inverse of :func:`array_to_cbor`; raises ``PayloadDecodeError`` naming ``field``."""
    shape: tuple[int, ...] | None = None
    if isinstance(value, CBORTag) and value.tag == _MULTI_DIM_TAG:
        inner = value.value
        if (
            not isinstance(inner, list | tuple)
            or len(inner) != 2
            or not isinstance(inner[0], list | tuple)
            or not all(type(d) is int and d >= 0 for d in inner[0])
        ):
            raise PayloadDecodeError(f"{field}: expected tag 40 [[dims], typed array]")
        shape = tuple(inner[0])
        value = inner[1]
    if not isinstance(value, CBORTag) or value.tag not in _DTYPE_BY_TAG:
        raise PayloadDecodeError(f"{field}: expected an RFC 8746 typed array, got {value!r:.60}")
    if not isinstance(value.value, bytes):
        raise PayloadDecodeError(f"{field}: expected a byte string inside tag {value.tag}")
    dtype = _DTYPE_BY_TAG[value.tag]
    if len(value.value) % dtype.itemsize:
        raise PayloadDecodeError(
            f"{field}: {len(value.value)} bytes is not a multiple of {dtype.itemsize}"
        )
    flat = np.frombuffer(value.value, dtype=dtype).astype(dtype.newbyteorder("="))
    if shape is None:
        return flat
    if math.prod(shape) != flat.size or flat.size > _MAX_ELEMENTS:
        raise PayloadDecodeError(f"{field}: shape {list(shape)} does not hold {flat.size} elements")
    return flat.reshape(shape)
