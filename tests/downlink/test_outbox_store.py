"""The outbox's disk: payload segments, the sync policy, power cuts and older databases."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from control.runtime.memory_probe import c_heap_kib
from telemetry.contract import Priority
from telemetry.rover.downlink import outbox_store
from telemetry.rover.downlink.outbox import Outbox
from telemetry.rover.downlink.outbox_records import Changes, OutboxRow
from telemetry.rover.downlink.outbox_store import SYNC_INTERVAL_S, SYNC_MAX_ROWS, OutboxStore


def put(box: Outbox, stream: str, priority: Priority, payload: bytes) -> int:
    stored = box.append(stream=stream, priority=priority, topic=f"t/{stream}", t_mono=0.0,
                        encode=lambda seq, boot: payload)
    assert stored.stored
    return stored.seq


def segment_files(path: Path) -> list[str]:
    return sorted(os.listdir(path.with_name(path.name + "-payloads")))


def test_payloads_live_in_segments_and_segments_go_when_acked(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    blobs = [bytes([i]) * (100_000 + i) for i in range(50)]  # > one 4 MiB segment
    for b in blobs:
        put(box, "batch/a", Priority.BATCH, b)
    assert len(segment_files(path)) >= 2
    db = sqlite3.connect(path)
    assert db.execute("SELECT SUM(LENGTH(payload)) FROM outbox").fetchone()[0] == 0
    db.close()
    rows: list = []
    while batch := box.fetch(100):  # the ones past the memory cache come back from disk
        rows += batch
    assert [r.payload for r in rows] == blobs
    box.ack(rows)
    assert len(segment_files(path)) == 1  # only the active segment is left
    box.close()
    box = Outbox(path)  # after a restart, nothing references the old active one either
    assert segment_files(path) == []
    assert box.depth == 0 and box.next_seq("batch/a") == 50
    box.close()


def test_rows_read_back_from_disk_after_reopen_in_drain_order(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    for i in range(5):
        put(box, "batch/a", Priority.BATCH, b"b%d" % i)
        put(box, "event", Priority.CRITICAL, b"e%d" % i)
    box.close()
    box = Outbox(path)
    rows = box.fetch(7)
    assert [(r.stream, r.payload) for r in rows] == \
        [("event", b"e%d" % i) for i in range(5)] + [("batch/a", b"b0"), ("batch/a", b"b1")]
    assert [r.payload for r in box.fetch(10)] == [b"b2", b"b3", b"b4"]
    box.close()


def test_sync_policy_is_the_power_cut_bound(tmp_path: Path) -> None:
    now = [100.0]
    store = OutboxStore(tmp_path / "o.db", clock=lambda: now[0])
    next_id = store.recovered.next_id

    def rows(n: int, priority: Priority = Priority.BATCH) -> Changes:
        nonlocal next_id
        ch = Changes()
        for _ in range(n):
            ch.insert(OutboxRow(next_id, priority, "batch/a", next_id, "t", False, 1, 0.0,
                                False, b"x" * 10))
            next_id += 1
        ch.sync = priority is Priority.CRITICAL
        return ch

    assert store.sync_due() is None
    assert store.apply(rows(10)) is False  # batches: committed, not yet synced
    assert store.unsynced_rows == 10
    assert store.sync_due() == pytest.approx(SYNC_INTERVAL_S)
    now[0] += SYNC_INTERVAL_S / 2
    assert store.apply(rows(10)) is False
    assert store.sync_due() == pytest.approx(SYNC_INTERVAL_S / 2)  # from the first unsynced
    now[0] += SYNC_INTERVAL_S / 2
    assert store.sync_due() == 0.0
    assert store.apply(rows(1)) is True  # the interval ran out: this commit syncs
    assert store.unsynced_rows == 0 and store.sync_due() is None
    assert store.apply(rows(SYNC_MAX_ROWS - 1)) is False
    assert store.apply(rows(1)) is True  # ...or the row count did
    assert store.apply(rows(1, Priority.CRITICAL)) is True  # critical rows always sync
    store.close()


def _crash(box: Outbox) -> None:
    """Stop the outbox the way kill -9 or a power cut does: no sync, no clean flag."""
    store = box._store
    for fd in {*store._unsynced_fds.values(), *(s.fd for s in store._active.values())}:
        os.close(fd)
    store._db.close()


@pytest.mark.parametrize("rebooted", [False, True])
def test_a_crash_loses_nothing_a_power_cut_only_the_unsynced(tmp_path: Path, monkeypatch,
                                                             rebooted: bool) -> None:
    path = tmp_path / "o.db"
    monkeypatch.setattr(outbox_store, "_host_boot_id", lambda: 111)
    box = Outbox(path)
    put(box, "batch/a", Priority.BATCH, b"old batch")
    put(box, "event", Priority.CRITICAL, b"event")  # synced: covers the batch before it too
    for i in range(3):
        put(box, "batch/a", Priority.BATCH, b"new batch %d" % i)  # committed, unsynced
    _crash(box)
    if rebooted:
        monkeypatch.setattr(outbox_store, "_host_boot_id", lambda: 222)
    box = Outbox(path)
    got = [(r.stream, r.seq, r.payload) for r in box.fetch(10)]
    if rebooted:  # bytes past the synced size may never have reached the disk: dropped
        assert got == [("event", 0, b"event"), ("batch/a", 0, b"old batch")]
        assert box.counters.lost == 3
    else:  # only the process died: the page cache kept every byte
        assert got[:2] == [("event", 0, b"event"), ("batch/a", 0, b"old batch")]
        assert [p for _, _, p in got[2:]] == [b"new batch %d" % i for i in range(3)]
        assert box.counters.lost == 0
    assert box.next_seq("batch/a") == 4  # the lost numbers are never reused
    box.close()
    box = Outbox(path)  # closed cleanly this time: nothing is suspect
    assert box.counters.lost == 0
    box.close()


def test_a_payload_cut_short_is_reported_lost_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    for i in range(3):
        put(box, "batch/a", Priority.BATCH, b"%d" % i * 1000)
    box.close()
    (seg,) = segment_files(path)
    os.truncate(path.with_name(path.name + "-payloads") / seg, 1500)
    box = Outbox(path)
    assert [r.seq for r in box.fetch(10)] == [0]
    assert box.counters.lost == 2 and box.depth == 1
    box.close()


def test_an_outbox_of_the_first_version_opens_and_drains(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, priority INTEGER NOT NULL,
            stream TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL,
            retain INTEGER NOT NULL, boot INTEGER NOT NULL, t_mono REAL NOT NULL,
            payload BLOB NOT NULL);
        CREATE INDEX outbox_priority ON outbox (priority);
        CREATE TABLE streams (stream TEXT PRIMARY KEY, next_seq INTEGER NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO meta VALUES ('boot', 4);
        INSERT INTO outbox VALUES (7, 3, 'batch/a', 12, 't/a', 0, 4, 1.5, x'0102');
        INSERT INTO outbox VALUES (8, 0, 'event', 3, 't/e', 0, 4, 1.6, x'03');
    """)
    db.close()
    box = Outbox(path)
    assert box.boot == 5 and box.depth == 2
    assert put(box, "batch/a", Priority.BATCH, b"new") == 13
    rows = box.fetch(10)
    assert [(r.id, r.stream, r.seq, r.payload, r.boot) for r in rows] == [
        (8, "event", 3, b"\x03", 4), (7, "batch/a", 12, b"\x01\x02", 4),
        (9, "batch/a", 13, b"new", 5)]
    box.ack(rows)
    assert box.depth == 0
    box.close()


