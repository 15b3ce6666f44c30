"""The recorder's write path: commit what it holds to the store, then acknowledge it.

Group commit: the writer task takes everything the recorder holds, stores it in one
transaction and only then sends the broker the PUBACKs of those messages, in their
order of arrival. While one batch commits, the next accumulates, so batches grow
with load; after a quiet spell the writer lingers ``linger_s`` (20 ms) before
committing, so a steady trickle costs one transaction per linger, not one per
message (a transaction's fixed cost dominates small ones). A crash therefore
never loses a message the broker delivered: unacknowledged messages are redelivered
to the recorder's persistent session, and the store flags the copies it already
holds as duplicates.

The store unreachable: the batch is retried with capped, jittered backoff and
nothing is acknowledged, so the broker stops sending once ``receive_maximum``
messages are unacknowledged (backpressure, nothing dropped); each outage and
recovery is logged. Rows the store refuses outright are not retried forever: after
``max_attempts`` the batch is logged, counted as ``failed`` and left unacknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable
from typing import Protocol

from rig_common.backoff import Backoff
from telemetry.ground.stores import RecordingStore, StoreError, WriteItem, WriteOutcome
from telemetry.mqtt.adapter import InboundMessage

__all__ = ["StoreWriter"]

log = logging.getLogger(__name__)


class _Source(Protocol):
    """What the writer needs from the recorder core (``Recorder`` satisfies it)."""

    @property
    def pending(self) -> int: ...

    def take(self) -> tuple[list[WriteItem], list[InboundMessage]]: ...


class StoreWriter:
    def __init__(self, recorder: _Source, store: RecordingStore, *, max_pending: int = 5000,
                 linger_s: float = 0.02, backoff: Backoff | None = None,
                 max_attempts: int = 1000) -> None:
        self.recorder = recorder
        self.store = store
        self.max_pending = max_pending
        self.linger_s = linger_s
        self.stored = 0
        self.duplicates = 0
        self.malformed = 0
        self.batches = 0
        self.failed = 0
        self.write_seconds: deque[float] = deque(maxlen=100_000)  # the latest writes
        self._backoff = backoff or Backoff(0.1, 5.0)
        self._max_attempts = max_attempts
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._lock = asyncio.Lock()

    def notify(self) -> Awaitable[None] | None:
        """A message was added to the recorder: wake the writer; await the result (if
        any) before reading the next message, so the recorder holds at most
        ``max_pending`` messages."""
        self._wake.set()
        if self.recorder.pending >= self.max_pending:
            self._room.clear()
            return self._room.wait()
        return None

    async def run(self) -> None:
        """The writer task: commits whenever something is pending, until cancelled."""
        while True:
            await self._wake.wait()
            if self.linger_s > 0 and self.recorder.pending < self.max_pending // 2:
                await asyncio.sleep(self.linger_s)  # let a batch gather
            self._wake.clear()
            await self.flush()

    async def flush(self, deadline: float | None = None) -> bool:
        """Commit and acknowledge everything held now; ``False`` if the store stayed
        unreachable past *deadline* (``time.monotonic()`` seconds)."""
        async with self._lock:
            while self.recorder.pending:
                items, acks = self.recorder.take()
                if items and not await self._store(items, deadline):
                    return False
                for message in acks:
                    message.ack()
                self._room.set()
        return True

    def write_percentile_ms(self, q: float) -> float | None:
        """The *q*-th percentile (nearest rank) of recent write durations."""
        if not self.write_seconds:
            return None
        ordered = sorted(self.write_seconds)
        return 1000.0 * ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]

    async def _store(self, items: list[WriteItem], deadline: float | None) -> bool:
        attempts, outage = 0, False
        while True:
            started = time.monotonic()
            try:
                outcome: WriteOutcome = await self.store.write(items)
            except StoreError as err:
                attempts += 1
                if not outage:
                    log.warning("store %s: %s (retrying; nothing is acknowledged meanwhile)",
                                self.store.location, err)
                    outage = True
                if attempts >= self._max_attempts or (
                        deadline is not None and time.monotonic() >= deadline):
                    self.failed += len(items)
                    log.error("store %s: %d rows not stored after %d attempts; the broker "
                              "redelivers them to a persistent session", self.store.location,
                              len(items), attempts)
                    return False
                await asyncio.sleep(self._backoff.next_delay())
                continue
            if outage:
                log.warning("store %s: writing again after %d failed attempts",
                            self.store.location, attempts)
            self._backoff.reset()
            self.write_seconds.append(time.monotonic() - started)
            self.batches += 1
            self.stored += outcome.messages
            self.duplicates += outcome.duplicates
            self.malformed += outcome.malformed
            return True
