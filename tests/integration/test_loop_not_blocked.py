"""A slow command gate (a replay store waiting on its disk) does not delay the
control loop: the gate runs off the loop's thread."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from types import SimpleNamespace
from typing import Any

from control.runtime.app import RigController
from control.security.command_intake import TrustedLink

from .control_helpers import controller_config, simulator, wait_for

SLOW_S = 0.4  # each admit holds its thread this long, as a slow fsync would


class SlowGate(TrustedLink):
    """The plain gate, with a blocking sleep in it; notes the loop's ticks around it."""

    def __init__(self, ctl_ref: list[RigController]) -> None:
        super().__init__()
        self.ctl_ref = ctl_ref
        self.ticks_during: list[int] = []
        self.threads: set[str] = set()

    def admit(self, raw: bytes, now_wall: float, now_mono: float | None = None):
        self.threads.add(threading.current_thread().name)
        before = self.ctl_ref[0].loop_stats.ticks
        time.sleep(SLOW_S)
        self.ticks_during.append(self.ctl_ref[0].loop_stats.ticks - before)
        return super().admit(raw, now_wall, now_mono)


class FeedDownlink:
    def __init__(self) -> None:
        self.config = SimpleNamespace(broker_url=None)
        self.connected = False
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.acks: list[tuple[str, bool, str]] = []

    def publish_ack(self, cid: str, accepted: bool, reason: str = "") -> None:
        self.acks.append((cid, accepted, reason))

    def link_ok(self, now: float | None = None) -> bool:
        return self.connected

    def __getattr__(self, name: str) -> Any:
        if name.startswith("publish_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    async def commands(self):
        while True:
            yield SimpleNamespace(payload=await self.queue.get())


async def test_a_slow_gate_does_not_stop_the_control_loop() -> None:
    downlink = FeedDownlink()
    ref: list[RigController] = []
    gate = SlowGate(ref)
    async with simulator() as (_rig, url):
        ctl = RigController(controller_config(), url, downlink=downlink, authenticator=gate)
        ref.append(ctl)
        run = asyncio.create_task(ctl.run(max_wall_s=60))
        try:
            await wait_for(lambda: ctl.loop_stats.ticks > 10 or run.done(), 30, "loop running")
            for i in range(3):
                downlink.queue.put_nowait(json.dumps(
                    {"id": f"s{i}", "command": "stop", "ttl_s": 30,
                     "issued_at": time.time()}).encode())
            await wait_for(lambda: len(downlink.acks) == 3 or run.done(), 30, "three acks")
        finally:
            ctl.stop()
            await asyncio.wait_for(run, 30)
    assert [a[0] for a in downlink.acks] == ["s0", "s1", "s2"]  # in order, once each
    assert "MainThread" not in gate.threads
    # while each admit blocked its thread for SLOW_S, the loop kept ticking
    assert all(n > 0 for n in gate.ticks_during), gate.ticks_during
