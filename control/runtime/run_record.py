"""What a run looked like, in bounded memory: decimated signal history and recent events.

Theory of operation
-------------------
The demo's summary and plot want the whole run at a readable resolution; a
rover service that runs for months must not grow. ``RunRecord`` keeps one row
per ``every`` ticks in a preallocated array of ``max_rows`` rows. When it is
full it keeps every other row and doubles ``every``: the history always spans
the whole run, at a resolution that halves each time it fills (a 100 Hz loop
recording every 10th tick fills 20 000 rows in about 33 minutes, then keeps
about 10 000-20 000 rows over any length of run). Events go to an ``EventLog``
that keeps the latest ``max_events`` and counts every one, so a reader can
follow it with a cursor and learn how many it missed.

The row buffer is written through once when it is made (filled with NaN): a
buffer from ``np.empty`` costs no resident memory until rows land in its pages,
so the process's RSS crept up by a row's bytes per recorded tick until the
buffer was full (1.2 KB/s at 100 Hz and every 10th tick, for 33 minutes: the
"leak" of issue 22, docs/soak.md). Touched at start, the record's memory is
flat from the first second and a soak's slope measures real leaks only.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

__all__ = ["COLUMNS", "EventLog", "RecordedEvent", "RunRecord"]

#: One row per recorded tick (``RunRecord.array()`` columns, in this order).
COLUMNS: tuple[str, ...] = ("t", "mode", "drum_current", "drum_speed", "cut_depth",
                            "bucket_kg", "load_cell_kg", "model_kg", "tilt", "motor_temp",
                            "battery_soc", "x", "y", "depth_cmd", "speed_cmd")

#: (plant time, severity, text)
RecordedEvent = tuple[float, str, str]


class EventLog:
    """The latest ``maxlen`` events, and how many there were in all."""

    def __init__(self, maxlen: int = 2000) -> None:
        if maxlen < 1:
            raise ValueError(f"maxlen: expected >= 1, got {maxlen}")
        self._items: collections.deque[RecordedEvent] = collections.deque(maxlen=maxlen)
        self.total = 0

    def append(self, event: RecordedEvent) -> None:
        self._items.append(event)
        self.total += 1

    def since(self, cursor: int) -> tuple[list[RecordedEvent], int]:
        """Events after the first ``cursor`` ever appended (as many as are still kept)
        and the cursor to pass next time."""
        kept = len(self._items)
        new = min(max(self.total - cursor, 0), kept)
        return list(self._items)[kept - new:], self.total

    def __iter__(self) -> Iterator[RecordedEvent]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class RunRecord:
    """Decimated signal history (``COLUMNS``) and recent events of one run."""

    every: int = 1  # record one tick in this many (doubles each time the buffer fills)
    max_rows: int = 20_000
    max_events: int = 2_000
    columns: tuple[str, ...] = COLUMNS
    events: EventLog = field(init=False)
    _rows: np.ndarray = field(init=False)
    _len: int = field(init=False, default=0)
    _skipped: int = field(init=False, default=0)  # ticks since the last kept row

    def __post_init__(self) -> None:
        if self.every < 1 or self.max_rows < 2 or self.max_rows % 2:
            raise ValueError(f"expected every >= 1 and an even max_rows >= 2, got "
                             f"{self.every}, {self.max_rows}")
        self.events = EventLog(self.max_events)
        # np.full writes every page now (see the module docstring); np.empty or np.zeros
        # (calloc: zero pages mapped on first write) would grow the RSS row by row
        self._rows = np.full((self.max_rows, len(self.columns)), np.nan)

    def add(self, row: tuple[float, ...]) -> None:
        """Offer one tick's row; it is kept if it falls on the current decimation."""
        self._skipped += 1
        if self._skipped < self.every:
            return
        self._skipped = 0
        if self._len == self.max_rows:
            # keep rows 1, 3, 5... (the newest among them): they sit 2*every apart, and
            # this row, only every after the newest, is skipped to keep that spacing
            kept = self._rows[1::2]
            self._len = len(kept)
            self._rows[: self._len] = kept
            self._skipped = self.every
            self.every *= 2
            return
        self._rows[self._len] = row
        self._len += 1

    def __len__(self) -> int:
        return self._len

    def array(self) -> np.ndarray:
        """The recorded rows (a copy), shape ``(n, len(columns))``."""
        return self._rows[: self._len].copy()
