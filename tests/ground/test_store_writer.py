"""The recorder's write path without a broker: commit first, then ack in arrival order;
nothing acked while the store is down; backpressure at ``max_pending``."""

from __future__ import annotations

import asyncio
import time

from rig_common.backoff import Backoff
from telemetry.ground.record import Recorder
from telemetry.ground.store_writer import StoreWriter
from telemetry.ground.stores import StoreUnavailableError, WriteOutcome
from telemetry.mqtt.adapter import InboundMessage
from tests.ground.helpers import message


class FlakyStore:
    location = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.committed: list[int] = []
        self.events: list[str] = []

    async def write(self, batch):
        if self.failures:
            self.failures -= 1
            self.events.append("write failed")
            raise StoreUnavailableError("flaky: connection refused")
        seqs = [getattr(i, "seq", None) for i in batch]
        self.committed += seqs
        self.events.append(f"committed {seqs}")
        return WriteOutcome(len(batch), 0, 0)


def inbound(seq: int, events: list[str]) -> InboundMessage:
    row = message("rig-1", "state", seq)
    return InboundMessage(row.topic, row.payload, 1, False,
                          lambda: events.append(f"ack {seq}"))


async def test_acks_follow_the_commit_in_arrival_order_and_never_precede_it() -> None:
    store = FlakyStore(failures=2)
    recorder = Recorder("regolith")
    writer = StoreWriter(recorder, store, backoff=Backoff(0.001, 0.002))
    for seq in range(3):
        recorder.handle(inbound(seq, store.events), 1.0)
    assert await writer.flush()
    assert store.events == ["write failed", "write failed", "committed [0, 1, 2]",
                            "ack 0", "ack 1", "ack 2"]
    assert (writer.stored, writer.batches, writer.failed) == (3, 1, 0)


async def test_an_unreachable_store_acks_nothing_and_gives_up_at_the_deadline() -> None:
    store = FlakyStore(failures=10**6)
    recorder = Recorder("regolith")
    writer = StoreWriter(recorder, store, backoff=Backoff(0.001, 0.002))
    recorder.handle(inbound(7, store.events), 1.0)
    assert not await writer.flush(deadline=time.monotonic() + 0.05)
    assert "ack 7" not in store.events and store.committed == []
    assert writer.failed == 1


async def test_ignored_and_malformed_messages_are_acked_too() -> None:
    events: list[str] = []
    store = FlakyStore(failures=0)
    recorder = Recorder("regolith")
    writer = StoreWriter(recorder, store)
    recorder.handle(InboundMessage("regolith/rig-1/cmd", b"{}", 1, False,
                                   lambda: events.append("ack cmd")), 1.0)
    recorder.handle(InboundMessage("regolith/rig-1/state", b"junk", 1, False,
                                   lambda: events.append("ack junk")), 1.0)
    assert await writer.flush()
    assert events == ["ack cmd", "ack junk"]
    assert store.events == ["committed [None]"]  # the malformed row, kept with its reason
    assert recorder.accounting.malformed == 1


async def test_backpressure_once_max_pending_messages_are_held() -> None:
    store = FlakyStore(failures=0)
    recorder = Recorder("regolith")
    writer = StoreWriter(recorder, store, max_pending=3)
    waits = []
    for seq in range(3):
        recorder.handle(inbound(seq, store.events), 1.0)
        waits.append(writer.notify())
    assert waits[:2] == [None, None] and waits[2] is not None
    room = asyncio.ensure_future(waits[2])
    await asyncio.sleep(0)
    assert not room.done()  # the reader waits ...
    await writer.flush()
    await asyncio.wait_for(room, 1)  # ... until the batch is committed
