"""The thin asyncio layer: moves bytes between a serial port and a ``Link``.

It makes no decisions. It opens the port in an executor (through
pyserial-asyncio-fast), feeds received bytes to the link with ``loop.time()``,
writes whatever the link wants to send, re-arms the link's timer with
``loop.call_at`` and hands link events to a callback.

A device or pty path on POSIX opens as ``DirectSerial`` in a
``DirectSerialTransport``: pyserial configures the port as always, but the
non-blocking reads and writes the transport makes when the loop says the port
is ready are one system call each (pyserial's own wrap every call in a
``select`` and timeout bookkeeping, a measurable share of a 100 Hz
controller's CPU, and its write spins while the port's buffer is full), and a
bug of the transport's deferred writes is worked around. ``socket://`` URLs use
asyncio's socket transport. ``memory://NAME`` connects to an in-memory endpoint
served in this process (``firmware_bridge.memory``: the virtual cable that
lockstep runs drive the controller through).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from functools import partial

import serial
import serial_asyncio_fast

from .errors import PortError
from .link import Link, LinkEvent
from .memory import SCHEME as MEMORY_SCHEME
from .memory import connect_memory

log = logging.getLogger(__name__)


class LinkProtocol(asyncio.Protocol):
    """Drives one ``Link`` from one asyncio transport."""

    def __init__(self, link: Link, on_event: Callable[[LinkEvent], None]) -> None:
        self.link = link
        self.on_event = on_event
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None

    # asyncio callbacks ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.pump()

    def data_received(self, data: bytes) -> None:
        self.link.receive_data(data, self.loop.time())
        self.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.closed.done():
            self.closed.set_result(None)

    # pumping -------------------------------------------------------------------
    def pump(self) -> None:
        """Flush output, dispatch events and re-arm the timer."""
        if self.transport is not None and not self.transport.is_closing():
            out = self.link.data_to_send()
            if out:
                self.transport.write(out)
        while (event := self.link.next_event()) is not None:
            self.on_event(event)
        self.arm_timer()

    def arm_timer(self) -> None:
        """(Re-)schedule ``handle_timer`` for when the link next needs it."""
        when = self.link.get_timer()
        if self._timer is not None:
            if when is not None and self._timer.when() == when:
                return
            self._timer.cancel()
            self._timer = None
        if when is not None and self.transport is not None:
            self._timer = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.link.handle_timer(self.loop.time())
        self.pump()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class DirectSerial(serial.Serial):
    """pyserial's POSIX port with one system call per non-blocking read or write.

    The asyncio transport reads only when the loop reports the port readable and
    writes with ``write_timeout=0``, so pyserial's ``select`` before every read
    and its retry loop around every write have nothing to do. The errors stay
    pyserial's: ``SerialException`` for a failed call and for a port that reads
    end-of-file (unplugged, or the pty's other end closed); a full output buffer
    raises ``BlockingIOError``, which the transport answers by buffering and
    waiting for the port to become writable (pyserial retried at once, spinning).
    On a tty configured as pyserial does (VMIN = VTIME = 0) a read with nothing
    waiting returns no bytes, which pyserial and this class both take for a
    disconnected device: read only when the port is readable, as the transport does.
    """

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise serial.PortNotOpenError()
        try:
            data = os.read(self.fd, size)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as err:
            raise serial.SerialException(f"read failed: {err}") from err
        if not data:
            raise serial.SerialException(
                "device reports readiness to read but returned no data (device disconnected?)")
        return data

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if not self.is_open:
            raise serial.PortNotOpenError()
        try:
            return os.write(self.fd, data)
        except (BlockingIOError, InterruptedError):
            raise BlockingIOError from None  # the transport keeps the bytes and waits
        except OSError as err:
            raise serial.SerialException(f"write failed: {err}") from err


class DirectSerialTransport(serial_asyncio_fast.SerialTransport):
    """pyserial-asyncio-fast's transport, with its deferred-write bug worked around.

    In 0.16 a write the port could not take at once registers a writer that is
    never removed once the buffer drains: the loop then calls ``_write_ready``
    on every turn, which fails an assertion each time (a spinning loop and an
    error logged per turn, for as long as the port stays open; upstream pull
    request 36 of home-assistant-libs/pyserial-asyncio-fast, open). Here an
    empty buffer removes the writer.
    """

    def _write_ready(self) -> None:
        if not self._write_buffer:
            self._remove_writer()
            return
        super()._write_ready()


def is_device_path(url: str) -> bool:
    """A plain path (no ``scheme://``) on POSIX: opened as ``DirectSerial``."""
    return os.name == "posix" and "://" not in url


async def open_link(
    url: str, protocol_factory: Callable[[], LinkProtocol], *, baudrate: int = 3_000_000
) -> tuple[asyncio.Transport, LinkProtocol]:
    """Open *url* (device path, pty path, ``socket://host:port`` or ``memory://NAME``)
    without blocking the loop.

    Raises ``PortError`` naming the port and the cause (missing, permission, busy)."""
    loop = asyncio.get_running_loop()
    try:
        if url.startswith(MEMORY_SCHEME):
            transport, protocol = connect_memory(url, protocol_factory)
        elif is_device_path(url):
            port = await loop.run_in_executor(None, partial(
                DirectSerial, url, baudrate=baudrate, timeout=0, write_timeout=0))
            protocol = protocol_factory()
            transport = DirectSerialTransport(loop, protocol, port)
        else:
            transport, protocol = await serial_asyncio_fast.create_serial_connection(
                loop, protocol_factory, url, baudrate=baudrate, timeout=0, write_timeout=0
            )
    except (serial.SerialException, OSError, ValueError) as err:
        raise PortError(f"cannot open serial port {url!r}: {err}") from err
    return transport, protocol  # type: ignore[return-value]
