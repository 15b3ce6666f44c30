"""Replay of a recording (``rig-ground record``) into a fleet model of its own, at a chosen speed.

:class:`ReplayCursor` is the sans-I/O time base: recording time advances at
``speed`` times the wall clock from where it was, and stands still while
paused; ``wait_s(t_rec, now)`` says how long until a message recorded at
``t_rec`` is due. :class:`ReplaySession` reads the recording in chunks on a
thread of its own (SQLite objects stay on the thread that made them; the
event loop never blocks on disk) and feeds each message, when due, to its
``FleetModel`` with the *recording's* receive time as ``now`` and to the
``on_message`` callback (the console pushes rows from there). Duplicates that
the recorder flagged are skipped, exactly as the live intake drops them.

Seeking (``seek(t_rec, wall)``) restarts the replayed stream at ``t_rec``: the
session starts a fresh fleet model, feeds it every message recorded before
``t_rec`` at once and silently (so the state, the alarms and the mission at
that instant are what they were live; no rows are pushed for them), then plays
on from ``t_rec`` at the chosen speed, paused if it was paused. ``seeks``
counts the jumps so pages can drop the rows they drew before one. With
``run(..., hold_at_end=True)`` (the console) a session that reached the end
waits there for a seek until it is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Callable
from pathlib import Path

from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.json_fields import JsonObject
from telemetry.contract.payloads import decode
from telemetry.ground.alarms import AlarmTable
from telemetry.ground.fleet import FleetModel
from telemetry.ground.intake import Sighting
from telemetry.ground.limits import LimitSet
from telemetry.ground.stores import RecordedRow, RecordingStore, StoreError, open_store

__all__ = ["SPEEDS", "ReplayCursor", "ReplaySession", "list_recordings"]

log = logging.getLogger(__name__)

SPEEDS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


def list_recordings(directory: Path | None) -> list[str]:
    """Recording files (``*.db``) in ``directory``, newest first; names only."""
    if directory is None or not directory.is_dir():
        return []
    files = [p for p in directory.iterdir() if p.suffix == ".db" and p.is_file()]
    return [p.name for p in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)]


class ReplayCursor:
    def __init__(self, t_first: float, speed: float, now: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected > 0, got {speed}")
        self.speed = speed
        self.paused = False
        self._anchor_rec = t_first
        self._anchor_wall = now

    def position(self, now: float) -> float:
        """Recording time at wall time ``now``."""
        if self.paused:
            return self._anchor_rec
        return self._anchor_rec + (now - self._anchor_wall) * self.speed

    def wait_s(self, t_rec: float, now: float) -> float:
        """Wall seconds until ``t_rec`` is due (0 if due, inf while paused)."""
        if self.paused:
            return math.inf
        return max(0.0, (t_rec - self.position(now)) / self.speed)

    def jump(self, t_rec: float, now: float) -> None:
        """Continue from recording time ``t_rec`` (paused or not, as before)."""
        self._anchor_rec, self._anchor_wall = t_rec, now

    def set_speed(self, speed: float, now: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed: expected > 0, got {speed}")
        self._anchor_rec, self._anchor_wall = self.position(now), now
        self.speed = speed

    def pause(self, now: float) -> None:
        if not self.paused:
            self._anchor_rec, self._anchor_wall = self.position(now), now
            self.paused = True

    def resume(self, now: float) -> None:
        if self.paused:
            self._anchor_wall = now
            self.paused = False


class ReplaySession:
    def __init__(self, path: Path, *, prefix: str, speed: float, owner: str,
                 limits: LimitSet | None = None,
                 on_message: Callable[[ReplaySession, Sighting], None] | None = None) -> None:
        self.id = secrets.token_hex(6)
        self.path = path
        self.owner = owner
        self.model = FleetModel(prefix, limits=limits, alarms=AlarmTable(require_ack=False),
                                silent_after_s=math.inf)
        self.cursor: ReplayCursor | None = None
        self.speed = speed
        self.first: float | None = None
        self.last: float | None = None
        self.total = 0
        self.played = 0
        self.done = False
        self.error = ""
        self.on_message = on_message
        self.limits = limits
        self.prefix = prefix
        self.seeks = 0  # jumps so far (pages restart their plots when it changes)
        self.closed = False
        self._seek_to: float | None = None
        self._wake = asyncio.Event()
        self._store: RecordingStore | None = None

    # ------------------------------------------------------------------ control
    def now(self, wall: float) -> float:
        """Recording time to show views against."""
        if self.cursor is None:
            return self.first or 0.0
        return min(self.cursor.position(wall), self.last or math.inf)

    def set_speed(self, speed: float, wall: float) -> None:
        self.speed = speed
        if self.cursor is not None:
            self.cursor.set_speed(speed, wall)
        self._wake.set()

    def pause(self, wall: float) -> None:
        if self.cursor is not None:
            self.cursor.pause(wall)
        self._wake.set()

    def resume(self, wall: float) -> None:
        if self.cursor is not None:
            self.cursor.resume(wall)
        self._wake.set()

    def seek(self, t_rec: float, wall: float) -> float:
        """Restart the replayed stream at recording time ``t_rec`` (clamped to the
        recording); returns where it restarts. Raises ``ValueError`` before the recording
        is open or for a time that is not finite."""
        if self.cursor is None or self.first is None or self.last is None:
            raise ValueError("seek: the recording is not open yet")
        if not math.isfinite(t_rec):
            raise ValueError(f"seek: expected a finite recording time, got {t_rec}")
        t = min(max(t_rec, self.first), self.last)
        self._seek_to = t
        self.cursor.jump(t, wall)
        self.seeks += 1
        self.done = False
        self._wake.set()
        return t

    def close(self) -> None:
        """End a session held at its end (``run(hold_at_end=True)``)."""
        self.closed = True
        self._wake.set()

    def status(self, wall: float) -> JsonObject:
        return {"id": self.id, "file": self.path.name, "speed": self.speed,
                "paused": bool(self.cursor and self.cursor.paused), "done": self.done,
                "error": self.error, "first": self.first, "last": self.last,
                "position": self.now(wall), "played": self.played, "total": self.total,
                "rigs": sorted(self.model.rigs), "seeks": self.seeks}

    # ------------------------------------------------------------------ running
    async def run(self, clock: Callable[[], float], *, hold_at_end: bool = False) -> None:
        """Play the recording to its end (cancel to stop); with ``hold_at_end``, then wait
        there for a seek until closed. Never raises on bad data."""
        try:
            self._store = await open_store(self.path)
            self.first, self.last, self.total = await self._store.span()
            if self.first is None:
                self.error = "the recording holds no messages"
                return
            self.cursor = ReplayCursor(self.first, self.speed, clock())
            start: float | None = None
            while not self.closed:
                start = await self._play_from(start, clock)
                if start is not None:
                    continue  # a seek: start over from there
                self.done = True
                if not hold_at_end:
                    return
                while self._seek_to is None and not self.closed:
                    self._wake.clear()
                    await self._wake.wait()
                start, self._seek_to = self._seek_to, None
        except (OSError, ValueError, StoreError) as err:
            self.error = f"{self.path.name}: not a readable recording ({err})"
            log.warning("replay of %s failed: %s", self.path, err)
        finally:
            if self._store is not None:
                await self._store.close()
                self._store = None

    async def _play_from(self, start: float | None, clock: Callable[[], float]
                         ) -> float | None:
        """Play from recording time ``start`` (``None``: the beginning, with this model) to
        the end: ``None``, or the time a seek asked for."""
        assert self._store is not None
        if start is not None:  # a fresh model, brought silently to ``start``
            self.model = FleetModel(self.prefix, limits=self.limits,
                                    alarms=AlarmTable(require_ack=False),
                                    silent_after_s=math.inf)
        self.played = 0
        # closed here, cancelled or not, *before* the store: left to the garbage
        # collector, its cleanup would run later on a closed database
        async with contextlib.aclosing(self._store.rows()) as rows:
            async for row in rows:
                if start is not None and row.received_at < start:
                    self._feed(row, push=False)
                    continue
                if not await self._due(row, clock):
                    target, self._seek_to = self._seek_to, None
                    return target
                self._feed(row, push=True)
        return None

    async def _due(self, row: RecordedRow, clock: Callable[[], float]) -> bool:
        """Wait until ``row`` is due: ``False`` if a seek (or close) came first."""
        assert self.cursor is not None
        while (delay := self.cursor.wait_s(row.received_at, clock())) > 0:
            if self._seek_to is not None or self.closed:
                return False
            self._wake.clear()
            try:
                async with asyncio.timeout(None if math.isinf(delay) else delay):
                    await self._wake.wait()
            except TimeoutError:
                pass
        return self._seek_to is None and not self.closed

    def _feed(self, row: RecordedRow, *, push: bool) -> None:
        self.played += 1
        self.model.tick(row.received_at)  # cleared alarms leave as they did live
        if row.duplicate:
            return
        try:
            message = decode(row.payload)
        except PayloadDecodeError:
            self.model.accounting.malformed += 1
            return
        seen = self.model.take(Sighting("", row.rig, row.stream, message, row.payload),
                               row.received_at)
        if push and seen is not None and self.on_message is not None:
            self.on_message(self, seen)
