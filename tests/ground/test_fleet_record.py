"""Recorders sharing one MQTT 5 subscription into one PostgreSQL store, through a real
Mosquitto: no double counting, duplicates decided across recorders, and every reader
(report, plot, ledger) working from the database."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from telemetry.contract.payloads import BatchBlock, Envelope, LedgerMessage, StateMessage, encode
from telemetry.contract.rig_state import RigState
from telemetry.ground.cli import main as ground_main
from telemetry.ground.ledger_verify import load_entries
from telemetry.ground.record import Recorder, record
from telemetry.ground.report import build_report
from telemetry.ground.store_writer import StoreWriter
from telemetry.mqtt.adapter import MqttSettings, connect
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import wait_until


def settings(url: str, client_id: str | None = None) -> MqttSettings:
    return MqttSettings.from_url(url, protocol="5", client_id=client_id)


async def start_recorder(url: str, store: str, name: str, shared: str | None = "ground"
                         ) -> tuple[asyncio.Event, asyncio.Task[Recorder], list[float],
                                    Callable[[], int]]:
    """Start a recorder, return once subscribed: its stop, task, receive stamps (every
    message, the rigs' status included) and a count of the unique data messages so far."""
    stop, stamps, links = asyncio.Event(), [], []
    writers: list[StoreWriter] = []

    def clock() -> float:
        stamps.append(time.time())
        return stamps[-1]

    task = asyncio.create_task(record(settings(url, name), store, prefix="regolith", rig=None,
                                      shared=shared, stop=stop, clock=clock,
                                      on_link=links.append, recorder_name=name,
                                      on_writer=writers.append),
                               name=f"recorder-{name}")
    await wait_until(lambda: links == [True] or task.done(), 10, f"{name} subscribed")
    return stop, task, stamps, lambda: sum(w.recorder.accounting.totals()["unique"]
                                           for w in writers)


async def publish_run(url: str, tmp_path: Path, rig: str, n: int) -> None:
    config = DownlinkConfig(rig_id=rig, outbox_path=tmp_path / f"{rig}.db", broker_url=url,
                            event_throttle_s=0)
    t = np.linspace(0, 1, 100)
    async with Downlink(config) as dl:
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
        await wait_until(lambda: dl.counters.outbox_depth == 0, 10, f"{rig} drained")


async def test_shared_recorders_write_one_database_without_double_counting(
        mosquitto, postgres_url: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    recorders = [await start_recorder(mosquitto.url, postgres_url, f"rec-{i}")
                 for i in range(3)]
    n = 25
    await asyncio.gather(publish_run(mosquitto.url, tmp_path, "rig-1", n),
                         publish_run(mosquitto.url, tmp_path, "rig-2", n))
    # every data message stored once: the stamps also count each rig's status messages,
    # so "as many stamps as data messages" could stop the recorders two messages early
    await wait_until(lambda: sum(unique() for *_, unique in recorders) >= 8 * n, 15,
                     "all received")
    for stop, *_ in recorders:
        stop.set()
    done = await asyncio.wait_for(asyncio.gather(*(t for _, t, *_ in recorders)), 15)
    shares = [r.accounting.totals()["unique"] for r in done]
    assert sum(shares) == 8 * n and sum(1 for s in shares if s) >= 2, shares

    reports, malformed = await build_report([postgres_url])
    assert malformed == 0
    assert {(r.rig, r.stream) for r in reports} == {
        (rig, s) for rig in ("rig-1", "rig-2")
        for s in ("batch/load", "batch/load_raw", "state", "event")}
    for r in reports:
        assert (r.received, r.unique, r.duplicates, r.gaps, r.first_seq, r.last_seq) == \
            (n, n, 0, 0, 0, n - 1)
        assert r.latency_p99_ms is not None and r.latency_p99_ms < 5000

    # every reader takes the database as it takes a file
    assert ground_main(["report", "--json", postgres_url]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["schema"] == 1 and out["sources"] == [postgres_url]
    assert sum(s["unique"] for s in out["streams"]) == 8 * n
    plots = tmp_path / "plots"
    assert ground_main(["plot", postgres_url, "--out", str(plots)]) == 2
    assert "holds 2 rigs (rig-1, rig-2): choose one with --rig" in capsys.readouterr().err
    assert ground_main(["--rig", "rig-2", "plot", postgres_url, "--out", str(plots)]) == 0
    assert sorted(p.name for p in plots.iterdir()) == ["load.png", "mass.png", "state.png"]


async def test_copies_reaching_different_recorders_count_once(
        mosquitto, postgres_url: str) -> None:
    """A rig's resends land on whichever recorder the broker picks: the database still
    stores each number once and counts every copy as a duplicate."""
    recorders = [await start_recorder(mosquitto.url, postgres_url, f"rec-{i}")
                 for i in range(2)]
    sent = 0
    async with connect(settings(mosquitto.url)) as rig:
        for seq in range(40):
            copies = 3 if seq % 4 == 0 else 1  # the original and two flagged resends
            for c in range(copies):
                env = Envelope("rig-1", 1, seq, time.time(), 1.0, False, c > 0)
                await rig.publish("regolith/rig-1/state",
                                  encode(StateMessage(env, RigState(extra={"s": seq}))))
                sent += 1
            ledger_env = Envelope("rig-1", 1, seq, time.time(), 1.0, False, False)
            await rig.publish("regolith/rig-1/ledger", encode(LedgerMessage(
                ledger_env, {"index": 39 - seq, "kg": 1.5})))
            sent += 1
    await wait_until(lambda: sum(len(s) for _, _, s, _ in recorders) >= sent, 15,
                     "all received")
    for stop, *_ in recorders:
        stop.set()
    done = await asyncio.wait_for(asyncio.gather(*(t for _, t, *_ in recorders)), 15)
    assert all(r.accounting.totals()["received"] for r in done), "both took a share"

    reports, _ = await build_report([postgres_url])
    state = next(r for r in reports if r.stream == "state")
    assert (state.received, state.unique, state.duplicates, state.gaps) == (60, 40, 20, 0)
    # Which copy is "the duplicate" follows commit order: a resend committed by one
    # recorder before the original reached the other makes the original the copy (at
    # most one per group of three).
    assert 10 <= state.resent_duplicates <= 20
    entries = load_entries(postgres_url, rig="rig-1")
    assert [e["index"] for e in entries] == list(range(40))
    assert load_entries(postgres_url, rig="rig-7") == []
