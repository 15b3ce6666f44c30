"""Outbox dead letters: rows the broker refused for good leave the outbox, kept aside."""

from __future__ import annotations

from pathlib import Path

from telemetry.contract import Priority
from telemetry.rover.downlink.outbox import ROW_OVERHEAD, Outbox


def put(box: Outbox, stream: str, priority: Priority, size: int = 10) -> int:
    stored = box.append(stream=stream, priority=priority, topic=f"t/{stream}", t_mono=0.0,
                        encode=lambda seq, boot: bytes([seq % 256]) * size)
    assert stored.stored
    return stored.seq


def test_dead_lettered_rows_leave_the_outbox_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    for _ in range(3):
        put(box, "event", Priority.CRITICAL, size=20)
    put(box, "batch/a", Priority.BATCH, size=30)
    rows = box.fetch(10)
    denied = [r for r in rows if r.seq == 1 and r.stream == "event"]
    assert box.dead_letter(denied, 0x87, "Not authorized") == 1
    assert box.depth == 3
    assert box.bytes_used == 2 * (20 + ROW_OVERHEAD) + 30 + ROW_OVERHEAD
    assert box.dead_letter_count == 1
    assert box.counters.dead_lettered == 1
    box.ack([r for r in rows if r not in denied])
    box.rewind()
    assert box.fetch(10) == []  # a dead letter is never resent
    box.close()

    box = Outbox(path)
    assert box.dead_letter_count == 1
    (letter,) = box.dead_letters()
    assert (letter.stream, letter.seq, letter.topic) == ("event", 1, "t/event")
    assert (letter.reason_code, letter.reason) == (0x87, "Not authorized")
    assert letter.payload == bytes([1]) * 20 and letter.boot == 1
    assert put(box, "event", Priority.CRITICAL) == 3  # its number is never reused
    box.close()


def test_dead_letter_of_an_already_deleted_row_is_a_no_op(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    put(box, "state", Priority.STATE)
    rows = box.fetch(1)
    box.ack(rows)
    assert box.dead_letter(rows, 0x87, "Not authorized") == 0
    assert box.dead_letter_count == 0 and box.depth == 0
    box.close()


def test_dead_letter_table_is_bounded_oldest_dropped_and_counted(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db", dead_letter_max_rows=5)
    for _ in range(8):
        put(box, "ack", Priority.CRITICAL)
    for row in box.fetch(8):
        box.dead_letter([row], 0x87, "Not authorized")
    assert box.dead_letter_count == 5
    assert box.counters.dead_letters_dropped == 3
    assert [d.seq for d in box.dead_letters()] == [3, 4, 5, 6, 7]
    box.close()
