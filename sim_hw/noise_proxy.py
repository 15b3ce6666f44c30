"""A noisy cable between the controller and a rig: a serial proxy that garbles bytes.

``NoiseProxy(upstream_url, noise)`` opens the rig's port (a pty path,
``socket://host:port`` or a real device: anything pyserial opens) and exposes a
new pseudo-terminal for the controller. Bytes cross in both directions through
``LineNoise`` (``line_noise.py``), one independent model per direction. It works
in front of the simulator and in front of real firmware on a bench alike.

With ``usb=UsbSerialConfig(...)`` (CLI ``--usb``) the proxy is also a
USB-serial adapter (``usb_serial.py``, docs/protocol.md section 1.1): the
bytes towards the controller arrive in 64-byte packets after the latency
timer (16 ms by default), with jitter; the noise applies first, on the
serial side of the chip.

Only bytes move here. When the rig's side closes (a simulator restart, a cable
pull) the proxy reconnects with capped, jittered backoff; the controller's pty
stays where it is, as a real cable's far end would. ``set_noise`` changes the
noise while running (a chaos test ramps it up and down).

CLI: ``rig-noise-proxy UPSTREAM --noise 0.005 [--usb [--latency-ms 16]
[--usb-jitter-ms 1]] [--link PATH] [--seed N]`` prints ``READY <pty>`` and
runs until SIGINT/SIGTERM.
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
from .usb_serial import UsbSerialConfig, UsbSerialLine

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
                 link_path: str | None = None, baudrate: int = 3_000_000,
                 usb: UsbSerialConfig | None = None) -> None:
        self.upstream_url = upstream_url
        self.baudrate = baudrate
        up_seed, down_seed, usb_up, usb_down = np.random.SeedSequence(seed).spawn(4)
        self.to_rig = LineNoise(noise, np.random.default_rng(up_seed))
        self.to_host = LineNoise(noise, np.random.default_rng(down_seed))
        self.usb = usb
        # the adapter's two directions (None: a plain UART, bytes pass at once)
        self.usb_to_host: UsbSerialLine | None = None
        self.usb_to_rig: UsbSerialLine | None = None
        if usb is not None:
            self.usb_to_host = usb.device_to_host(np.random.default_rng(usb_down))
            self.usb_to_rig = usb.host_to_device(np.random.default_rng(usb_up))
        self._usb_timers: dict[str, asyncio.TimerHandle] = {}
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
        for timer in self._usb_timers.values():
            timer.cancel()
        self._usb_timers.clear()
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
        if self.usb_to_rig is not None:
            self._usb_feed("to_rig", self.usb_to_rig, data)
        else:
            self._write_rig(data)

    def _write_rig(self, data: bytes) -> None:
        rig = self._rig.transport if self._rig is not None else None
        garbled = self.to_rig.apply(data)
        if rig is not None and not rig.is_closing():
            rig.write(garbled)

    def _from_rig(self, data: bytes) -> None:
        garbled = self.to_host.apply(data)  # on the UART, before the adapter packs it
        if self.usb_to_host is not None:
            self._usb_feed("to_host", self.usb_to_host, garbled)
        elif self._host_transport is not None:
            self._host_transport.write(garbled)

    def _write_host(self, data: bytes) -> None:
        if self._host_transport is not None:
            self._host_transport.write(data)

    # --- the USB adapter's timing (usb_serial.py) -------------------------------------

    def _usb_feed(self, key: str, line: UsbSerialLine, data: bytes) -> None:
        line.feed(data, asyncio.get_running_loop().time())
        self._usb_service(key, line)

    def _usb_service(self, key: str, line: UsbSerialLine) -> None:
        loop = asyncio.get_running_loop()
        out = line.poll(loop.time())
        if out:
            (self._write_host if key == "to_host" else self._write_rig)(out)
        old = self._usb_timers.pop(key, None)
        if old is not None:
            old.cancel()
        due = line.next_due()
        if due is not None:
            self._usb_timers[key] = loop.call_at(due, self._usb_service, key, line)

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
    p.add_argument("--usb", action="store_true",
                   help="behave as a USB-serial adapter towards the controller: 64-byte "
                        "packets after a latency timer, with jitter (docs/protocol.md section 1.1)")
    p.add_argument("--latency-ms", type=float, default=16.0,
                   help="the adapter's latency timer, 1..16 ms on common chips (default 16, "
                        "the FTDI default; a deployment sets 1)")
    p.add_argument("--usb-jitter-ms", type=float, default=1.0,
                   help="host scheduling delay per USB packet, uniform in [0, this] ms")
    p.add_argument("--packet-bytes", type=int, default=64, help="USB packet size (64)")
    p.add_argument("--link", metavar="PATH", help="a stable symlink to the exposed pty")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baud", type=int, default=3_000_000)
    return p


async def _run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    usb = None
    if args.usb:
        usb = UsbSerialConfig(packet_bytes=args.packet_bytes, latency_ms=args.latency_ms,
                              jitter_ms=args.usb_jitter_ms)
    async with NoiseProxy(args.upstream, args.noise, seed=args.seed, link_path=args.link,
                          baudrate=args.baud, usb=usb) as proxy:
        print(f"READY {proxy.url}", flush=True)
        await stop.wait()
        log.info("to rig %s; to host %s", dict(proxy.to_rig.counters),
                 dict(proxy.to_host.counters))


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        if args.usb:  # checked before anything opens: a bad value is a usage error
            UsbSerialConfig(packet_bytes=args.packet_bytes, latency_ms=args.latency_ms,
                            jitter_ms=args.usb_jitter_ms)
    except SimError as err:
        print(f"rig-noise-proxy: {err}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_run(args))
    except ConnectionError as err:
        print(f"rig-noise-proxy: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
