"""An asyncio transport over a raw file descriptor (a pty master, say).

Used by the firmware side of the link (the simulator, the loopback self-test)
where the "port" is the master end of a pseudo-terminal. Writes go straight to
the fd; like a UART without flow control, bytes that do not fit in the kernel
buffer within ``max_buffer`` are dropped and counted, never queued forever.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os

log = logging.getLogger(__name__)


class FdTransport(asyncio.Transport):
    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, protocol: asyncio.Protocol,
                 *, max_buffer: int = 256 * 1024, close_fd: bool = False) -> None:
        super().__init__()
        self._loop = loop
        self._fd = fd
        self._protocol = protocol
        self._buffer = bytearray()
        self._max_buffer = max_buffer
        self._closing = False
        self._close_fd = close_fd
        self.bytes_dropped = 0
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._read_ready)
        loop.call_soon(protocol.connection_made, self)

    def _read_ready(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        except OSError as err:
            if err.errno == errno.EIO:  # pty: no process has the other end open
                return
            self._fatal(err)
            return
        if not data:
            self._fatal(None)
            return
        self._protocol.data_received(data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or not data:
            return
        if self._buffer:
            if len(self._buffer) + len(data) > self._max_buffer:
                self.bytes_dropped += len(data)
                return
            self._buffer += data
            return
        try:
            n = os.write(self._fd, data)
        except BlockingIOError:
            n = 0
        except OSError as err:
            if err.errno == errno.EIO:
                self.bytes_dropped += len(data)
                return
            self._fatal(err)
            return
        if n < len(data):
            self._buffer += data[n:]
            self._loop.add_writer(self._fd, self._write_ready)

    def _write_ready(self) -> None:
        try:
            n = os.write(self._fd, self._buffer)
        except BlockingIOError:
            return
        except OSError as err:
            self._buffer.clear()
            self._loop.remove_writer(self._fd)
            if err.errno != errno.EIO:
                self._fatal(err)
            return
        del self._buffer[:n]
        if not self._buffer:
            self._loop.remove_writer(self._fd)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        self._fatal(None)

    def _fatal(self, exc: Exception | None) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        if self._close_fd:
            os.close(self._fd)
        self._loop.call_soon(self._protocol.connection_lost, exc)