def store_with_an_acknowledged_segment(path: Path) -> tuple[OutboxStore, Changes]:
    """A store whose active segment holds only acknowledged rows, and a commit that
    appends to it, then fills it and rotates it away."""
    store = OutboxStore(path)
    first = store.recovered.next_id

    def row(i: int, size: int) -> OutboxRow:
        return OutboxRow(first + i, Priority.BATCH, "batch/a", i, "t", False, 1, 0.0, False,
                         bytes([i]) * size)

    ch = Changes()
    ch.insert(row(0, 3 << 20))
    store.apply(ch)
    ch = Changes()
    ch.delete(first, Priority.BATCH)  # acknowledged: the active segment holds no live row
    store.apply(ch)
    rotating = Changes()
    rotating.insert(row(1, 512 << 10))  # still fits the active segment
    rotating.insert(row(2, 1 << 20))  # does not: the segment is rotated away
    return store, rotating


def assert_stored_whole(store: OutboxStore, ch: Changes) -> None:
    rows, lost = store.read(list(ch.inserts))
    assert lost == []
    assert [r.payload for r in rows] == [r.payload for r in ch.inserts.values()]


def test_a_segment_rotated_away_keeps_the_payloads_written_to_it_in_the_same_commit(
        tmp_path: Path) -> None:
    # One commit (a loop turn's group) appends to the active segment, then fills it and
    # rotates. Every earlier row of that segment was acknowledged, so it counts no live
    # rows yet: it must not be deleted with the payloads just written to it.
    store, rotating = store_with_an_acknowledged_segment(tmp_path / "o.db")
    store.apply(rotating)
    assert_stored_whole(store, rotating)
    assert len(segment_files(tmp_path / "o.db")) == 2
    ch = Changes()
    ch.delete(min(rotating.inserts), Priority.BATCH)
    store.apply(ch)
    assert len(segment_files(tmp_path / "o.db")) == 1  # kept only while a row needed it
    store.close()


def test_a_failed_commit_drops_the_segment_it_kept_and_a_retry_stores_its_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As above, but the disk refuses the commit's transaction: the old segment, kept only
    # for that commit's payloads, holds nothing live and must not be left behind; the
    # outbox retries the same changes, which must then be stored whole.
    path = tmp_path / "o.db"
    store, rotating = store_with_an_acknowledged_segment(path)
    assert len(segment_files(path)) == 1
    persist = store._persist

    def refuse(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store, "_persist", refuse)
    with pytest.raises(outbox_store.OutboxStorageError, match="cannot write to outbox"):
        store.apply(rotating)
    assert len(segment_files(path)) == 1  # the kept segment went; only the new one is left
    monkeypatch.setattr(store, "_persist", persist)
    store.apply(rotating)
    assert_stored_whole(store, rotating)
    store.close()


def test_reading_back_runs_of_every_length_does_not_grow_sqlite(tmp_path: Path) -> None:
    # An SQL text per run length filled the connection's statement cache, outage by
    # outage: the process soak saw SQLite's memory step up at each one (docs/soak.md).
    store = OutboxStore(tmp_path / "o.db")
    first = store.recovered.next_id
    ch = Changes()
    for i in range(300):
        ch.insert(OutboxRow(first + i, Priority.BATCH, "batch/a", i, "t", False, 1, 0.0, False,
                            b"%d" % i))
    store.apply(ch)
    store.read([first])
    before = c_heap_kib()["sqlite_kib"]  # the system's SQLite, which Python's module uses
    for n in range(1, 130):
        rows, lost = store.read(list(range(first, first + n)))
        assert [r.payload for r in rows] == [b"%d" % i for i in range(n)] and lost == []
    assert c_heap_kib()["sqlite_kib"] - before < 64
    store.close()
