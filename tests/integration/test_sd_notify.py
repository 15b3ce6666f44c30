"""systemd notification over a real AF_UNIX datagram NOTIFY_SOCKET.

The test plays systemd: it binds the notify socket, passes ``NOTIFY_SOCKET`` and
``WATCHDOG_USEC`` to the controller's notifier, runs the controller against the
simulator and records every datagram with its arrival time. systemd restarts the
service when two WATCHDOG=1 are further apart than ``WatchdogSec``; the
controller pings every ``WatchdogSec / 2``.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from control.runtime.app import RigController
from control.runtime.sd_notify import SdNotifier

from .control_helpers import SMALL_MISSION, controller_config, simulator, wait_for

WATCHDOG_S = 2.0  # WatchdogSec
PING_S = WATCHDOG_S / 2


@contextmanager
def notify_socket(address: str) -> Iterator[list[tuple[float, str]]]:
    """A bound datagram socket; received (monotonic time, text) pairs go into the list."""
    got: list[tuple[float, str]] = []
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()

    def readable() -> None:
        while True:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                return
            got.append((time.monotonic(), data.decode()))

    loop.add_reader(sock.fileno(), readable)
    try:
        yield got
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()


async def test_ready_then_watchdog_at_half_the_period_then_stopping_and_closed(
        tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with notify_socket(path) as got:
        notifier = SdNotifier({"NOTIFY_SOCKET": path,
                               "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))})
        assert notifier.enabled and notifier.watchdog_interval == PING_S
        async with simulator() as (_rig, url):
            ctl = RigController(controller_config(), url, SMALL_MISSION, notifier=notifier)
            task = asyncio.create_task(ctl.run(max_wall_s=60.0))
            await wait_for(lambda: sum(m == "WATCHDOG=1" for _, m in got) >= 5, 20.0,
                           "five watchdog pings")
            ctl.stop()
            await asyncio.wait_for(task, 20.0)
        await wait_for(lambda: got and got[-1][1] == "STOPPING=1", 5.0, "STOPPING=1")
    texts = [m for _, m in got]
    assert texts[0].startswith("READY=1\nSTATUS=controlling ")
    assert texts[-1] == "STOPPING=1" and texts.count("STOPPING=1") == 1
    assert set(texts[1:-1]) == {"WATCHDOG=1"}
    pings = [t for t, m in got if m == "WATCHDOG=1"]
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    # never more often than every WatchdogSec/2 (a little arrival jitter allowed), never
    # as late as WatchdogSec: systemd would have restarted the service
    assert min(gaps) >= PING_S - 0.05, gaps
    assert max(gaps) < WATCHDOG_S, gaps
    # the notify socket is closed on shutdown: nothing more can be sent
    assert not notifier.enabled
    assert notifier.notify("WATCHDOG=1") is False


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    n = SdNotifier({})
    assert not n.enabled and n.watchdog_interval is None
    assert n.ready() is False and n.watchdog() is False and n.stopping() is False
    n.close()


def test_the_watchdog_belongs_to_the_pid_systemd_named(tmp_path: Path) -> None:
    env = {"NOTIFY_SOCKET": str(tmp_path / "n.sock"), "WATCHDOG_USEC": "500000"}

    def interval(**over: str) -> float | None:
        n = SdNotifier({**env, **over})
        n.close()
        return n.watchdog_interval

    assert interval(WATCHDOG_PID=str(os.getpid())) == 0.25
    assert interval(WATCHDOG_PID=str(os.getpid() + 1)) is None
    assert interval(WATCHDOG_USEC="0") is None
    assert interval(WATCHDOG_USEC="soon") is None


def test_abstract_namespace_socket(tmp_path: Path) -> None:
    name = f"rig-control-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        n = SdNotifier({"NOTIFY_SOCKET": "@" + name})
        try:
            assert n.ready("up")
            assert sock.recv(100) == b"READY=1\nSTATUS=up"
        finally:
            n.close()
