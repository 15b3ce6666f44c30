"""A bounded event queue for one consumer that never drops what must not be lost.

The bridge produces events faster than a stalled consumer may read them (sample
batches at 1-10 kHz). Memory must stay bounded, so on overflow something is
dropped and counted; but a dropped ``Disconnected`` would leave the consumer
believing the link is still up when the next ``Connected`` arrives, and a
dropped firmware event (a watchdog stop, an e-stop) would hide a safety fact.

Rules:

* Events for which ``keep(event)`` is true are never dropped. They are rare
  (link transitions, firmware events, delivery failures), so they cannot by
  themselves fill memory: the queue holds at most ``maxsize`` droppable events
  plus the kept ones.
* On overflow the OLDEST droppable event goes (stale samples are worth least),
  and ``dropped`` counts it, per type in ``dropped_by_type``.
* Order is preserved for everything that remains.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["EventQueue"]

T = TypeVar("T")


class EventQueue(Generic[T]):
    """FIFO with a bound on droppable entries; see the module docstring."""

    def __init__(self, maxsize: int, keep: Callable[[T], bool]) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self._keep = keep
        self._items: deque[T] = deque()
        self._droppable = 0
        self._ready = asyncio.Event()
        self.dropped = 0
        self.dropped_by_type: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: T) -> None:
        kept = self._keep(event)
        if not kept and self._droppable >= self.maxsize:
            self._drop_oldest_droppable()
        self._items.append(event)
        if not kept:
            self._droppable += 1
        self._ready.set()

    def get_nowait(self) -> T | None:
        if not self._items:
            return None
        event = self._items.popleft()
        if not self._keep(event):
            self._droppable -= 1
        if not self._items:
            self._ready.clear()
        return event

    async def get(self) -> T:
        while True:
            event = self.get_nowait()
            if event is not None:
                return event
            await self._ready.wait()

    def _drop_oldest_droppable(self) -> None:
        for i, old in enumerate(self._items):
            if not self._keep(old):
                del self._items[i]
                self._droppable -= 1
                self.dropped += 1
                self.dropped_by_type[type(old).__name__] += 1
                return
