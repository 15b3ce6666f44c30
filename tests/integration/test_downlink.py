"""Downlink through a real Mosquitto: every topic, commands, no-broker mode, budgets."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np

from telemetry.contract import Severity, parse_topic
from telemetry.contract.payloads import (
    AckMessage,
    BatchBlock,
    BatchMessage,
    EventMessage,
    LedgerMessage,
    StateMessage,
    StatsBlock,
    StatsMessage,
    StatusMessage,
)
from telemetry.contract.rig_state import RigState
from telemetry.contract.status_info import RigInfo
from telemetry.mqtt.adapter import MqttSettings, connect
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import collecting, wait_until


def stream_of(topic: str) -> str:
    parsed = parse_topic("regolith", topic)
    assert parsed is not None, topic
    return parsed.stream


def config(tmp_path: Path, url: str | None, **kw: object) -> DownlinkConfig:
    return DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "outbox.db", broker_url=url,
                          reconnect_initial_s=0.05, reconnect_cap_s=0.5, **kw)


async def test_round_trip_every_topic_and_command_uplink(mosquitto, tmp_path: Path) -> None:
    samples = np.arange(30, dtype=np.float32).reshape(10, 3)
    async with collecting(mosquitto.url, "regolith/rig-1/#") as got:
        async with Downlink(config(tmp_path, mosquitto.url)) as dl:
            dl.publish_birth(RigInfo.from_json({"software_version": "0.1.0",
                                                "streams": {"load": {"rate_hz": 100}}}))
            await asyncio.wait_for(dl.wait_connected(), 10)
            dl.publish_state(RigState.from_json({"mode": "digging", "mass_excavated_kg": 1.5}))
            for sev in Severity:
                dl.publish_event("test", sev, f"{sev} event", n=1)
            dl.publish_batch(BatchBlock("load", ["fx", "fy", "fz"], ["N", "N", "N"], 100.0, 0.01,
                                        samples))
            dl.publish_stats(StatsBlock("load", ["fx", "fy", "fz"], ["N", "N", "N"], 100.0, 1.0, 10,
                             {"mean": samples.mean(axis=0, dtype=np.float64)}))
            dl.publish_ack("cmd-1", False, "expired")
            dl.publish_ledger({"entry": 1})
            cmd = json.dumps({"id": "cmd-2", "command": "stop",
                              "expires_at": time.time() + 5}).encode()
            async with connect(MqttSettings.from_url(mosquitto.url)) as ground:
                await ground.publish("regolith/rig-1/cmd", cmd, qos=1)
            commands = dl.commands()
            uplink = await asyncio.wait_for(anext(commands), 10)
            assert (uplink.topic, uplink.payload) == ("regolith/rig-1/cmd", cmd)
            await wait_until(lambda: len(got.received) >= 10, 10, "10 messages")
            await wait_until(lambda: dl.counters.outbox_depth == 0, 10, "outbox drained")
            assert dl.counters.published == 9
        await wait_until(lambda: any(isinstance(m, StatusMessage) and not m.online
                                     for _, m in got.received), 10, "offline status")
    by = got.by_stream(stream_of)
    assert got.undecodable == 1  # the command we sent ourselves (not a downlink payload)
    assert by["status"][0].online and by["status"][0].info.software_version == "0.1.0"
    (state,) = by["state"]
    assert isinstance(state, StateMessage) and state.state.mode == "digging"
    events = by["event"]
    assert [e.severity for e in events] == list(Severity)
    assert [e.envelope.seq for e in events] == [0, 1, 2, 3]
    assert all(isinstance(e, EventMessage) and not e.envelope.historical for e in events)
    assert {t for t, m in got.received if isinstance(m, EventMessage)} == {
        f"regolith/rig-1/event/{s}" for s in Severity}
    (batch,) = by["batch/load"]
    assert isinstance(batch, BatchMessage) and np.array_equal(batch.samples, samples)
    (stats,) = by["stats/load"]
    assert isinstance(stats, StatsMessage) and stats.values["mean"][1] == samples[:, 1].mean()
    (ack,) = by["ack"]
    assert isinstance(ack, AckMessage) and (ack.command_id, ack.accepted) == ("cmd-1", False)
    (ledger,) = by["ledger"]
    assert isinstance(ledger, LedgerMessage) and ledger.record == {"entry": 1}
    assert {m.envelope.boot for _, m in got.received} == {1}
    # The retained status now says offline, for anyone who subscribes later.
    async with collecting(mosquitto.url, "regolith/rig-1/status") as late:
        await wait_until(lambda: late.received, 10, "retained status")
        assert late.received[0][1].online is False
        assert late.received[0][1].shutdown is True  # its own goodbye, not the last will


async def test_no_broker_keeps_everything_and_drains_when_one_appears(mosquitto,
                                                                      tmp_path: Path) -> None:
    async with Downlink(config(tmp_path, None)) as dl:
        for i in range(50):
            dl.publish_state(RigState.from_json({"i": i}))
        dl.publish_event("boot", "info", "no broker yet")
        assert dl.counters.outbox_depth == 51 and not dl.connected
    async with collecting(mosquitto.url, "regolith/rig-1/#") as got:
        async with Downlink(config(tmp_path, mosquitto.url)) as dl:
            await wait_until(lambda: dl.counters.outbox_depth == 0, 10, "drain")
            assert dl.boot == 2
        await wait_until(lambda: len(got.by_stream(stream_of).get("state", [])) == 50, 10, "50")
    by = got.by_stream(stream_of)
    assert [m.envelope.seq for m in by["state"]] == list(range(50))
    assert all(m.envelope.historical and m.envelope.boot == 1 for m in by["state"])
    assert by["event"][0].envelope.seq == 0  # events drain first (priority)
    assert got.received.index(next(x for x in got.received if x[1] is by["event"][0])) < \
        got.received.index(next(x for x in got.received if x[1] is by["state"][0]))


async def test_disk_budget_eviction_follows_priorities_and_is_reported(mosquitto,
                                                                       tmp_path: Path) -> None:
    big = np.zeros((1000, 4), np.float32)  # 16 kB per batch
    async with Downlink(config(tmp_path, None, disk_budget_bytes=200_000)) as dl:
        for i in range(40):
            dl.publish_batch(BatchBlock("raw", list("abcd"), ["V"] * 4, float(i), 0.001, big))
            dl.publish_event("tick", "info", f"tick {i}")
            dl.publish_ack(f"c{i}", True)
        assert dl.counters.evicted > 0
        assert dl.counters.outbox_bytes <= 200_000
    async with collecting(mosquitto.url, "regolith/rig-1/#") as got:
        async with Downlink(config(tmp_path, mosquitto.url, disk_budget_bytes=200_000)) as dl:
            await wait_until(lambda: dl.counters.outbox_depth == 0, 10, "drain")
        await wait_until(lambda: len(got.by_stream(stream_of).get("ack", [])) == 40, 10, "acks")

        def batches_accounted() -> bool:  # batches drain last: wait for them too
            by = got.by_stream(stream_of)
            reported = sum(r["count"] for m in by.get("event", []) if m.kind == "outbox_evicted"
                           for r in m.fields["evicted"])
            return len(by.get("batch/raw", [])) + reported >= 40

        await wait_until(batches_accounted, 10, "every batch received or reported evicted")
    by = got.by_stream(stream_of)
    ticks = [m for m in by["event"] if m.kind == "tick"]
    assert [m.envelope.seq for m in by["ack"]] == list(range(40))
    assert len(ticks) == 40  # never evicted
    evictions = [m for m in by["event"] if m.kind == "outbox_evicted"]
    assert evictions and all(m.severity == Severity.WARNING for m in evictions)
    evicted = {seq for m in evictions for r in m.fields["evicted"]
               for seq in range(r["first_seq"], r["last_seq"] + 1)}
    received = {m.envelope.seq for m in by["batch/raw"]}
    assert received | evicted == set(range(40)) and not received & evicted
    assert min(received) > max(evicted)  # oldest first


async def test_bandwidth_budget_is_respected(mosquitto, tmp_path: Path) -> None:
    rate = 40_000
    payload = np.zeros((250, 4), np.float32)  # ~4.2 kB per message
    async with collecting(mosquitto.url, "regolith/rig-1/batch/#") as got:
        async with Downlink(config(tmp_path, mosquitto.url, bandwidth_bytes_per_s=rate)) as dl:
            await asyncio.wait_for(dl.wait_connected(), 10)
            start = time.monotonic()
            for i in range(40):
                dl.publish_batch(BatchBlock("s", list("abcd"), ["V"] * 4, float(i), 0.01, payload))
            await wait_until(lambda: len(got.received) == 40, 20, "40 batches")
            elapsed = time.monotonic() - start
            sent = dl.counters.published
    total = 40 * 4200
    assert sent >= 40
    # The first `rate` bytes go as a burst; the rest at `rate` bytes/s.
    assert elapsed >= (total - rate) / rate * 0.9, elapsed
    assert elapsed < (total / rate) * 3
