"""Sans-I/O pieces of the downlink: backoff, token bucket, event throttle."""

from __future__ import annotations

import random

import pytest

from rig_common.backoff import Backoff
from telemetry.rover.downlink.errors import DownlinkConfigError
from telemetry.rover.downlink.event_throttle import EventThrottle, ThrottledEvent
from telemetry.rover.downlink.rate_limit import TokenBucket


def test_backoff_grows_is_jittered_capped_and_resets() -> None:
    b = Backoff(0.1, 2.0, rng=random.Random(3))
    delays = [b.next_delay() for _ in range(12)]
    for n, d in enumerate(delays):
        ceiling = min(2.0, 0.1 * 2**n)
        assert ceiling / 2 <= d <= ceiling
    assert len({round(d, 6) for d in delays[6:]}) > 1  # jittered at the cap
    b.reset()
    assert b.next_delay() <= 0.1


def test_token_bucket_holds_the_long_run_rate() -> None:
    bucket = TokenBucket(rate=1000.0, burst=1000.0, now=0.0)
    now = 0.0
    for _ in range(100):
        now += bucket.reserve(100, now)  # wait as told, then send
    # 100 x 100 bytes at 1000 B/s with a 1000 B burst: 9 s after the burst.
    assert now == pytest.approx(9.0)


def test_throttle_collapses_repeats_into_one_counted_summary() -> None:
    t = EventThrottle(window_s=1.0)
    e = ThrottledEvent("overcurrent", "alarm", "drum", {"amps": 3})
    assert t.offer(e, now=0.0, t_rig=100.0) == [e]
    assert t.offer(e, now=0.2, t_rig=100.2) == []
    assert t.offer(e, now=0.5, t_rig=100.5) == []
    other = ThrottledEvent("overcurrent", "alarm", "drum", {"amps": 4})
    assert t.offer(other, now=0.6, t_rig=100.6) == [other]  # distinct fields pass
    assert t.get_timer() == 1.0
    (summary,) = t.handle_timer(1.0)
    assert (summary.count, summary.first_t_rig) == (2, 100.2)
    assert t.handle_timer(1.7) == []  # `other` had no repeats
    assert t.offer(e, now=2.0, t_rig=102.0) == [e]  # a new window


def test_liveness_settings_are_validated_naming_the_key() -> None:
    from telemetry.rover.downlink import DownlinkConfig

    with pytest.raises(DownlinkConfigError, match="link_loss_s: expected > 0"):
        DownlinkConfig(rig_id="r", outbox_path="o.db", link_loss_s=0)
    with pytest.raises(DownlinkConfigError, match="probe_interval_s: expected > 0 and < "):
        DownlinkConfig(rig_id="r", outbox_path="o.db", link_loss_s=2.0, probe_interval_s=2.0)
    assert DownlinkConfig(rig_id="r", outbox_path="o.db").protocol == "5"
