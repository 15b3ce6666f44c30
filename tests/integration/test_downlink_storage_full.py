"""The rover's card fills while the broker is away (issue 22, part B), end to end.

A real 1.5 MB tmpfs (``tests.small_fs``) holds the outbox; a real Mosquitto goes
away, the card fills, the broker comes back while the card is still full. Before
the fix the downlink stopped for good ("stopped publishing; messages stay in the
outbox") and the ground heard nothing more. Now the ground hears state and events
again within 5 s of the broker's return, and every message the rover dropped is
both reported (``storage_full``/``storage_recovered`` events) and a gap in the
ground's sequence accounting, one for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from telemetry.contract.payloads import (
    BatchBlock,
    EventMessage,
    StateMessage,
    StatsBlock,
    decode,
)
from telemetry.contract.rig_state import RigState
from telemetry.ground.fleet import FleetModel
from telemetry.ground.subscription import run_subscription
from telemetry.mqtt.adapter import InboundMessage, MqttSettings
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

BACK_WITHIN_S = 5.0


class Ground:
    """The ground's own accounting (``FleetModel``) and when each kind last arrived."""

    def __init__(self) -> None:
        self.fleet = FleetModel("regolith")
        self.arrived: dict[str, float] = {}

    def handle(self, message: InboundMessage) -> None:
        now = time.monotonic()
        if self.fleet.handle(message, now) is None:
            return
        decoded = decode(message.payload)
        if isinstance(decoded, StateMessage | EventMessage) and not decoded.envelope.historical:
            self.arrived[type(decoded).__name__] = now

    def reported_drops(self) -> int:
        view = self.fleet.rigs["rig-1"]
        total = 0
        for ev in view.events:
            if ev.kind in ("storage_full", "storage_recovered"):
                total += int(ev.fields["dropped_count"])
            elif ev.kind == "outbox_evicted":
                total += sum(int(r["count"]) for r in ev.fields["evicted"])
        return total

    def kinds(self) -> list[str]:
        return [ev.kind for ev in self.fleet.rigs["rig-1"].events]

    def gaps(self) -> int:
        return sum(s.gaps for s in self.fleet.accounting.streams.values())


@contextlib.asynccontextmanager
async def listening(url: str, ground: Ground) -> AsyncIterator[None]:
    """A reconnecting ground subscriber with a persistent session (the broker keeps
    what arrives while the ground is reconnecting)."""
    settings = MqttSettings.from_url(url, client_id="ground-1", persistent_session=True,
                                     protocol="5")
    links: list[bool] = []
    stop = asyncio.Event()
    task = asyncio.create_task(run_subscription(
        settings, ["regolith/rig-1/#"], ground.handle, stop=stop, on_link=links.append),
        name="test-ground")
    try:
        await wait_until(lambda: bool(links) or task.done(), 10, "subscription")
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_a_full_card_and_a_broker_outage(mosquitto_factory, small_filesystem) -> None:
    fs = small_filesystem
    broker = mosquitto_factory(persistence=True)
    config = DownlinkConfig(rig_id="rig-1", outbox_path=Path(fs.path) / "o.db",
                            broker_url=broker.url, reconnect_initial_s=0.05,
                            reconnect_cap_s=0.3, historical_after_s=1.0, event_throttle_s=0,
                            free_space_floor_bytes=0, storage_memory_bytes=256 * 1024)
    ground = Ground()
    samples = np.ones((250, 2), np.float32)  # 2 KB a batch
    produced = 0
    stop = asyncio.Event()

    async def produce(dl: Downlink) -> None:
        nonlocal produced
        while not stop.is_set():
            i = produced
            dl.publish_state(RigState(mode="idle", storage=dl.storage_status()))
            dl.publish_batch(BatchBlock("a", ["x", "y"], ["m", "m"], float(i), 0.01, samples))
            dl.publish_stats(StatsBlock("a", ["x", "y"], ["m", "m"], float(i), 1.0, 250,
                                        {"mean": np.ones(2)}))
            if i % 10 == 0:
                dl.publish_event("tick", "info", f"tick {i}")
            produced += 1
            await asyncio.sleep(0.02)

    async with listening(broker.url, ground):
        async with Downlink(config) as dl, asyncio.TaskGroup() as tg:
            await asyncio.wait_for(dl.wait_connected(), 10)
            tg.create_task(produce(dl), name="producer")
            await wait_until(lambda: "StateMessage" in ground.arrived, 10, "live state")
            broker.stop()
            fs.fill()
            await wait_until(lambda: dl.storage_status().full, 15, "storage-full mode")
            at = produced
            await wait_until(lambda: dl.storage_status().dropped > 0 and produced > at + 50,
                             20, "drops while the broker is away")
            broker.start()
            back = time.monotonic()
            await wait_until(lambda: all(ground.arrived.get(k, 0) > back for k in
                                         ("StateMessage", "EventMessage")),
                             BACK_WITHIN_S + 10, "state and events after the broker's return")
            took = max(ground.arrived["StateMessage"], ground.arrived["EventMessage"]) - back
            assert took <= BACK_WITHIN_S, f"ground heard the rover {took:.1f} s after return"
            assert dl.storage_status().full  # ...while the card was still full
            assert "storage_full" in ground.kinds()
            fs.free()
            await wait_until(lambda: not dl.storage_status().full, 15, "storage recovered")
            at = produced
            await wait_until(lambda: produced > at + 50, 10, "traffic after the recovery")
            stop.set()
        await wait_until(lambda: "storage_recovered" in ground.kinds(), 15,
                         "the recovery event on the ground")
        await wait_until(lambda: ground.gaps() == ground.reported_drops(), 15,
                         f"gaps {ground.gaps()} == reported drops {ground.reported_drops()}")
    assert ground.reported_drops() > 0


async def test_a_card_full_before_the_start_still_gives_a_live_downlink(
        mosquitto, small_filesystem) -> None:
    fs = small_filesystem
    fs.fill()  # full before the first run: the outbox cannot even create its database
    config = DownlinkConfig(rig_id="rig-1", outbox_path=Path(fs.path) / "o.db",
                            broker_url=mosquitto.url, event_throttle_s=0,
                            free_space_floor_bytes=0)
    ground = Ground()
    async with listening(mosquitto.url, ground), Downlink(config) as dl:
        await asyncio.wait_for(dl.wait_connected(), 10)
        dl.publish_state(RigState(mode="idle"))
        await wait_until(lambda: "StateMessage" in ground.arrived, 10, "live state")
        await wait_until(lambda: "storage_full" in ground.kinds(), 10, "the storage alarm")
    errnos = [ev.fields.get("errno") for ev in ground.fleet.rigs["rig-1"].events
              if ev.kind == "storage_full"]
    assert "ENOSPC" in errnos
