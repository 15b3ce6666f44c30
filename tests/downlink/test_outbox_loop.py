"""The outbox on the event loop: no disk on the loop's thread, group commit, tiers, failures."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from telemetry.contract import Priority
from telemetry.rover.downlink.errors import OutboxError
from telemetry.rover.downlink.outbox import Outbox, Stored
from telemetry.rover.downlink.outbox_store import OutboxStore

DEADLINE_S = 10.0


def put(box: Outbox, stream: str, priority: Priority, payload: bytes = b"x" * 100) -> Stored:
    return box.append(stream=stream, priority=priority, topic=f"t/{stream}", t_mono=0.0,
                      encode=lambda seq, boot: payload)


@pytest.fixture
def disk_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Every store call: (method, made on the event loop's thread?)."""
    calls: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()
    for name in ("apply", "read", "sync", "close"):
        original = getattr(OutboxStore, name)

        def spy(self, *args, _original=original, _name=name):
            calls.append((_name, threading.get_ident() == loop_thread))
            return _original(self, *args)

        monkeypatch.setattr(OutboxStore, name, spy)
    return calls


async def fetch_some(box: Outbox, ready: asyncio.Event, limit: int = 100) -> list:
    """Fetch, waiting for the outbox's wake-up while nothing is ready."""
    while not (rows := box.fetch(limit)):
        await asyncio.wait_for(ready.wait(), DEADLINE_S)
        ready.clear()
    return rows


async def test_a_loop_turn_is_one_transaction_off_the_loop_thread(tmp_path: Path, disk_calls,
                                                                  monkeypatch) -> None:
    inserts: list[int] = []
    spy = OutboxStore.apply

    def counting(self, changes):
        inserts.append(len(changes.inserts))
        return spy(self, changes)

    monkeypatch.setattr(OutboxStore, "apply", counting)
    box = await Outbox.open(tmp_path / "o.db")
    ready = asyncio.Event()
    box.set_wakeup(ready.set)
    receipts = [put(box, "batch/a", Priority.BATCH) for _ in range(20)]
    assert [r.seq for r in receipts] == list(range(20)) and box.depth == 20
    assert box.fetch(100) == []  # store, then forward: nothing is on disk yet
    assert disk_calls == []  # append returned without touching the disk
    await asyncio.wait_for(receipts[-1], DEADLINE_S)
    assert inserts == [20]  # one commit for the whole turn
    rows = await fetch_some(box, ready)  # (the first hand-out also records a watermark)
    assert [r.seq for r in rows] == list(range(20)) and not any(r.sent for r in rows)
    box.ack(rows)
    assert box.depth == 0
    await box.aclose()
    assert disk_calls and not any(on_loop for _, on_loop in disk_calls)
    assert [n for n in inserts if n] == [20]


async def test_critical_rows_are_synced_batches_are_not(tmp_path: Path, monkeypatch) -> None:
    synced: list[bool] = []
    original = OutboxStore.apply

    def spy(self, changes):
        synced.append(original(self, changes))
        return synced[-1]

    monkeypatch.setattr(OutboxStore, "apply", spy)
    box = await Outbox.open(tmp_path / "o.db")
    await asyncio.wait_for(put(box, "batch/a", Priority.BATCH), DEADLINE_S)
    await asyncio.wait_for(put(box, "stats/a", Priority.STATS), DEADLINE_S)
    assert synced == [False, False]
    await asyncio.wait_for(put(box, "ack", Priority.CRITICAL), DEADLINE_S)
    assert synced[-1] is True
    await box.aclose()


async def test_rows_on_disk_are_read_back_by_the_writer_thread(tmp_path: Path,
                                                               disk_calls) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)  # an earlier process's backlog
    for i in range(30):
        put(box, "batch/a", Priority.BATCH, b"%d" % i)
    box.close()
    disk_calls.clear()
    box = await Outbox.open(path)
    ready = asyncio.Event()
    box.set_wakeup(ready.set)
    got: list[bytes] = []
    while len(got) < 30:
        rows = await fetch_some(box, ready, 64)
        assert all(r.boot == 1 for r in rows)
        got.extend(r.payload for r in rows)
        box.ack(rows)
    assert got == [b"%d" % i for i in range(30)]
    assert ("read", False) in disk_calls and not any(on_loop for _, on_loop in disk_calls)
    await box.aclose()


