"""The outbox on a real small filesystem that fills or turns read-only (issue 22, part B).

A 1.5 MB tmpfs mounted by the test (as root; otherwise an injected ENOSPC/EROFS at
the store's file layer, ``tests.small_fs``). Before the fix the first refused write
failed the outbox for good: every later call raised ``OutboxError``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from telemetry.contract import Priority
from telemetry.rover.downlink.outbox import Outbox, Stored

DEADLINE_S = 15.0
BATCH = b"b" * 2000


def put(box: Outbox, stream: str, priority: Priority, payload: bytes = b"x" * 200) -> Stored:
    return box.append(stream=stream, priority=priority, topic=f"t/{stream}", t_mono=0.0,
                      encode=lambda seq, boot: payload)


async def until(predicate, what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def _traffic(box: Outbox, rounds: int, evicted: Counter[str]) -> Counter[str]:
    """What a controller stores: batches, stats, state, events, acks (seqs consumed).

    ``evicted`` counts what the receipts say was evicted over the budget (the budget
    follows the free space, re-read every few seconds, so a slow run evicts too): the
    controller reports those in its ``evicted`` event, not in ``storage_full``."""
    appended: Counter[str] = Counter()

    def store(stream: str, priority: Priority, payload: bytes = b"x" * 200) -> None:
        receipt = put(box, stream, priority, payload)
        appended[stream] += 1
        for r in receipt.eviction.ranges if receipt.eviction else ():
            evicted[r.stream] += r.count

    for i in range(rounds):
        store("batch/a", Priority.BATCH, BATCH)
        if i % 4 == 0:
            store("stats/a", Priority.STATS, b"s" * 600)
            store("state", Priority.STATE, b"t" * 400)
        if i % 20 == 0:
            store("event", Priority.CRITICAL)
            store("ack", Priority.CRITICAL)
        await asyncio.sleep(0)  # a loop turn: its commit is handed to the writer
    return appended


async def _storage_full_then_back(box: Outbox, spoil, repair, errno_name: str) -> None:
    seen: list[str] = []
    box.set_storage_listener(seen.append)
    evicted: Counter[str] = Counter()
    before = await _traffic(box, 20, evicted)
    await box.flush()
    spoil()
    during = await _traffic(box, 600, evicted)
    await until(lambda: "full" in seen, "storage-full mode")
    status = box.storage_status()
    assert status.full and status.errno == errno_name
    # never an exception, and what could not be kept was dropped lowest priority first
    # (by the storage-full ladder or, when the budget followed the shrinking free space
    # first, evicted over the budget: a loaded machine decides which comes first)
    g = box.guard
    assert g.dropped_by_priority.get(Priority.BATCH, 0) + evicted["batch/a"] > 0
    assert Priority.CRITICAL not in g.dropped_by_priority
    # the ladder bounds the unwritten, including what was on its way to the disk when
    # it failed (trimmed, batches first)
    assert status.unwritten_bytes <= box.guard.memory_bytes
    drops = box.take_storage_drops()
    assert sum(r.count for r in drops) == g.dropped
    dropped = Counter({r.stream: 0 for r in drops})
    for r in drops:
        dropped[r.stream] += r.count
    # every event and ack stored, and fetchable at once (no disk needed)
    rows = box.fetch(100_000)
    by_stream = Counter(r.stream for r in rows)
    for stream in ("event", "ack"):
        assert by_stream[stream] == before[stream] + during[stream]
    # accounted: each stream's numbers are fetched, or reported dropped or evicted
    for stream, n in (before + during).items():
        assert by_stream[stream] + dropped[stream] + evicted[stream] == n, \
            (stream, by_stream[stream], dropped[stream], evicted[stream], n)
    assert not evicted["event"] and not evicted["ack"]
    box.ack(rows)
    repair()
    await until(lambda: "recovered" in seen, "the outbox writing again")
    assert not box.storage_status().full
    put(box, "event", Priority.CRITICAL)
    await asyncio.wait_for(put(box, "event", Priority.CRITICAL), DEADLINE_S)  # on disk


async def _fill_and_free(fs, *, spoil: str = "fill", repair: str = "free",
                        errno_name: str = "ENOSPC") -> Outbox:
    box = await Outbox.open(fs.path / "o.db", memory_bytes=256 * 1024)
    try:
        await _storage_full_then_back(box, getattr(fs, spoil), getattr(fs, repair), errno_name)
    finally:
        await box.aclose()
    return box


async def test_a_full_filesystem_never_stops_the_outbox(small_filesystem) -> None:
    box = await _fill_and_free(small_filesystem)
    assert box.counters.storage_failures >= 1


async def test_a_read_only_remount_is_handled_the_same_way(small_filesystem) -> None:
    await _fill_and_free(small_filesystem, spoil="read_only", repair="writable",
                         errno_name="EROFS")


async def test_the_budget_follows_the_free_space(small_filesystem) -> None:
    fs = small_filesystem
    free = fs.free_bytes()
    box = await Outbox.open(fs.path / "o.db", budget_bytes=256 << 20,
                            free_space_floor_bytes=free // 2)
    try:
        # at start: what is free minus the floor, not the configured 256 MB
        assert box.budget_bytes <= free - free // 2 + box.bytes_used
        assert box.budget_bytes < 256 << 20
    finally:
        await box.aclose()


async def test_a_budget_shrinking_while_full_is_accounted(small_filesystem, monkeypatch) -> None:
    """The free space is re-read while the disk refuses writes (on a slow card the
    first check comes before the traffic ends): the budget shrinks to what is stored,
    batches are evicted over it, and the receipts account them with the storage drops."""
    import telemetry.rover.downlink.outbox as outbox_module
    monkeypatch.setattr(outbox_module, "RETRY_S", 0.005)
    monkeypatch.setattr(outbox_module, "SPACE_CHECK_S", 0.005)
    box = await _fill_and_free(small_filesystem)
    assert box.counters.evicted > 0  # the path this test is for was taken
