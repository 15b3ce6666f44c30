"""The bridge's bounded event queue: overflow drops only what may be lost."""

from __future__ import annotations

import asyncio

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from firmware_bridge.bridge import Connected, Disconnected, must_deliver
from firmware_bridge.event_queue import EventQueue
from firmware_bridge.link import MessageReceived
from firmware_bridge.messages import Event, FirmwareInfo, FirmwareSeverity, SampleBatch


def batch(i: int) -> MessageReceived:
    return MessageReceived(SampleBatch(0, i, 0, 100_000, np.zeros((1, 1), np.int16)), i)


INFO = FirmwareInfo.__new__(FirmwareInfo)  # only identity matters to the queue


def test_a_disconnect_survives_an_overflow_of_batches() -> None:
    q: EventQueue = EventQueue(4, keep=must_deliver)
    q.put(Disconnected("cable pulled"))
    for i in range(100):
        q.put(batch(i))
    q.put(Connected(INFO, reconnect=True))
    got = [q.get_nowait() for _ in range(len(q))]
    assert isinstance(got[0], Disconnected)  # never dropped, still first
    assert isinstance(got[-1], Connected)
    assert [e.message.stream_seq for e in got[1:-1]] == [96, 97, 98, 99]  # newest batches kept
    assert q.dropped == 96 and q.dropped_by_type == {"MessageReceived": 96}
    assert q.get_nowait() is None


def test_firmware_events_are_never_dropped() -> None:
    q: EventQueue = EventQueue(2, keep=must_deliver)
    ev = MessageReceived(Event(1, 3, FirmwareSeverity.CRITICAL, 0.0, "watchdog"), 1)
    q.put(ev)
    for i in range(10):
        q.put(batch(i))
    assert q.get_nowait() is ev


@given(st.lists(st.booleans(), max_size=300), st.integers(1, 20))
def test_keeps_order_bounds_droppables_and_counts_every_drop(kinds: list[bool], size: int
                                                             ) -> None:
    q: EventQueue = EventQueue(size, keep=lambda e: e[0])
    for i, keep in enumerate(kinds):
        q.put((keep, i))
    out = [q.get_nowait() for _ in range(len(q))]
    assert [i for _, i in out] == sorted(i for _, i in out)  # order preserved
    assert {i for keep, i in out if keep} == {i for i, k in enumerate(kinds) if k}
    kept_droppable = [i for keep, i in out if not keep]
    assert len(kept_droppable) <= size
    assert q.dropped == sum(not k for k in kinds) - len(kept_droppable)
    # the survivors among the droppable events are the newest ones
    newest = [i for i, k in enumerate(kinds) if not k][-size:] if size else []
    assert kept_droppable == newest


async def test_get_waits_for_the_next_event() -> None:
    q: EventQueue = EventQueue(4, keep=must_deliver)
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.put(Disconnected("x"))
    assert await asyncio.wait_for(waiter, 1.0) == Disconnected("x")