async def test_a_backlog_stored_offline_waits_on_disk_and_comes_back_in_order(
        tmp_path: Path, disk_calls) -> None:
    box = await Outbox.open(tmp_path / "o.db")
    ready = asyncio.Event()
    box.set_wakeup(ready.set)
    box.set_online(False)  # the broker is away
    for i in range(600):
        put(box, "batch/a" if i % 2 else "state", Priority.BATCH if i % 2 else Priority.STATE,
            b"%d" % i)
    await box.flush()
    assert box.depth == 600 and box.cached_bytes == 0  # nothing of it in memory
    box.set_online(True)
    put(box, "state", Priority.STATE, b"live")
    await box.flush()
    disk_calls.clear()
    got: list[bytes] = []
    while len(got) < 601:
        rows = await fetch_some(box, ready, 64)
        got.extend(r.payload for r in rows)
        box.ack(rows)
    states = [b"%d" % i for i in range(0, 600, 2)] + [b"live"]
    assert got == states + [b"%d" % i for i in range(1, 600, 2)]  # drain order
    assert ("read", False) in disk_calls  # read back, on the writer thread
    assert box.cached_bytes == 0 and box.depth == 0
    await box.aclose()


async def test_evictions_are_decided_at_once_and_skip_the_disk(tmp_path: Path) -> None:
    size = 1000
    box = await Outbox.open(tmp_path / "o.db", budget_bytes=10 * (size + 64))
    receipts = [put(box, "batch/a", Priority.BATCH, bytes(size)) for _ in range(15)]
    assert box.counters.evicted > 0 and box.bytes_used <= box.budget_bytes
    evicted = {q for r in receipts if r.eviction for e in r.eviction.ranges
               for q in range(e.first_seq, e.last_seq + 1)}
    await asyncio.wait_for(receipts[-1], DEADLINE_S)
    assert [s for _, s in box.pending()] == [q for q in range(15) if q not in evicted]
    await box.aclose()
    box = Outbox(tmp_path / "o.db", budget_bytes=10 * (size + 64))
    assert [s for _, s in box.pending()] == [q for q in range(15) if q not in evicted]
    box.close()


async def test_a_failing_disk_fails_the_receipt_and_the_next_calls(tmp_path: Path,
                                                                   monkeypatch) -> None:
    box = await Outbox.open(tmp_path / "o.db")

    def broken(self, changes):
        raise OutboxError("disk full")

    monkeypatch.setattr(OutboxStore, "apply", broken)
    receipt = put(box, "event", Priority.CRITICAL)
    with pytest.raises(OutboxError, match="disk full"):
        await asyncio.wait_for(receipt, DEADLINE_S)
    with pytest.raises(OutboxError, match="disk full"):
        put(box, "event", Priority.CRITICAL)
    monkeypatch.undo()
    await box.aclose()


async def test_flush_makes_this_turn_fetchable_and_aclose_keeps_it(tmp_path: Path) -> None:
    box = await Outbox.open(tmp_path / "o.db")
    ready = asyncio.Event()
    box.set_wakeup(ready.set)
    put(box, "state", Priority.STATE)
    await asyncio.wait_for(box.flush(), DEADLINE_S)
    assert [r.stream for r in await fetch_some(box, ready)] == ["state"]
    put(box, "event", Priority.CRITICAL)  # never awaited: aclose must still store it
    await asyncio.wait_for(box.aclose(), DEADLINE_S)
    box = Outbox(tmp_path / "o.db")
    assert box.pending() == [("event", 0), ("state", 0)]
    box.close()
