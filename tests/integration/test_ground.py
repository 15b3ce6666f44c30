"""Ground tools against a real Mosquitto: malformed input, shared recorders, report, plot."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import cbor2
import numpy as np
import pytest

from telemetry.contract.payloads import BatchBlock, Envelope, StateMessage, encode
from telemetry.contract.rig_state import RigState
from telemetry.contract.status_info import RigInfo
from telemetry.ground.cli import main as ground_main
from telemetry.ground.record import Recorder, record
from telemetry.ground.report import build_report
from telemetry.ground.store_writer import StoreWriter
from telemetry.ground.stores import open_store
from telemetry.ground.watch import WatchModel
from telemetry.mqtt.adapter import InboundMessage, MqttSettings, connect
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import wait_until

GARBAGE = [
    ("regolith/rig-1/batch/load", b'{"not": "cbor"}'),
    ("regolith/rig-1/batch/load", b"\xa1\x61a\xd8\x28\x82\x81\x05\xd8\x55\x43abc"),  # bad array
    ("regolith/rig-1/state", cbor2.dumps({"historical": False})),
    ("regolith/rig-1/event/alarm", bytes(range(256))),
    ("regolith/rig-1/state", b""),
    ("regolith/rig-1/state", encode(StateMessage(Envelope("rig-2", 1, 0, 0.0, 0.0), RigState()))),
    ("regolith/rig-1/nonsense", b"{}"),
    ("regolith/rig-1/stats/x", b"\xff" * 1000),
    ("regolith/rig-1/ack", b'{"historical":false,"resend":false,"v":99}'),
]


def settings(url: str) -> MqttSettings:
    return MqttSettings.from_url(url, protocol="5")


async def start_recorder(url: str, path: Path, shared: str | None = None
                         ) -> tuple[asyncio.Event, asyncio.Task[Recorder], list[float],
                                    Callable[[], int]]:
    """Start a recorder and return once it is subscribed: its stop, task, receive stamps
    (every message, the rig's status included) and its count of unique data messages."""
    stop = asyncio.Event()
    stamps: list[float] = []
    links: list[bool] = []
    writers: list[StoreWriter] = []

    def clock() -> float:
        stamps.append(time.time())
        return stamps[-1]

    task = asyncio.create_task(record(settings(url), path, prefix="regolith", rig=None,
                                      shared=shared, stop=stop, clock=clock,
                                      on_link=links.append, on_writer=writers.append),
                               name=f"recorder-{path.name}")
    await wait_until(lambda: links == [True] or task.done(), 10, f"{path.name} subscribed")
    return stop, task, stamps, lambda: sum(w.recorder.accounting.totals()["unique"]
                                           for w in writers)


async def publish_run(url: str, tmp_path: Path, n: int) -> None:
    config = DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "rig.db", broker_url=url,
                            event_throttle_s=0)
    t = np.linspace(0, 1, 100)
    async with Downlink(config) as dl:
        dl.publish_birth(RigInfo.from_json({"software_version": "0.1.0"}))
        await asyncio.wait_for(dl.wait_connected(), 10)
        for i in range(n):
            raw = np.column_stack([np.sin(t + i), 0.1 * i + t]).astype(np.float32)
            dl.publish_batch(BatchBlock("load_raw", ["force", "mass_excavated"], ["N", "kg"], i,
                                        0.01, raw))
            dl.publish_batch(BatchBlock("load", ["force", "mass_excavated"], ["N", "kg"], i, 0.01,
                             raw * 0.9))
            dl.publish_state(RigState.from_json({"mode": ["idle", "digging", "dumping"][i % 3],
                              "mass_excavated_kg": 0.1 * i}))
            dl.publish_event("overload", "alarm", "drum overload", i=i)
        await wait_until(lambda: dl.counters.outbox_depth == 0, 10, "rig drained")


async def test_malformed_payloads_are_counted_and_ignored(mosquitto, tmp_path: Path) -> None:
    path = tmp_path / "rec.db"
    stop, task, stamps, _ = await start_recorder(mosquitto.url, path)
    async with connect(settings(mosquitto.url)) as evil:
        for topic, payload in GARBAGE:
            await evil.publish(topic, payload, qos=1)
    await publish_run(mosquitto.url, tmp_path, 5)
    await wait_until(lambda: len(stamps) >= len(GARBAGE) + 21, 10, "everything recorded")
    stop.set()
    recorder = await asyncio.wait_for(task, 10)
    assert recorder.accounting.malformed == len(GARBAGE)
    totals = recorder.accounting.totals()
    assert (totals["unique"], totals["gaps"], totals["duplicates"]) == (20, 0, 0)
    store = await open_store(path)
    assert await store.malformed_count() == len(GARBAGE)
    await store.close()
    # The live view takes the same garbage without raising.
    model = WatchModel("regolith")
    for topic, payload in GARBAGE:
        model.handle(InboundMessage(topic, payload, 1, False), 0.0)
    assert model.accounting.malformed == len(GARBAGE)
    model.render()


async def test_two_shared_recorders_split_the_load_without_double_counting(
        mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    stop_a, task_a, _, unique_a = await start_recorder(mosquitto.url, a, shared="ground")
    stop_b, task_b, _, unique_b = await start_recorder(mosquitto.url, b, shared="ground")
    n = 30
    await publish_run(mosquitto.url, tmp_path, n)
    # 4 * n data messages; the receive stamps would also count the rig's live status
    # messages, and stop the recorders before the last data arrived
    await wait_until(lambda: unique_a() + unique_b() >= 4 * n, 10, "all recorded")
    stop_a.set()
    stop_b.set()
    rec_a, rec_b = await asyncio.wait_for(asyncio.gather(task_a, task_b), 10)
    got_a, got_b = rec_a.accounting.totals()["unique"], rec_b.accounting.totals()["unique"]
    assert got_a > 0 and got_b > 0, "the broker must hand each recorder a share"
    assert got_a + got_b == 4 * n  # disjoint shares
    reports, malformed = await build_report([a, b])
    by = {r.stream: r for r in reports}
    assert malformed == 0
    assert set(by) == {"batch/load", "batch/load_raw", "state", "event"}
    for r in reports:
        assert (r.unique, r.duplicates, r.gaps, r.first_seq, r.last_seq) == (n, 0, 0, 0, n - 1)
        assert r.latency_p99_ms is not None and r.latency_p99_ms < 5000
    # Counting the same file twice must not double count either.
    alone, _ = await build_report([a])
    twice, _ = await build_report([a, a])
    assert [r.unique for r in twice] == [r.unique for r in alone]
    assert sum(r.duplicates for r in twice) == got_a
    # The CLI prints the same figures as JSON.
    assert ground_main(["report", "--json", str(a), str(b)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sum(s["unique"] for s in out["streams"]) == 4 * n and out["malformed"] == 0


async def test_plot_writes_raw_vs_filtered_state_and_mass(mosquitto, tmp_path: Path) -> None:
    path = tmp_path / "rec.db"
    stop, task, stamps, _ = await start_recorder(mosquitto.url, path)
    await publish_run(mosquitto.url, tmp_path, 12)
    await wait_until(lambda: len(stamps) >= 48, 10, "all recorded")
    stop.set()
    await asyncio.wait_for(task, 10)
    out = tmp_path / "plots"
    assert ground_main(["plot", str(path), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["load.png", "mass.png", "state.png"]
    assert all((out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for name in written)
    assert (out / "load.png").stat().st_size > 10_000
