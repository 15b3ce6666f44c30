"""Reconnect backoff: capped, jittered, never zero, and fine after hours of retries."""

from __future__ import annotations

import random

import pytest

from rig_common.backoff import Backoff


def test_delays_grow_then_stay_within_half_cap_and_cap() -> None:
    b = Backoff(0.05, 2.0, rng=random.Random(1))
    first = [b.next_delay() for _ in range(4)]
    for n, d in enumerate(first):
        ceiling = 0.05 * 2**n
        assert ceiling / 2 <= d <= ceiling
    for _ in range(3):  # 0.4, 0.8, 1.6: still growing
        b.next_delay()
    for _ in range(5000):  # hours of a missing port at the cap: no overflow, still bounded
        assert 1.0 <= b.next_delay() <= 2.0
    b.reset()
    assert b.next_delay() <= 0.05


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="initial <= cap"):
        Backoff(3.0, 2.0)
