"""Sequence accounting (telemetry.ground.accounting): exact for what a rover sends,
bounded in work and memory for what a hostile broker client can publish (batches are
unsigned: any stream name, any sequence number)."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telemetry.contract import PayloadDecodeError
from telemetry.contract.payloads import decode
from telemetry.ground.accounting import SequenceAccounting

RIG = "rig-1"


@st.composite
def histories(draw):
    """Arrivals (duplicates and any order) and evicted ranges disjoint from them."""
    top = draw(st.integers(1, 60))
    evicted = draw(st.lists(st.tuples(st.integers(0, top), st.integers(0, 5)), max_size=4))
    ranges = [(a, min(top, a + n)) for a, n in evicted]
    gone = {n for a, b in ranges for n in range(a, b + 1)}
    sent = [n for n in range(top + 1) if n not in gone]
    arrived = draw(st.lists(st.sampled_from(sent), min_size=1, max_size=80)) if sent else []
    # an eviction event arrives somewhere among the messages
    steps = [("seq", n) for n in arrived]
    for r in ranges:
        steps.insert(draw(st.integers(0, len(steps))), ("evicted", r))
    return steps, gone


def _replay(steps, max_missing: int) -> tuple[SequenceAccounting, list[int]]:
    acc = SequenceAccounting(max_tracked_missing=max_missing)
    seen: list[int] = []
    for kind, value in steps:
        if kind == "seq":
            acc.observe(RIG, "batch/a", 1, value, False)
            seen.append(value)
        else:
            acc.note_evicted(RIG, "batch/a", *value)
    return acc, seen


@given(histories())
@settings(max_examples=300, deadline=None)
def test_counts_equal_a_reference_model(history) -> None:
    steps, gone = history
    acc, seen = _replay(steps, max_missing=1000)
    if not seen:
        return
    s = acc.streams[(RIG, "batch/a")]
    lo, hi = min(seen), max(seen)
    assert s.missing == {n for n in range(lo, hi + 1) if n not in seen and n not in gone}
    assert s.unique == len(set(seen)) and s.untracked_missing == 0
    assert s.received == len(seen) and s.duplicates == len(seen) - len(set(seen))


@given(histories(), st.integers(1, 5))
@settings(max_examples=300, deadline=None)
def test_beyond_the_remembered_missing_numbers_they_are_counted(history, max_missing) -> None:
    steps, gone = history
    acc, seen = _replay(steps, max_missing)
    if not seen:
        return
    s = acc.streams[(RIG, "batch/a")]
    assert len(s.missing) <= max_missing
    assert not s.missing & set(seen) and not s.missing & gone
    # every number skipped and never seen nor evicted is remembered or counted
    lo, hi = min(seen), max(seen)
    assert s.gaps >= len({n for n in range(lo, hi + 1) if n not in seen and n not in gone})


def test_a_jump_to_a_huge_number_costs_what_a_small_one_costs() -> None:
    acc = SequenceAccounting(max_tracked_missing=1000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        acc.observe(RIG, "batch/a", 1, 0, False)
        assert acc.observe(RIG, "batch/a", 1, 10**18, False) == "new"
        assert acc.observe(RIG, "batch/a", 1, 5, False) == "late"
        acc.observe(RIG, "batch/b", 1, 10**18, False)
        assert acc.observe(RIG, "batch/b", 1, 0, False) == "late"  # a backlog joined late
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    a = acc.streams[(RIG, "batch/a")]
    assert a.gaps == 10**18 - 2 and len(a.missing) == 999  # 1000 remembered, 5 came
    assert acc.streams[(RIG, "batch/b")].gaps == 10**18 - 1
    assert grown < 1 << 20, f"{grown} bytes for two streams"


def test_huge_evicted_ranges_are_kept_as_ranges_and_bounded() -> None:
    acc = SequenceAccounting(max_evicted_ranges=4)
    acc.note_evicted(RIG, "batch/a", 1, 10**15)
    acc.observe(RIG, "batch/a", 1, 0, False)
    acc.observe(RIG, "batch/a", 1, 10**15 + 1, False)
    s = acc.streams[(RIG, "batch/a")]
    assert s.gaps == 0, "the evicted numbers are not missing"
    for k in range(10):  # disjoint ranges beyond the bound: the oldest go
        acc.note_evicted(RIG, "batch/a", 10**16 + 10 * k, 10**16 + 10 * k + 2)
    assert len(s.evicted_ranges) == 4 and s.evicted_ranges[0][0] == 10**16 + 60
    acc.note_evicted(RIG, "batch/a", 10**16 + 63, 10**16 + 69)  # touches both neighbours
    assert (10**16 + 60, 10**16 + 72) in s.evicted_ranges and len(s.evicted_ranges) == 3


def test_streams_beyond_the_bound_are_untracked_and_counted() -> None:
    acc = SequenceAccounting(max_streams=3)
    for i in range(3):
        assert acc.observe(RIG, f"batch/{i}", 1, 0, False) == "new"
    assert acc.observe(RIG, "batch/invented", 1, 0, False) == "untracked"
    acc.note_evicted(RIG, "batch/also-invented", 0, 5)
    assert len(acc.streams) == 3 and acc.totals()["untracked"] == 2
    assert acc.observe(RIG, "batch/1", 1, 1, False) == "new", "known streams go on"


def test_a_sequence_number_no_store_can_hold_is_malformed() -> None:
    body = (b'{"v":1,"type":"status","rig":"rig-1","boot":1,"seq":%d,"t_rig":1.0,'
            b'"t_mono":1.0,"historical":false,"resend":false,"online":true}')
    for seq in (-1, 1 << 63):
        with pytest.raises(PayloadDecodeError, match=r"'seq'.*2\*\*63"):
            decode(body % seq)
