"""Books every dump in the extraction ledger without blocking the control loop.

Theory of operation
-------------------
``Ledger.append`` signs an entry and ``fsync``s it: milliseconds of disk I/O that
must stay off the event loop. ``LedgerWriter.book`` turns a ``bucket_dumped``
event into a ``DumpRecord`` (the energy spent since the previous dump, the wall
time of the dump) and hands it to a single worker thread, so entries are
written one at a time in dump order. When one is on disk the entry is published
on the ledger topic (from the event loop, in a done-callback); a record the
ledger refuses, or a failed write, becomes a ``ledger_error`` alarm event.
``close()`` waits for every booked dump before it returns; ``after_booked(fn)``
runs *fn* on the same thread, after every dump booked so far (the mission
store's records use it, so a record never counts a dump the ledger lacks).

A kill between an entry's fsync and its outbox append would leave a hole on the
ground, so ``reconcile()`` runs at start: the outbox counts the ledger messages
it ever stored (its ``ledger`` stream's next sequence number, committed with
each row), and every entry on disk beyond that count is published again. The
ground keeps identical entries once (``rig-ground ledger verify``). ``entries`` keeps the
latest ``max_entries`` written entries (the ledger file keeps them all).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from typing import Protocol

from telemetry.contract.json_fields import JsonValue

from ..core.events import ControlEvent, EventKind, Severity
from ..security import DumpRecord

log = logging.getLogger(__name__)

__all__ = ["BookedEntry", "LedgerBook", "LedgerSink", "LedgerWriter"]


class BookedEntry(Protocol):
    def record(self) -> Mapping[str, JsonValue]:
        """The payload of the ledger topic for this entry."""
        ...


class LedgerBook(Protocol):
    """``control.security.Ledger``: durable, signed, one entry per dump."""

    def append(self, record: DumpRecord) -> BookedEntry:
        """Write and fsync; ``ValueError``/``LedgerError`` when it cannot."""
        ...

    def records_from(self, start: int) -> list[dict[str, JsonValue]]:
        """Entries ``start``... as ledger-topic records (file I/O)."""
        ...


class LedgerSink(Protocol):
    """Where written entries and ledger alarms go (the downlink)."""

    def publish_ledger(self, record: Mapping[str, JsonValue]) -> object: ...

    def publish_event(self, kind: EventKind, severity: Severity, text: str,
                      **fields: JsonValue) -> object: ...


def _number(value: object) -> float:
    """A number from event data (``None``, for an unknown position, reads as NaN, which
    the ledger refuses with a clear error)."""
    return float(value) if isinstance(value, int | float) else math.nan


class LedgerWriter:
    def __init__(self, ledger: LedgerBook, sink: LedgerSink | None = None, *,
                 max_entries: int = 256) -> None:
        self.ledger = ledger
        self.sink = sink
        self.entries: collections.deque[BookedEntry] = collections.deque(maxlen=max_entries)
        self.failures = 0
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._energy_at_dump = 0.0

    def _worker(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1,
                                                               thread_name_prefix="ledger")
        return self._pool

    async def reconcile(self) -> int:
        """At start: hand the outbox every entry on disk it never stored (a crash
        between the fsync and the outbox append); returns how many. A sink that
        cannot say how many ledger entries it stored is not reconciled."""
        stored_count = getattr(self.sink, "ledger_entries_stored", None)
        if stored_count is None or not hasattr(self.ledger, "records_from"):
            return 0
        stored = int(stored_count())
        loop = asyncio.get_running_loop()
        try:
            missing = await loop.run_in_executor(self._worker(), self.ledger.records_from,
                                                 stored)
        except Exception as err:  # an alarm, not a reason to keep the rig down
            log.error("ledger not reconciled with the outbox: %s", err)
            return 0
        for record in missing:
            try:
                self.sink.publish_ledger(record)  # type: ignore[union-attr]
            except Exception as err:  # the downlink must never stop the controller
                log.error("ledger entry %s not republished: %s", record.get("index"), err)
                return 0
        if missing:
            log.warning("ledger: republished %d entries that never reached the outbox "
                        "(from index %d)", len(missing), stored)
        return len(missing)

    def book(self, event: ControlEvent, energy_j: float, now_wall: float) -> None:
        """Queue the ledger entry of one ``bucket_dumped`` event (``energy_j``: the
        energy spent since the start of the run)."""
        data = event.data
        record = DumpRecord(time=now_wall, x=_number(data.get("x")), y=_number(data.get("y")),
                            mass_kg=_number(data.get("mass_kg", 0.0)),
                            energy_j=max(0.0, energy_j - self._energy_at_dump),
                            cycle_id=int(data.get("cycle", 0)), site=str(data.get("site", "")))
        self._energy_at_dump = energy_j
        fut = asyncio.get_running_loop().run_in_executor(self._worker(), self.ledger.append,
                                                         record)
        fut.add_done_callback(self._written)

    def after_booked(self, fn: Callable[[], None]) -> asyncio.Future[None]:
        """Run *fn* on the ledger's worker thread once every dump booked so far is on
        disk (the mission store's records, which count those dumps)."""
        return asyncio.get_running_loop().run_in_executor(self._worker(), fn)

    def _written(self, fut: asyncio.Future[BookedEntry]) -> None:
        try:
            entry = fut.result()
        except Exception as err:  # the ledger refusing a record is an alarm, not a crash
            self.failures += 1
            log.error("ledger entry not written: %s", err)
            if self.sink is not None:
                with contextlib.suppress(Exception):
                    self.sink.publish_event(EventKind.LEDGER_ERROR, Severity.ALARM,
                                            str(err))
            return
        self.entries.append(entry)
        if self.sink is not None:
            try:
                self.sink.publish_ledger(entry.record())
            except Exception as err:  # the downlink must never stop the controller
                log.error("ledger entry not stored in the outbox: %s", err)

    async def close(self) -> None:
        """Wait until every booked dump is written and published, then stop the worker."""
        if self._pool is None:
            return
        await asyncio.get_running_loop().run_in_executor(self._pool, lambda: None)
        await asyncio.sleep(0)  # let the done-callbacks publish the entries
        self._pool.shutdown(wait=True)
        self._pool = None
