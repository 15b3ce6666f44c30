"""The in-memory cable (``firmware_bridge.memory``): bytes in order both ways, close
semantics, the bounded line, and ``memory://NAME`` through the transport and the bridge."""

from __future__ import annotations

import asyncio

import pytest

from firmware_bridge.bridge import Bridge, BridgeConfig
from firmware_bridge.errors import BridgeUsageError, PortError
from firmware_bridge.memory import MemoryTransport, listen_memory, memory_pair
from firmware_bridge.messages import CommandCode, ResultStatus
from firmware_bridge.transport import open_link
from sim_hw.ports import MemorySpec
from sim_hw.rig import Rig, RigConfig


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.chunks: list[bytes] = []
        self.transport: MemoryTransport | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.calls: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, MemoryTransport)
        self.transport = transport
        self.calls.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.chunks.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.calls.append("pause")

    def resume_writing(self) -> None:
        self.calls.append("resume")


async def _turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def _pair(**kw: int) -> tuple[Recorder, Recorder, MemoryTransport, MemoryTransport]:
    a, b = Recorder(), Recorder()
    ta, tb = memory_pair(asyncio.get_running_loop(), a, b, **kw)
    await _turns(1)
    assert a.transport is ta and b.transport is tb
    return a, b, ta, tb


async def test_bytes_arrive_in_order_both_ways_and_never_inside_write() -> None:
    a, b, ta, tb = await _pair()
    sent_ab = [bytes([i % 256]) * (i + 1) for i in range(200)]
    sent_ba = [f"reply {i};".encode() for i in range(200)]
    for x, y in zip(sent_ab, sent_ba, strict=True):
        ta.write(x)
        tb.write(y)
    assert not a.data and not b.data  # delivered on a later loop turn, not in write()
    assert ta.get_write_buffer_size() == sum(map(len, sent_ab))
    await _turns()
    assert bytes(b.data) == b"".join(sent_ab)
    assert bytes(a.data) == b"".join(sent_ba)
    assert len(b.chunks) == 1  # everything written since the last read, in one read
    assert ta.get_write_buffer_size() == tb.get_write_buffer_size() == 0
    ta.write(memoryview(b"more"))
    await _turns()
    assert bytes(b.data).endswith(b"more") and len(b.chunks) == 2


async def test_close_delivers_what_was_written_then_both_ends_see_the_cable_go() -> None:
    a, b, ta, tb = await _pair()
    ta.write(b"last words")
    ta.close()
    assert ta.is_closing() and not tb.is_closing()
    ta.write(b"after close")  # ignored
    async with asyncio.timeout(1):
        assert await b.lost is None and await a.lost is None
    assert bytes(b.data) == b"last words"
    assert b.calls[-1] == "lost" and a.calls[-1] == "lost"
    assert tb.is_closing()
    tb.write(b"to nobody")  # ignored too: no error, nothing delivered
    await _turns()
    assert a.data == bytearray()
    assert a.calls.count("lost") == b.calls.count("lost") == 1


async def test_abort_drops_what_is_undelivered() -> None:
    a, b, ta, tb = await _pair()
    ta.write(b"never seen")
    tb.write(b"nor this")
    ta.abort()
    async with asyncio.timeout(1):
        await b.lost
        await a.lost
    assert a.data == b.data == bytearray()


async def test_the_line_is_bounded_drops_are_counted_and_the_writer_is_paused() -> None:
    a, b, ta, _tb = await _pair(max_buffer=1000)
    ta.write(b"x" * 400)
    assert "pause" not in a.calls  # below the high-water mark (half the bound)
    ta.write(b"y" * 400)
    assert a.calls.count("pause") == 1  # 800 > 500
    ta.write(b"z" * 400)  # room for 200 only
    assert ta.get_write_buffer_size() == 1000
    assert ta.bytes_dropped == 200
    ta.write(b"w")  # full: all of it dropped
    assert ta.bytes_dropped == 201
    await _turns()
    assert bytes(b.data) == b"x" * 400 + b"y" * 400 + b"z" * 200
    assert a.calls.count("resume") == 1 and a.calls.index("resume") > a.calls.index("pause")
    ta.write(b"after")  # room again
    await _turns()
    assert bytes(b.data).endswith(b"after") and ta.bytes_dropped == 201


async def test_memory_urls_open_through_the_transport_like_any_port() -> None:
    served: list[Recorder] = []

    def serve() -> Recorder:
        served.append(Recorder())
        return served[-1]

    with pytest.raises(PortError, match="memory://nobody"):
        await open_link("memory://nobody", Recorder)
    listener = listen_memory("t-open", serve)
    try:
        with pytest.raises(BridgeUsageError, match="already served"):
            listen_memory("t-open", serve)
        transport, proto = await open_link("memory://t-open", Recorder)
        await _turns()
        assert isinstance(transport, MemoryTransport) and len(served) == 1
        transport.write(b"hello firmware")
        assert served[0].transport is not None
        served[0].transport.write(b"hello host")
        await _turns()
        assert bytes(served[0].data) == b"hello firmware"
        assert bytes(proto.data) == b"hello host"  # type: ignore[attr-defined]
    finally:
        listener.close()
    assert not listener.listening
    with pytest.raises(PortError, match="no memory endpoint"):  # refused, as a closed server
        await open_link("memory://t-open", Recorder)


async def test_the_bridge_talks_to_the_simulated_rig_over_memory() -> None:
    """The same Bridge, LinkProtocol and firmware Link as over a pty: handshake, a
    command and its result, then a pulled cable and the bridge's reconnect."""
    async with Rig(RigConfig(port=MemorySpec("t-bridge"), seed=1)) as rig:
        assert rig.url == "memory://t-bridge"
        async with Bridge(rig.url, BridgeConfig(backoff_initial=0.01,
                                                backoff_max=0.05)) as bridge:
            assert bridge.info is not None and bridge.info.firmware_id == "regolith-rig-sim"
            result = await bridge.command(CommandCode.ENABLE, (1.0,), timeout=2.0)
            assert result.status is ResultStatus.ACCEPTED
            assert rig.firmware.motors_enabled
            assert bridge.connections == 1
            rig.disconnect(0.1)
            async with asyncio.timeout(5):
                while bridge.connections < 2 or not bridge.is_up:
                    await asyncio.sleep(0.01)
            assert bridge.link.counters().crc_errors == 0
