"""The lockstep soak's parts (bench_soak.py): the fault schedule and the downlink bridge.

Each mission of the lockstep soak is a ``rig_bench.lockstep.LockstepRunner``:
the service's ``RigController`` against the simulator's ``Rig`` over the
in-memory link, in simulated time, on the runner's own event loop in a worker
thread. The faults are the simulator's own (``Rig.inject``: a rock, sensor
spikes, a pulled cable the bridge reconnects after, a firmware reset, a stuck
sensor), injected when the soak's schedule says.

``FaultClock`` holds that schedule in soak time (simulated seconds since the
soak began, across missions) and hands each due fault to the mission that is
flying then.

``ThreadedDownlink`` is the one downlink of the soak (a real ``Downlink``, its
outbox and the broker connection, on the main thread's loop, in real time) as
the ``DownlinkPort`` of each mission's controller: every publish is handed to
the main loop (``call_soon_threadsafe``; arrays are copied, the feed reuses
its buffers); the ground-link health is the downlink's own, on its own clock;
no ground commands come up.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from control.core.events import Severity
from control.runtime.downlink_port import DownlinkSettings, UplinkMessage
from sim_hw.scenario import Fault, parse_fault
from telemetry.rover.downlink import Downlink

__all__ = ["FAULTS", "FaultClock", "ThreadedDownlink", "fault_kinds"]

# what the soak injects, in turn (the simulator's --fault grammar, without a time:
# each is injected when it falls due)
FAULTS = ("rock:torque=250", "spikes:channel=drum_current,duration=5", "disconnect:duration=3",
          "reset:reason=watchdog", "stuck:channel=vibration,duration=120")


def fault_kinds() -> tuple[str, ...]:
    return tuple(f.split(":")[0] for f in FAULTS)


class FaultClock:
    """The soak's faults: one every *every_s* soak seconds from *first_s*, in turn."""

    def __init__(self, first_s: float, every_s: float) -> None:
        self.next_at = first_s
        self.every = every_s
        self.injected: dict[str, int] = {}
        self._i = 0

    def due(self, soak_t: float) -> list[Fault]:
        out = []
        while soak_t >= self.next_at:
            spec = FAULTS[self._i % len(FAULTS)]
            self._i += 1
            self.next_at += self.every
            fault = parse_fault(spec)
            self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
            out.append(fault)
        return out


class ThreadedDownlink:
    """A ``DownlinkPort`` on the runner's thread for a ``Downlink`` on *loop*'s (see the
    module docstring)."""

    def __init__(self, downlink: Downlink, loop: asyncio.AbstractEventLoop) -> None:
        self.downlink = downlink
        self.loop = loop

    @property
    def config(self) -> DownlinkSettings:
        return self.downlink.config

    @property
    def connected(self) -> bool:
        return self.downlink.connected

    def link_ok(self, now: float | None = None) -> bool:
        return self.downlink.link_ok()  # its clock, not the caller's simulated one

    def _hand_over(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        self.loop.call_soon_threadsafe(lambda: fn(*args, **kwargs))

    def publish_state(self, state: Mapping[str, Any]) -> None:
        self._hand_over(self.downlink.publish_state, dict(state))

    def publish_event(self, kind: str, severity: Severity, text: str, **fields: Any) -> None:
        self._hand_over(self.downlink.publish_event, kind, severity, text, **fields)

    def publish_batch(self, stream: str, channels: Sequence[str], units: Sequence[str],
                      t0_rig: float, period_s: float, samples: np.ndarray) -> None:
        self._hand_over(self.downlink.publish_batch, stream, tuple(channels), tuple(units),
                        t0_rig, period_s, np.array(samples, copy=True))

    def publish_stats(self, stream: str, channels: Sequence[str], units: Sequence[str],
                      t0_rig: float, window_s: float, count: int,
                      values: Mapping[str, np.ndarray]) -> None:
        self._hand_over(self.downlink.publish_stats, stream, tuple(channels), tuple(units),
                        t0_rig, window_s, count,
                        {k: np.array(v, copy=True) for k, v in values.items()})

    def publish_ack(self, command_id: str, accepted: bool, reason: str = "") -> None:
        self._hand_over(self.downlink.publish_ack, command_id, accepted, reason)

    def publish_public(self, name: str, topic: str, payload: bytes, *,
                       retain: bool = True) -> None:
        self._hand_over(self.downlink.publish_public, name, topic, bytes(payload),
                        retain=retain)

    def publish_ledger(self, record: Mapping[str, Any]) -> None:
        self._hand_over(self.downlink.publish_ledger, dict(record))

    async def commands(self) -> AsyncIterator[UplinkMessage]:
        await asyncio.Event().wait()  # none in the soak: wait until cancelled
        return
        yield  # an async generator
