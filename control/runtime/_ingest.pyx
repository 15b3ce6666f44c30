# cython: language_level=3
"""Compiled ``ingest`` (see ``control.runtime._ingest_py``, its twin, for what it computes)."""

from libc.math cimport NAN
from libc.stdint cimport int16_t, int64_t, uint8_t

from firmware_bridge.messages import COUNT_RAIL, NO_READING

cdef enum:
    MAX_CHANNELS = 256  # the protocol's channel count is one byte

# the wire's markers (section 4.6 of docs/protocol.md), as C values for the loop
cdef int16_t _NO_READING = NO_READING
cdef int16_t _RAIL = COUNT_RAIL


def ingest(list batches, list ends, const double[::1] scale, const double[::1] offset,
           int16_t[::1] last, bint fresh, int64_t[::1] changed, uint8_t[::1] saturated,
           double[:, ::1] phys):
    cdef Py_ssize_t c = scale.shape[0]
    cdef Py_ssize_t nb = len(batches)
    cdef Py_ssize_t b, i, k, n, row = 0, hits = 0
    cdef const int16_t[:, :] counts
    cdef int16_t v
    cdef int64_t end
    cdef int16_t prev[MAX_CHANNELS]
    cdef uint8_t moved[MAX_CHANNELS]
    cdef uint8_t rail[MAX_CHANNELS]
    cdef uint8_t drop[MAX_CHANNELS]
    if nb == 0 or len(ends) != nb:
        raise ValueError(f"{nb} batches with {len(ends)} end times")
    if c > MAX_CHANNELS or offset.shape[0] != c or last.shape[0] != c \
            or changed.shape[0] != c or saturated.shape[0] != c or phys.shape[1] != c:
        raise ValueError(f"channel counts differ (scale has {c})")
    counts = batches[0]
    if counts.shape[0] == 0 or counts.shape[1] != c:
        raise ValueError(f"batch 0 is {counts.shape[0]} x {counts.shape[1]}, expected n x {c}")
    for k in range(c):
        if fresh:  # a new session: no previous row, every channel changed at the first end
            prev[k] = counts[0, k]
            changed[k] = <int64_t>ends[0]
        else:
            prev[k] = last[k]
    for b in range(nb):
        counts = batches[b]
        n = counts.shape[0]
        if n == 0 or counts.shape[1] != c:
            raise ValueError(f"batch {b} is {n} x {counts.shape[1]}, expected n x {c}")
        if row + n > phys.shape[0]:
            raise ValueError(f"phys has {phys.shape[0]} rows, fewer than the batches")
        end = <int64_t>ends[b]
        with nogil:
            for k in range(c):
                moved[k] = 0
                rail[k] = 1
                drop[k] = 1
            for i in range(n):
                for k in range(c):
                    v = counts[i, k]
                    if v == _NO_READING:
                        phys[row + i, k] = NAN
                        rail[k] = 0
                    else:
                        phys[row + i, k] = <double>v * scale[k] + offset[k]
                        drop[k] = 0
                        if -_RAIL < v < _RAIL:
                            rail[k] = 0
                    if v != prev[k]:
                        moved[k] = 1
                    prev[k] = v
            for k in range(c):
                if moved[k]:
                    changed[k] = end
                if rail[k] or drop[k]:
                    saturated[k] = 1
        row += n
    for k in range(c):
        last[k] = prev[k]
        hits += saturated[k] != 0
    return hits
