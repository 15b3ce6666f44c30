"""Give the C heap's freed memory back to the system now and then (glibc's ``malloc_trim``).

Theory of operation
-------------------
glibc keeps the memory freed in the middle of its heap for later mallocs; it
returns it only from the top of the heap, and only when ``malloc_trim`` asks
it to return whole free pages from anywhere. A controller that runs for
months goes through transients that need megabytes for a minute: while the
broker is away the downlink's outbox keeps the backlog's payloads in memory
for the publisher (up to its 32 MB cache), and frees them once they are
delivered. The freed megabytes then stayed with the process: in the process
soak (docs/soak.md) its RSS stepped up by 3 MB at the first 90 s broker
outage and by 6.7 MB at the second, whose backlog was larger, a ratchet to
the largest transient ever seen that a rover's memory budget has to carry
and a soak cannot tell from a leak.

``trim_heap_every(interval_s)`` runs as one of the service's tasks: every
``loop.heap_trim_s`` wall seconds, when glibc holds more than
``TRIM_ABOVE_BYTES`` freed, it calls ``malloc_trim(0)`` on a worker thread
(a walk of the heap: a few milliseconds that must not delay a control tick).
Where the C library is not glibc (musl), ``malloc_stats`` is ``None`` and
the task ends at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

__all__ = ["TRIM_ABOVE_BYTES", "malloc_stats", "trim", "trim_heap_every"]

#: trim only when glibc keeps at least this much freed memory
TRIM_ABOVE_BYTES = 2 << 20


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _glibc() -> ctypes.CDLL | None:
    with contextlib.suppress(OSError, TypeError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallinfo2.restype = _MallInfo2
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    return None


_LIBC = _glibc()


def malloc_stats() -> tuple[int, int] | None:
    """(bytes in use, bytes freed but kept) of glibc's malloc, all arenas; ``None``
    when the C library is not glibc (2.33 or later)."""
    if _LIBC is None:
        return None
    mi = _LIBC.mallinfo2()
    return mi.uordblks + mi.hblkhd, mi.fordblks


def trim() -> bool:
    """``malloc_trim(0)``: True when glibc returned memory to the system."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))


async def trim_heap_every(interval_s: float, above_bytes: int = TRIM_ABOVE_BYTES) -> None:
    """Trim every *interval_s* wall seconds while more than *above_bytes* are kept free;
    returns at once when *interval_s* is 0 or the C library is not glibc."""
    if interval_s <= 0 or malloc_stats() is None:
        return
    while True:
        await asyncio.sleep(interval_s)
        stats = malloc_stats()
        if stats is not None and stats[1] > above_bytes:
            released = await asyncio.to_thread(trim)
            log.debug("heap trim: %d kB kept free, returned: %s", stats[1] // 1000, released)
