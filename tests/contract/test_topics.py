"""The topic tree of the contract: building topics, parsing them back, bad names."""

from __future__ import annotations

import pytest

from telemetry.contract import ContractConfigError, Severity, TopicTree, parse_topic


def test_topics_and_parse_round_trip() -> None:
    tree = TopicTree("fleet/a", "rig-7")
    assert tree.batch("imu") == "fleet/a/rig-7/batch/imu"
    assert parse_topic("fleet/a", tree.batch("imu")).stream == "batch/imu"
    assert parse_topic("fleet/a", tree.event(Severity.ALARM)).stream == "event"
    assert parse_topic("fleet/a", "fleet/a/rig-7/batch/imu/extra") is None
    assert parse_topic("fleet/a", "other/rig-7/state") is None
    # no rig can have these names, so nobody may publish under them (issue 24, defect 6)
    assert parse_topic("fleet/a", "fleet/a/<img src=x onerror=alert(1)>/state") is None
    assert parse_topic("fleet/a", "fleet/a/rig-7/batch/im u") is None
    assert parse_topic("fleet/a", "fleet/a//state") is None
    with pytest.raises(ContractConfigError, match="stream"):
        tree.batch("a/b")
    with pytest.raises(ContractConfigError, match="topic_prefix"):
        TopicTree("bad/#", "rig")
