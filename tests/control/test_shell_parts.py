"""The jobs around the control loop, each on its own: one timing limit, the ground-link
decision, the public topics, the ledger writer."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from nacl.signing import SigningKey

from control.core.config import load_config
from control.core.errors import ConfigError
from control.core.events import ControlEvent, EventKind, Severity
from control.core.ground_link import GroundLinkMonitor
from control.core.policy import NoSiteRules
from control.runtime.ledger_writer import LedgerWriter
from control.runtime.public_topics import PublicTopics
from control.runtime.security_setup import build_security
from control.security import (
    AuthorizedCommand,
    Ledger,
    PlanRules,
    SiteRulesPolicy,
    StationKey,
    site_plan_from_dict,
    verify_ledger,
    write_key_files,
)
from tests.security.helpers import NOW, OPS, TOPIC, body, signed

# --- one timing limit ----------------------------------------------------------------------


def test_the_ground_keys_are_the_one_timing_limit() -> None:
    timing = load_config(None, ground={"max_ttl_wall_s": 30.0, "max_age_wall_s": 90.0,
                                       "max_clock_skew_wall_s": 2.0}).ground.command_timing
    assert (timing.max_ttl_s, timing.max_age_s, timing.max_future_s) == (30.0, 90.0, 2.0)


def test_an_old_security_timing_key_is_read_as_its_ground_key(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="control.core.config"):
        cfg = load_config(None, security={"max_ttl_s": 20.0, "max_future_s": 1.0})
    assert cfg.ground.max_ttl_wall_s == 20.0 and cfg.ground.max_clock_skew_wall_s == 1.0
    assert cfg.security == {"max_ttl_s": 20.0, "max_future_s": 1.0}  # still "on"
    assert "security.max_ttl_s is read as ground.max_ttl_wall_s" in caplog.text


@pytest.mark.parametrize(("data", "key", "fragment"), [
    ({"security": {"max_ttl_s": 20.0}, "ground": {"max_ttl_wall_s": 30.0}},
     "security.max_ttl_s", "duplicates ground.max_ttl_wall_s"),
    ({"security": {"max_age_s": "long"}}, "security.max_age_s", "finite number"),
    ({"security": {"max_future_s": -1}}, "security.max_future_s", "expected 0 .. 3600"),
])
def test_conflicting_or_bad_timing_keys_fail_naming_the_key(data, key, fragment) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, **data)
    assert info.value.key == key and fragment in str(info.value)


def test_signed_commands_get_the_controllers_timing(tmp_path) -> None:
    rover, _ = write_key_files(StationKey("rover", SigningKey(bytes(range(50, 82)))), tmp_path)
    cfg = load_config(None, ground={"max_ttl_wall_s": 20.0}, security={
        "rover_key_file": str(rover), "ledger_path": str(tmp_path / "ledger.jsonl"),
        "replay_db": str(tmp_path / "replay.db"),
        "keys": {"ops-1": {"public_key": OPS.public_key_hex, "role": "operator"}}})
    setup = build_security(cfg)
    try:
        gate = setup.authenticator
        assert gate.config.timing == cfg.ground.command_timing  # type: ignore[union-attr]
        too_long = gate.admit(signed(body(1, ttl=25.0)), NOW)
        assert not isinstance(too_long, AuthorizedCommand)
        assert too_long.ack_reason.startswith("ttl_too_long:")  # type: ignore[union-attr]
        cmd = gate.admit(signed(body(2, "status", ttl=15.0)), NOW)
        assert cmd.command_id == "c-2" and cmd.source == "key:ops-1"  # type: ignore[union-attr]
    finally:
        setup.close()


# --- ground link --------------------------------------------------------------------------


def test_ground_link_follows_the_downlinks_liveness_verdict() -> None:
    # the loss window (link_loss_wall_s) is applied once, by the downlink's link_ok()
    g = load_config(None, ground={"link_loss_wall_s": 5.0}).ground
    mon = GroundLinkMonitor(g, broker_configured=True)
    assert mon.update(100.0, True) and mon.lost_since is None
    assert not mon.update(104.9, False) and mon.lost_since == 104.9
    assert not mon.update(105.0, False) and mon.lost_since == 104.9
    assert mon.update(105.1, True) and mon.lost_since is None
    assert GroundLinkMonitor(g, broker_configured=False).update(0.0, False)
    relaxed = load_config(None, ground={"link_required": False}).ground
    assert GroundLinkMonitor(relaxed, broker_configured=True).update(0.0, False)


# --- public topics ------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.public: list[tuple[str, dict[str, Any]]] = []
        self.ledger: list[dict[str, Any]] = []
        self.events: list[tuple[str, Severity, str]] = []

    def publish_public(self, name: str, topic: str, payload: bytes, *,
                       retain: bool = True) -> None:
        self.public.append((name, json.loads(payload)))

    def publish_ledger(self, record: Any) -> None:
        self.ledger.append(dict(record))

    def publish_event(self, kind: str, severity: Severity, text: str, **fields: Any) -> None:
        self.events.append((kind, severity, text))


PLAN = site_plan_from_dict({"name": "p", "safety_radius_m": 2.0, "site": [
    {"name": "A", "x": 3.0, "y": 0.0, "radius_m": 1.0, "quota_kg": 50.0}]})


def test_public_topics_publish_the_zone_on_change_and_the_feed_every_time() -> None:
    rules = SiteRulesPolicy(PlanRules(PLAN), lambda: {"A": 12.5})
    pub, sink = PublicTopics("regolith", "rig-1", rules), Sink()
    for x in (3.0, 3.1, 0.0):
        pub.publish(sink, NOW, "digging", x, 0.0)
    zones = [b for name, b in sink.public if name == "safety_zone"]
    feeds = [b for name, b in sink.public if name == "feed"]
    assert [z["site"] for z in zones] == ["A", None]  # 3.1 is still site A: not republished
    assert [f["site"] for f in feeds] == ["A", "A", None]
    assert feeds[0]["extracted_kg"] == {"A": 12.5}


def test_no_site_plan_no_public_topics() -> None:
    sink = Sink()
    PublicTopics("regolith", "rig-1", NoSiteRules()).publish(sink, NOW, "idle", 0.0, 0.0)
    assert sink.public == []


# --- ledger writer ------------------------------------------------------------------------


def dumped(cycle: int, mass: float, x: float | None = 1.0) -> ControlEvent:
    return ControlEvent(0.0, EventKind.BUCKET_DUMPED, Severity.INFO, "dumped",
                        {"mass_kg": mass, "site": "A", "cycle": cycle, "x": x, "y": 0.0})


async def test_ledger_writer_books_dumps_in_order_off_the_loop(tmp_path) -> None:
    key = SigningKey(bytes(range(60, 92)))
    sink = Sink()
    with Ledger.open(tmp_path / "ledger.jsonl", key, "rig-1") as ledger:
        writer = LedgerWriter(ledger, sink, max_entries=2)
        for cycle, (mass, energy) in enumerate([(10.0, 100.0), (11.0, 250.0), (9.0, 300.0)],
                                               start=1):
            writer.book(dumped(cycle, mass), energy, NOW + cycle)
        writer.book(dumped(4, 5.0, x=None), 310.0, NOW + 4)  # unknown position: refused
        await asyncio.wait_for(writer.close(), 10.0)
    report = verify_ledger(sink.ledger, key.verify_key)
    assert report.broken is None and report.entries == 3
    assert [r["cycle"] for r in sink.ledger] == [1, 2, 3]
    assert [r["energy_j"] for r in sink.ledger] == [100, 150, 50]  # per dump, not cumulative
    assert len(writer.entries) == 2 and writer.failures == 1
    assert sink.events and sink.events[0][:2] == ("ledger_error", Severity.ALARM)
    assert "DumpRecord.x" in sink.events[0][2]


def test_the_signed_gate_hands_on_the_decoded_command() -> None:
    from tests.security.helpers import make_auth

    cmd = make_auth().admit(signed(body(1, "set_param", args={
        "name": "current_target_a", "value": 16.0})), NOW + 1)
    assert not isinstance(cmd, AuthorizedCommand)
    assert (cmd.command_id, cmd.name.value, cmd.args, cmd.expires_at, cmd.source) == (  # type: ignore[union-attr]
        "c-1", "set_param", {"name": "current_target_a", "value": 16.0}, NOW + 30,
        "key:ops-1")
    assert TOPIC.endswith("/cmd")
