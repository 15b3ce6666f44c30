"""Durable outbox: sequence numbers, boots, resend marks, priorities and the disk budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from telemetry.contract import Priority
from telemetry.rover.downlink.errors import OutboxClosedError
from telemetry.rover.downlink.outbox import ROW_OVERHEAD, Outbox


def put(box: Outbox, stream: str, priority: Priority, size: int = 10) -> int:
    stored = box.append(stream=stream, priority=priority, topic=f"t/{stream}", t_mono=0.0,
                        encode=lambda seq, boot: bytes(size))
    assert stored.stored
    return stored.seq


def test_sequence_numbers_and_boot_persist_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    assert box.boot == 1
    assert [put(box, "state", Priority.STATE) for _ in range(3)] == [0, 1, 2]
    box.ack(box.fetch(10))  # everything acknowledged and deleted
    assert box.depth == 0
    box.close()
    box = Outbox(path)
    assert box.boot == 2
    assert put(box, "state", Priority.STATE) == 3  # never reused after the rows are gone
    assert put(box, "event", Priority.CRITICAL) == 0
    box.close()
    with pytest.raises(OutboxClosedError):
        put(box, "state", Priority.STATE)


def test_unacked_rows_survive_reopen_and_come_back_marked_resend(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for _ in range(4):
        put(box, "batch/a", Priority.BATCH)
    first = box.fetch(2)
    assert [r.sent for r in first] == [False, False]
    box.ack(first[:1])
    box.close()  # crash: row 1 was sent but never acknowledged
    box = Outbox(tmp_path / "o.db")
    rows = box.fetch(10)
    assert [r.seq for r in rows] == [1, 2, 3]
    # Row 1 went out unacknowledged: it must be flagged. The flag is conservative (the
    # persisted watermark is reserved ahead), so later rows may be flagged too.
    assert rows[0].sent
    box.rewind()
    assert all(r.sent for r in box.fetch(10))  # fetched in this process: a resend now
    assert all(r.boot == 1 for r in rows) and box.boot == 2


def test_fetch_drains_by_priority_then_age_and_rewind_restarts(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    put(box, "batch/a", Priority.BATCH)
    put(box, "state", Priority.STATE)
    put(box, "stats/a", Priority.STATS)
    put(box, "event", Priority.CRITICAL)
    put(box, "batch/a", Priority.BATCH)
    assert [r.stream for r in box.fetch(3)] == ["event", "state", "stats/a"]
    put(box, "ack", Priority.CRITICAL)
    assert [r.stream for r in box.fetch(10)] == ["ack", "batch/a", "batch/a"]
    assert box.fetch(10) == []
    box.rewind()
    assert len(box.fetch(10)) == 6


def test_budget_evicts_batches_oldest_first_then_stats_never_critical(tmp_path: Path) -> None:
    size = 1000
    per_row = size + ROW_OVERHEAD
    box = Outbox(tmp_path / "o.db", budget_bytes=20 * per_row)
    for _ in range(4):
        put(box, "event", Priority.CRITICAL, size)
        put(box, "state", Priority.STATE, size)
    for _ in range(4):
        put(box, "stats/x", Priority.STATS, size)
    for _ in range(8):
        put(box, "batch/x", Priority.BATCH, size)
    assert box.depth == 20
    stored = box.append(stream="batch/x", priority=Priority.BATCH, topic="t", t_mono=0.0,
                        encode=lambda s, b: bytes(size))
    assert stored.stored and stored.eviction is not None
    # Down to 90 % of the budget: 3 oldest batches go, nothing else.
    assert [(r.stream, r.first_seq, r.last_seq, r.count) for r in stored.eviction.ranges] == \
        [("batch/x", 0, 2, 3)]
    assert box.bytes_used <= box.budget_bytes
    # Keep pushing batches: all old batches, then stats, go; events and state never do.
    for _ in range(40):
        box.append(stream="batch/x", priority=Priority.BATCH, topic="t", t_mono=0.0,
                   encode=lambda s, b: bytes(size))
    left = box.pending()
    assert left.count(("event", 0)) == 1
    assert [s for s, _ in left].count("event") == 4
    assert [s for s, _ in left].count("state") == 4
    assert box.bytes_used <= box.budget_bytes
    assert box.counters.evicted > 0


def test_newcomer_dropped_when_only_unevictable_rows_remain(tmp_path: Path) -> None:
    size = 1000
    box = Outbox(tmp_path / "o.db", budget_bytes=5 * (size + ROW_OVERHEAD))
    for _ in range(5):
        put(box, "ack", Priority.CRITICAL, size)
    stored = box.append(stream="batch/x", priority=Priority.BATCH, topic="t", t_mono=0.0,
                        encode=lambda s, b: bytes(size))
    assert not stored.stored and stored.eviction is not None and stored.eviction.dropped_new
    assert stored.eviction.ranges[-1].stream == "batch/x"
    # Acks/events are stored even over budget: they are never dropped.
    assert box.append(stream="ack", priority=Priority.CRITICAL, topic="t", t_mono=0.0,
                      encode=lambda s, b: bytes(size)).stored
    assert box.counters.over_budget_appends == 1
    # The dropped newcomer's number is not reused.
    assert box.next_seq("batch/x") == 1


def test_sent_rows_are_not_evicted(tmp_path: Path) -> None:
    size = 1000
    box = Outbox(tmp_path / "o.db", budget_bytes=10 * (size + ROW_OVERHEAD))
    for _ in range(10):
        put(box, "batch/x", Priority.BATCH, size)
    in_flight = box.fetch(4)
    stored = box.append(stream="batch/x", priority=Priority.BATCH, topic="t", t_mono=0.0,
                        encode=lambda s, b: bytes(size))
    assert stored.eviction is not None
    evicted = stored.eviction.ranges[0]
    assert evicted.first_seq == 4  # the four in flight stay; eviction starts after them
    assert {(s, q) for s, q in box.pending()} >= {("batch/x", r.seq) for r in in_flight}
