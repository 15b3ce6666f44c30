"""An in-memory cable: two connected byte-stream endpoints, and ``memory://NAME`` URLs.

python-can ships a virtual bus so that one code path runs on real and virtual
hardware; this is the same thing for our serial line. ``memory_pair`` joins
two asyncio protocols with two ``MemoryTransport``s. ``listen_memory(name,
factory)`` serves the endpoint ``memory://NAME`` (as a TCP server serves
``socket://host:port``): ``transport.open_link`` connects to it, so
``Bridge("memory://NAME")`` runs exactly the code it runs over a pty, with
the same ``LinkProtocol``, and only the byte mover differs.

Rules (what a test of the pair holds it to):

* Bytes arrive in order, in both directions. Everything written to one end
  since the peer last read reaches the peer in one ``data_received`` on a
  later turn of the loop (``loop.call_soon``), never inside ``write``: a
  protocol that answers from ``data_received`` does not recurse into itself.
* The line is bounded: at most ``max_buffer`` bytes written and not yet
  delivered per direction. Past that, as on a UART without flow control (and
  as ``fdtransport.FdTransport`` does), bytes are dropped and counted in
  ``bytes_dropped``; never queued without bound. Above the high-water mark the
  writer's protocol gets ``pause_writing()``, and ``resume_writing()`` once the
  peer has read.
* ``close()`` still delivers what was written before it, then calls
  ``connection_lost(None)`` on both ends (the peer sees the cable go, as a
  serial port that vanished). ``abort()`` drops undelivered bytes first.
  Writes to a closing end are ignored.
* One loop: both ends and the listener belong to the loop they were made on.

No clock and no I/O: a virtual-time loop (``rig_bench.virtual_clock``) runs a
whole rig over it deterministically.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .errors import BridgeUsageError, PortError

log = logging.getLogger(__name__)

__all__ = ["SCHEME", "MemoryListener", "MemoryTransport", "connect_memory", "listen_memory",
           "memory_pair"]

SCHEME = "memory://"
DEFAULT_MAX_BUFFER = 256 * 1024  # bytes in flight per direction (as FdTransport)

_listeners: dict[str, MemoryListener] = {}


class MemoryTransport(asyncio.Transport):
    """One end of the in-memory cable (see the module docstring)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: asyncio.Protocol, *,
                 max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        super().__init__()
        if max_buffer < 1:
            raise BridgeUsageError(f"max_buffer: expected >= 1 byte, got {max_buffer}")
        self._loop = loop
        self._protocol = protocol
        self._peer: MemoryTransport | None = None
        self._inbox = bytearray()  # written by the peer, not yet delivered here
        self._max_buffer = max_buffer
        self._high = max_buffer // 2
        self._low = max_buffer // 8
        self._paused = False
        self._closing = False
        self._lost = False
        self.bytes_dropped = 0  # written by this end past the bound: never delivered

    # --- asyncio.Transport ---------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        peer = self._peer
        if self._closing or not data or peer is None or peer._closing:
            return
        room = self._max_buffer - len(peer._inbox)
        if len(data) > room:
            self.bytes_dropped += len(data) - max(room, 0)
            data = bytes(data[:max(room, 0)])
            if not data:
                return
        if not peer._inbox:
            self._loop.call_soon(peer._deliver)
        peer._inbox += data
        if not self._paused and len(peer._inbox) > self._high:
            self._paused = True
            self._protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        """Bytes written here that the peer has not read yet."""
        return len(self._peer._inbox) if self._peer is not None else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        high = self._max_buffer // 2 if high is None else high
        low = high // 4 if low is None else low
        if not 0 <= low <= high <= self._max_buffer:
            raise BridgeUsageError(f"write buffer limits: expected 0 <= low <= high <= "
                                   f"{self._max_buffer}, got low={low}, high={high}")
        self._high, self._low = high, low

    def can_write_eof(self) -> bool:
        return False  # a serial line has no half-close

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Deliver what was written, then the cable goes for both ends."""
        if self._closing:
            return
        self._closing = True
        self._loop.call_soon(self._hang_up)

    def abort(self) -> None:
        """Drop undelivered bytes both ways, then close."""
        self._inbox.clear()
        if self._peer is not None:
            self._peer._inbox.clear()
        self.close()

    # --- the line ---------------------------------------------------------------------
    def _deliver(self) -> None:
        if self._lost or not self._inbox:
            return
        data = bytes(self._inbox)
        self._inbox.clear()
        writer = self._peer
        if writer is not None and writer._paused and not writer._lost:
            writer._paused = False
            writer._protocol.resume_writing()
        self._protocol.data_received(data)

    def _hang_up(self) -> None:
        peer = self._peer
        self._connection_lost()
        if peer is not None and not peer._lost:
            peer._closing = True
            peer._deliver()  # anything the peer still had coming from us
            peer._connection_lost()

    def _connection_lost(self) -> None:
        if self._lost:
            return
        self._lost = self._closing = True
        self._inbox.clear()
        self._protocol.connection_lost(None)


def memory_pair(loop: asyncio.AbstractEventLoop, a: asyncio.Protocol, b: asyncio.Protocol, *,
                max_buffer: int = DEFAULT_MAX_BUFFER) -> tuple[MemoryTransport, MemoryTransport]:
    """Join *a* and *b*; each gets ``connection_made`` on the next loop turn."""
    ta = MemoryTransport(loop, a, max_buffer=max_buffer)
    tb = MemoryTransport(loop, b, max_buffer=max_buffer)
    ta._peer, tb._peer = tb, ta
    loop.call_soon(a.connection_made, ta)
    loop.call_soon(b.connection_made, tb)
    return ta, tb


class MemoryListener:
    """Serves ``memory://NAME``: each connection gets a fresh protocol from *factory*."""

    def __init__(self, name: str, factory: Callable[[], asyncio.Protocol],
                 loop: asyncio.AbstractEventLoop, max_buffer: int) -> None:
        self.name = name
        self.url = SCHEME + name
        self.factory = factory
        self.loop = loop
        self.max_buffer = max_buffer
        self.connections = 0

    def close(self) -> None:
        """Stop accepting (open connections stay until their ends close them)."""
        if _listeners.get(self.name) is self:
            del _listeners[self.name]

    @property
    def listening(self) -> bool:
        return _listeners.get(self.name) is self


