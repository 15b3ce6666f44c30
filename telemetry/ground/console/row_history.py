"""The rows a console page gets when it opens: the last ``HISTORY_S`` of each rig's
batches, bounded (sans-I/O).

Kept per (source, rig) as the JSON text already sent to open pages, and trimmed by
the rows' ground UTC time (``SampleTimes``), not by the firmware's seconds, which
restart at every reset. Batches are unsigned, so their sizes and time stamps are
anyone's to choose: each (source, rig) keeps at most ``per_rig_max`` batches and
``per_rig_bytes``, and all together at most ``total_bytes``; over that, the oldest
rows of the rig holding the most go first (a rig cannot be starved by others).
"""

from __future__ import annotations

from collections import deque

__all__ = ["HISTORY_S", "RowHistory"]

HISTORY_S = 30.0  # seconds of rows replayed to a page that opens

Key = tuple[str, str]  # (source, rig)


class RowHistory:
    def __init__(self, *, span_s: float = HISTORY_S, per_rig_max: int = 1000,
                 per_rig_bytes: int = 8 << 20, total_bytes: int = 64 << 20) -> None:
        self.span_s = span_s
        self.per_rig_max = per_rig_max
        self.per_rig_bytes = per_rig_bytes
        self.total_bytes = total_bytes
        self._rows: dict[Key, deque[tuple[float, str]]] = {}
        self._bytes: dict[Key, int] = {}
        self.held_bytes = 0
        self.trimmed_for_room = 0  # rows let go early: over a byte bound, not old

    def add(self, key: Key, t_utc: float, text: str) -> None:
        rows = self._rows.setdefault(key, deque())
        rows.append((t_utc, text))
        self._bytes[key] = self._bytes.get(key, 0) + len(text)
        self.held_bytes += len(text)
        while rows and (t_utc - rows[0][0] > self.span_s or len(rows) > self.per_rig_max):
            self._pop(key)
        while len(rows) > 1 and self._bytes[key] > self.per_rig_bytes:
            self._pop(key)
            self.trimmed_for_room += 1
        while self.held_bytes > self.total_bytes:
            largest = max(self._bytes, key=self._bytes.__getitem__)
            self._pop(largest)
            self.trimmed_for_room += 1

    def _pop(self, key: Key) -> None:
        rows = self._rows[key]
        _, text = rows.popleft()
        self._bytes[key] -= len(text)
        self.held_bytes -= len(text)
        if not rows:
            del self._rows[key], self._bytes[key]

    def rows(self, key: Key) -> list[str]:
        return [text for _, text in self._rows.get(key, ())]

    def forget(self, source: str) -> None:
        for key in [k for k in self._rows if k[0] == source]:
            self.held_bytes -= self._bytes.pop(key)
            del self._rows[key]
