"""A noisy cable between the controller and a rig: a serial proxy that garbles bytes.

``NoiseProxy(upstream_url, noise)`` opens the rig's port (a pty path,
``socket://host:port`` or a real device: anything pyserial opens) and exposes a
new pseudo-terminal for the controller. Bytes cross in both directions through
``LineNoise`` (``line_noise.py``), one independent model per direction. It works
in front of the simulator and in front of real firmware on a bench alike.

Only bytes move here. When the rig's side closes (a simulator restart, a cable
pull) the proxy reconnects with capped, jittered backoff; the controller's pty
stays where it is, as a real cable's far end would. ``set_noise`` changes the
noise while running (a chaos test ramps it up and down).

CLI: ``rig-noise-proxy UPSTREAM --noise 0.005 [--link PATH] [--seed N]`` prints
``READY <pty>`` and runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence

import numpy as np
import serial
import serial_asyncio_fast

from firmware_bridge.fdtransport import FdTransport
from firmware_bridge.pty import PtyPort
from rig_common.backoff import Backoff

from .errors import SimError
from .line_noise import LineNoise, NoiseConfig, parse_noise

__all__ = ["NoiseProxy", "main"]

log = logging.getLogger(__name__)


class _Pipe(asyncio.Protocol):
    """One end of the proxy: hands what it reads to a callback; notes when it is gone."""

    def __init__(self, on_data: Callable[[bytes], None],
                 on_lost: Callable[[], None] | None = None) -> None:
        self.on_data = on_data
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.on_lost is not None:
            self.on_lost()


class NoiseProxy:
    """See the module docstring. Use as ``async with NoiseProxy(url, cfg) as proxy:``."""

    def __init__(self, upstream_url: str, noise: NoiseConfig, *, seed: int = 0,
                 link_path: str | None = None, baudrate: int = 3_000_000) -> None:
        self.upstream_url = upstream_url
        self.baudrate = baudrate
        up_seed, down_seed = np.random.SeedSequence(seed).spawn(2)
        self.to_rig = LineNoise(noise, np.random.default_rng(up_seed))
        self.to_host = LineNoise(noise, np.random.default_rng(down_seed))
        self.port = PtyPort(link_path)
        self.reconnects = 0
        self._host: _Pipe | None = None
        self._host_transport: FdTransport | None = None
        self._rig: _Pipe | None = None
        self._up_lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The pty (or its symlink) the controller opens."""
        return self.port.path

    def set_noise(self, noise: NoiseConfig) -> None:
        self.to_rig.reconfigure(noise)
        self.to_host.reconfigure(noise)

    async def __aenter__(self) -> NoiseProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> str:
        loop = asyncio.get_running_loop()
        self._host = _Pipe(self._from_host)
        fd = self.port.open()
        self._host_transport = FdTransport(loop, fd, self._host)
        await self._connect_upstream()
        self._task = asyncio.create_task(self._keep_upstream(), name="noise-proxy:upstream")
        return self.url

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._rig is not None and self._rig.transport is not None:
            self._rig.transport.close()
        if self._host_transport is not None:
            self._host_transport.close()
            self._host_transport = None
        self.port.close()

    # --- byte paths ----------------------------------------------------------------

    def _from_host(self, data: bytes) -> None:
        rig = self._rig.transport if self._rig is not None else None
        garbled = self.to_rig.apply(data)
        if rig is not None and not rig.is_closing():
            rig.write(garbled)

    def _from_rig(self, data: bytes) -> None:
        if self._host_transport is not None:
            self._host_transport.write(self.to_host.apply(data))

    # --- upstream connection ---------------------------------------------------------

    async def _connect_upstream(self) -> None:
        loop = asyncio.get_running_loop()
        self._up_lost.clear()
        pipe = _Pipe(self._from_rig, self._up_lost.set)
        try:
            await serial_asyncio_fast.create_serial_connection(
                loop, lambda: pipe, self.upstream_url, baudrate=self.baudrate,
                timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as err:
            self._up_lost.set()
            raise ConnectionError(f"cannot open {self.upstream_url!r}: {err}") from err
        self._rig = pipe

    async def _keep_upstream(self) -> None:
        backoff = Backoff(initial=0.05, cap=1.0)
        while True:
            await self._up_lost.wait()
            log.warning("noise proxy: %s closed; reconnecting", self.upstream_url)
            while True:
                await asyncio.sleep(backoff.next_delay())
                try:
                    await self._connect_upstream()
                except ConnectionError as err:
                    log.info("noise proxy: %s", err)
                    continue
                self.reconnects += 1
                backoff.reset()
                log.info("noise proxy: %s reconnected", self.upstream_url)
                break


def _noise_arg(text: str) -> NoiseConfig:
    try:
        return parse_noise(text)
    except SimError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rig-noise-proxy",
        description="A noisy serial cable: exposes a pty and forwards to UPSTREAM (a pty, "
                    "socket://HOST:PORT or a device), garbling bytes both ways.")
    p.add_argument("upstream", help="the rig's port, as pyserial opens it")
    p.add_argument("--noise", type=_noise_arg, default=NoiseConfig(), metavar="SPEC",
                   help="a total byte error rate split over bit flips, drops, duplicates and "
                        "insertions (e.g. 0.005), or bit_flip=..,drop=..,duplicate=..,"
                        "insert=..,burst=..,burst_len=N")
    p.add_argument("--link", metavar="PATH", help="a stable symlink to the exposed pty")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baud", type=int, default=3_000_000)
    return p


async def _run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with NoiseProxy(args.upstream, args.noise, seed=args.seed, link_path=args.link,
                          baudrate=args.baud) as proxy:
        print(f"READY {proxy.url}", flush=True)
        await stop.wait()
        log.info("to rig %s; to host %s", dict(proxy.to_rig.counters),
                 dict(proxy.to_host.counters))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        asyncio.run(_run(args))
    except ConnectionError as err:
        print(f"rig-noise-proxy: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
