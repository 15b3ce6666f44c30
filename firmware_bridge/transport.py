"""The thin asyncio layer: moves bytes between a serial port and a ``Link``.

It makes no decisions. It opens the port with ``serial_for_url`` in an
executor (through pyserial-asyncio-fast), feeds received bytes to the link
with ``loop.time()``, writes whatever the link wants to send, re-arms the
link's timer with ``loop.call_at`` and hands link events to a callback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import serial
import serial_asyncio_fast

from .errors import PortError
from .link import Link, LinkEvent

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


async def open_link(
    url: str, protocol_factory: Callable[[], LinkProtocol], *, baudrate: int = 3_000_000
) -> tuple[asyncio.Transport, LinkProtocol]:
    """Open *url* (device path, pty path or ``socket://host:port``) without blocking the loop.

    Raises ``PortError`` naming the port and the cause (missing, permission, busy)."""
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await serial_asyncio_fast.create_serial_connection(
            loop, protocol_factory, url, baudrate=baudrate, timeout=0, write_timeout=0
        )
    except (serial.SerialException, OSError, ValueError) as err:
        raise PortError(f"cannot open serial port {url!r}: {err}") from err
    return transport, protocol  # type: ignore[return-value]
