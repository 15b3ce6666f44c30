"""The transport's port over a real pseudo-terminal: direct reads and writes, back-pressure,
and a peer that goes away."""

from __future__ import annotations

import asyncio
import logging
import os
import pty
import select
import tty

import pytest
import serial

from firmware_bridge.transport import DirectSerial, is_device_path, open_link


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


@pytest.fixture
def pty_pair():
    firmware_end, port_end = pty.openpty()
    tty.setraw(firmware_end)
    tty.setraw(port_end)
    os.set_blocking(firmware_end, False)
    path = os.ttyname(port_end)
    yield firmware_end, path
    for fd in (firmware_end, port_end):
        try:
            os.close(fd)
        except OSError:
            pass


async def _read_until(fd: int, want: int, timeout: float) -> bytes:
    """Read the firmware end until *want* bytes arrived (a slow reader: 4 KiB at a time)."""
    got = bytearray()
    async with asyncio.timeout(timeout):
        while len(got) < want:
            try:
                got += os.read(fd, 4096)
            except BlockingIOError:
                await asyncio.sleep(0.001)
    return bytes(got)


def test_plain_paths_open_directly_and_urls_through_pyserial() -> None:
    assert is_device_path("/dev/ttyUSB0") and is_device_path("/tmp/rig.pty")
    assert not is_device_path("socket://127.0.0.1:5000")
    assert not is_device_path("loop://")


async def test_bytes_both_ways_through_the_direct_port(pty_pair) -> None:
    firmware_end, path = pty_pair
    transport, proto = await open_link(path, Recorder)
    try:
        assert isinstance(transport.serial, DirectSerial)
        os.write(firmware_end, b"\x00hello firmware\x00")
        async with asyncio.timeout(2):
            while bytes(proto.data) != b"\x00hello firmware\x00":
                await asyncio.sleep(0.001)
        transport.write(b"set-points")
        assert await _read_until(firmware_end, 10, 2.0) == b"set-points"
    finally:
        transport.close()


async def test_a_burst_larger_than_the_pty_buffer_arrives_whole_and_in_order(
        pty_pair, caplog) -> None:
    firmware_end, path = pty_pair
    transport, _proto = await open_link(path, Recorder)
    try:
        burst = bytes(range(256)) * 2048  # 512 KiB: far more than a pty holds
        transport.write(burst)  # returns at once (pyserial's write spun while the port was full)
        # the port took what fitted; the transport keeps the rest until it is writable
        assert transport.get_write_buffer_size() > 0
        got = await _read_until(firmware_end, len(burst), 20.0)
        assert got == burst
        assert transport.get_write_buffer_size() == 0
        # drained: the writer is gone (pyserial-asyncio-fast 0.16 left it registered, and
        # every loop turn then failed an assertion in _write_ready)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
        transport.write(b"after")
        assert await _read_until(firmware_end, 5, 2.0) == b"after"
    finally:
        transport.close()


async def test_the_peer_closing_ends_the_connection_with_a_serial_error(pty_pair) -> None:
    firmware_end, path = pty_pair
    transport, proto = await open_link(path, Recorder)
    os.close(firmware_end)  # the firmware end hangs up: reads on the port fail
    async with asyncio.timeout(2):
        exc = await proto.lost
    assert isinstance(exc, serial.SerialException), exc
    assert "read failed" in str(exc) or "no data" in str(exc)
    transport.close()


def test_one_read_returns_what_is_waiting_and_a_closed_port_refuses(pty_pair) -> None:
    firmware_end, path = pty_pair
    port = DirectSerial(path, timeout=0, write_timeout=0)
    os.write(firmware_end, b"abc")
    assert select.select([port.fd], [], [], 2.0)[0], "the bytes never reached the port"
    assert port.read(10) == b"abc"  # what is waiting, at most size bytes, without blocking
    port.close()
    with pytest.raises(serial.PortNotOpenError):
        port.read(1)
    with pytest.raises(serial.PortNotOpenError):
        port.write(b"x")