def listen_memory(name: str, factory: Callable[[], asyncio.Protocol], *,
                  max_buffer: int = DEFAULT_MAX_BUFFER) -> MemoryListener:
    """Serve ``memory://NAME`` on the running loop.

    Raises ``BridgeUsageError`` if the name is empty or already served."""
    if not name or "/" in name:
        raise BridgeUsageError(f"memory endpoint name: expected a non-empty name without "
                               f"'/', got {name!r}")
    if name in _listeners:
        raise BridgeUsageError(f"memory endpoint {SCHEME}{name} is already served")
    listener = MemoryListener(name, factory, asyncio.get_running_loop(), max_buffer)
    _listeners[name] = listener
    return listener


def connect_memory(url: str, protocol_factory: Callable[[], asyncio.Protocol]
                   ) -> tuple[MemoryTransport, asyncio.Protocol]:
    """Connect to ``memory://NAME`` on the running loop; returns the client's end.

    Raises ``PortError`` when nothing serves that name (as a refused connection) or it
    is served on another loop."""
    name = url[len(SCHEME):] if url.startswith(SCHEME) else url
    listener = _listeners.get(name)
    if listener is None:
        raise PortError(f"no memory endpoint {SCHEME}{name} is listening")
    loop = asyncio.get_running_loop()
    if listener.loop is not loop:
        raise PortError(f"memory endpoint {SCHEME}{name} is served on another event loop")
    client = protocol_factory()
    server = listener.factory()
    listener.connections += 1
    ours, _theirs = memory_pair(loop, client, server, max_buffer=listener.max_buffer)
    return ours, client
