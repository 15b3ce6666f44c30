"""How the simulated firmware is exposed: a pty, a TCP server, a real serial port or
an in-memory endpoint (``memory://NAME``, for lockstep runs in one process).

Each exposure opens its port, hands every connection to a protocol made by
the factory it was given, and can be unplugged and plugged again (the
``disconnect`` fault): the pty closes both ends and re-opens a new pty behind
the same symlink; the TCP server drops its client and stops listening, so
connections are refused, then listens again on the same port; the serial
port is closed and re-opened; the in-memory endpoint behaves as the TCP
server. Only bytes move here; the rig decides.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.fdtransport import FdTransport
from firmware_bridge.memory import MemoryListener, listen_memory
from firmware_bridge.pty import PtyPort
from firmware_bridge.transport import LinkProtocol, open_link

log = logging.getLogger(__name__)

ProtocolFactory = Callable[[], LinkProtocol]


@dataclass(frozen=True, slots=True)
class PtySpec:
    link: str | None = None  # stable symlink to the pty slave


@dataclass(frozen=True, slots=True)
class TcpSpec:
    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port


@dataclass(frozen=True, slots=True)
class SerialSpec:
    device: str
    baudrate: int = 3_000_000


@dataclass(frozen=True, slots=True)
class MemorySpec:
    name: str  # served as memory://NAME in this process (firmware_bridge.memory)


PortSpec = PtySpec | TcpSpec | SerialSpec | MemorySpec


class Exposure:
    url: str = ""

    async def open(self) -> str:
        raise NotImplementedError

    def unplug(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        self.unplug()


class PtyExposure(Exposure):
    def __init__(self, spec: PtySpec, factory: ProtocolFactory) -> None:
        self.port = PtyPort(spec.link)
        self.factory = factory
        self.transport: FdTransport | None = None

    async def open(self) -> str:
        fd = self.port.open()
        self.transport = FdTransport(asyncio.get_running_loop(), fd, self.factory())
        self.url = self.port.path
        return self.url

    def unplug(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self.port.close()


class TcpExposure(Exposure):
    def __init__(self, spec: TcpSpec, factory: ProtocolFactory) -> None:
        self.host = spec.host
        self.port = spec.port
        self.factory = factory
        self.server: asyncio.Server | None = None
        self._clients: list[LinkProtocol] = []

    def _make(self) -> LinkProtocol:
        proto = self.factory()
        self._clients = [p for p in self._clients if p.transport is not None]
        self._clients.append(proto)
        return proto

    async def open(self) -> str:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._make, self.host, self.port,
                                               reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        self.url = f"socket://{self.host}:{self.port}"
        return self.url

    def unplug(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for p in self._clients:
            p.close()
        self._clients.clear()


class SerialExposure(Exposure):
    def __init__(self, spec: SerialSpec, factory: ProtocolFactory) -> None:
        self.spec = spec
        self.factory = factory
        self.transport: asyncio.Transport | None = None

    async def open(self) -> str:
        self.transport, _ = await open_link(self.spec.device, self.factory,
                                            baudrate=self.spec.baudrate)
        self.url = self.spec.device
        return self.url

    def unplug(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


class MemoryExposure(Exposure):
    """``memory://NAME``: like the TCP server, one listener and the clients it made."""

    def __init__(self, spec: MemorySpec, factory: ProtocolFactory) -> None:
        self.name = spec.name
        self.factory = factory
        self.listener: MemoryListener | None = None
        self._clients: list[LinkProtocol] = []

    def _make(self) -> LinkProtocol:
        proto = self.factory()
        self._clients = [p for p in self._clients if p.transport is not None]
        self._clients.append(proto)
        return proto

    async def open(self) -> str:
        self.listener = listen_memory(self.name, self._make)
        self.url = self.listener.url
        return self.url

    def unplug(self) -> None:
        if self.listener is not None:
            self.listener.close()
            self.listener = None
        for p in self._clients:
            p.close()
        self._clients.clear()


def make_exposure(spec: PortSpec, factory: ProtocolFactory) -> Exposure:
    if isinstance(spec, PtySpec):
        return PtyExposure(spec, factory)
    if isinstance(spec, TcpSpec):
        return TcpExposure(spec, factory)
    if isinstance(spec, MemorySpec):
        return MemoryExposure(spec, factory)
    return SerialExposure(spec, factory)
