"""The public topics through a real Mosquitto: retained, redacted, no envelope."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from control.security import (
    PlanRules,
    public_feed_payload,
    public_topics,
    safety_zone_for,
    safety_zone_payload,
    site_plan_from_dict,
)
from telemetry.contract.rig_state import RigState
from telemetry.ground.subscription import run_subscription
from telemetry.mqtt.adapter import InboundMessage, MqttSettings
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import wait_until

PLAN = site_plan_from_dict({"name": "permit", "safety_radius_m": 2.0, "site": [
    {"name": "A", "x": 1.5, "y": 0.0, "radius_m": 0.5, "quota_kg": 40.0}]})


async def test_safety_zone_and_feed_are_retained_for_late_subscribers(mosquitto,
                                                                       tmp_path: Path) -> None:
    topics = public_topics("regolith", "rig-1")
    zone = safety_zone_for(PlanRules(PLAN), "rig-1", 1.4, 0.1)
    assert zone is not None and zone.site == "A"
    feed = public_feed_payload("rig-1", 1000.0, "digging", 1.43, 0.12, "A", {"A": 12.345})
    cfg = DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "o.db",
                         broker_url=mosquitto.url, reconnect_initial_s=0.05)
    async with Downlink(cfg) as dl:
        await asyncio.wait_for(dl.wait_connected(), 10)
        dl.publish_public("safety_zone", topics["safety_zone"], safety_zone_payload(zone, 1000.0))
        dl.publish_public("feed", topics["feed"], feed)
        await wait_until(lambda: dl.counters.outbox_depth == 0, 10, "outbox drained")
    # a subscriber that arrives afterwards (anyone, no rig credentials) still gets both
    got: list[InboundMessage] = []
    stop = asyncio.Event()
    task = asyncio.create_task(run_subscription(
        MqttSettings.from_url(mosquitto.url, protocol="5"), ["public/#"], got.append, stop=stop))
    try:
        await wait_until(lambda: len(got) >= 2, 10, "two retained public messages")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    by_topic = {m.topic: m for m in got}
    assert set(by_topic) == {topics["safety_zone"], topics["feed"]}
    assert all(m.retain for m in got)
    zone_body = json.loads(by_topic[topics["safety_zone"]].payload)
    assert zone_body["site"] == "A" and zone_body["radius_m"] >= 2.0
    feed_body = json.loads(by_topic[topics["feed"]].payload)
    # redacted: only these fields, rounded; no raw telemetry, no envelope
    assert set(feed_body) == {"v", "type", "rig", "t_rig", "mode", "position", "site",
                              "extracted_kg", "total_kg"}
    assert feed_body["extracted_kg"] == {"A": 12.3}


async def test_a_public_payload_stored_during_an_outage_goes_out_unchanged(
        mosquitto_factory, tmp_path: Path) -> None:
    """Drained after the outage, the stored public row is historical; it has no envelope
    to carry that flag, so its bytes go out as given and the downlink keeps running."""
    broker = mosquitto_factory(start=False)
    topics = public_topics("regolith", "rig-1")
    feed = public_feed_payload("rig-1", 1000.0, "idle", 0.0, 0.0, None, {})
    cfg = DownlinkConfig(rig_id="rig-1", outbox_path=tmp_path / "o.db", broker_url=broker.url,
                         reconnect_initial_s=0.05, reconnect_cap_s=0.2, historical_after_s=0.01)
    got: list[InboundMessage] = []
    async with Downlink(cfg) as dl:
        dl.publish_public("feed", topics["feed"], feed)
        dl.publish_state(RigState.from_json({"after": "the feed"}))
        broker.start()
        await wait_until(lambda: dl.counters.outbox_depth == 0, 10, "outbox drained")
        stop = asyncio.Event()
        task = asyncio.create_task(run_subscription(
            MqttSettings.from_url(broker.url), ["public/#"], got.append, stop=stop))
        try:
            await wait_until(lambda: bool(got), 10, "the retained feed")
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
    assert [(m.topic, m.payload) for m in got] == [(topics["feed"], feed)]
