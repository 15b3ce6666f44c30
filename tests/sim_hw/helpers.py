"""Shared helpers for the simulator's integration tests (real ports, explicit deadlines)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from firmware_bridge.bridge import Bridge, BridgeConfig
from firmware_bridge.errors import LinkDownError
from firmware_bridge.link import Link, LinkEvent, MessageReceived, Role
from firmware_bridge.messages import Event, SampleBatch
from sim_hw import PtySpec, Rig, RigConfig, TcpSpec


def port_spec(kind: str, tmp_path: Any) -> PtySpec | TcpSpec:
    return PtySpec(str(tmp_path / "rig-port")) if kind == "pty" else TcpSpec()


@contextlib.asynccontextmanager
async def running(config: RigConfig) -> AsyncIterator[Rig]:
    rig = Rig(config)
    await rig.start()
    try:
        yield rig
    finally:
        await rig.stop()


@contextlib.asynccontextmanager
async def bridged(config: RigConfig) -> AsyncIterator[tuple[Rig, Bridge]]:
    async with running(config) as rig:
        assert rig.url is not None
        async with Bridge(rig.url, BridgeConfig(connect_timeout=5.0)) as bridge:
            yield rig, bridge


async def wait_event(bridge: Bridge, pred: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    """The first bridge event matching *pred*, or TimeoutError after *timeout* s."""
    async with asyncio.timeout(timeout):
        async for ev in bridge.events():
            if pred(ev):
                return ev
    raise AssertionError("unreachable")


def is_batch(stream: int = 0) -> Callable[[Any], bool]:
    return lambda ev: (isinstance(ev, MessageReceived) and isinstance(ev.message, SampleBatch)
                       and ev.message.stream_id == stream)


def is_event(code: int) -> Callable[[Any], bool]:
    return lambda ev: (isinstance(ev, MessageReceived) and isinstance(ev.message, Event)
                       and ev.message.code == code)


async def poll(cond: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def streaming_setpoints(bridge: Bridge, speed: float, depth: float,
                              period: float = 0.02) -> AsyncIterator[None]:
    async def run() -> None:
        while True:
            with contextlib.suppress(LinkDownError):
                bridge.send_setpoints(speed, depth, ttl=0.2)
            await asyncio.sleep(period)

    task = asyncio.create_task(run(), name="test:setpoints")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class RawHost:
    """A host end without Bridge: a sans-I/O Link over a TCP stream, pumped by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.link = Link(Role.HOST)
        self.events: list[LinkEvent] = []

    @classmethod
    async def open(cls, url: str) -> RawHost:
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    def write_raw(self, data: bytes) -> None:
        self.writer.write(data)

    def flush(self) -> None:
        out = self.link.data_to_send()
        if out:
            self.writer.write(out)

    async def run(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), 0.01)
            except TimeoutError:
                data = b""
            now = loop.time()
            if data:
                self.link.receive_data(data, now)
            self.link.handle_timer(now)
            self.flush()
            while (ev := self.link.next_event()) is not None:
                self.events.append(ev)
            if until is not None and until():
                return True
        return False

    def messages(self, kind: type) -> list[Any]:
        return [e.message for e in self.events
                if isinstance(e, MessageReceived) and isinstance(e.message, kind)]

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()
