"""Gather the messages the broker refused into one alarm per window (sans-I/O).

A misconfigured ACL refuses every message of a stream, maybe ten a second; one
alarm per refused message would bury the ground in alarms. Rules: the first
refusal opens a window of ``window_s``; refusals until it closes are merged per
(stream, topic, reason code) into ranges of sequence numbers; when it closes
(``handle_timer(now)``) the ranges are released as one report, and the next
refusal opens a new window. With ``window_s <= 0`` every refusal is released at
once. The ranges say exactly which numbers the ground will miss and why.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RefusedRange", "RejectionLog"]


@dataclass(frozen=True, slots=True)
class RefusedRange:
    stream: str
    topic: str
    first_seq: int
    last_seq: int
    count: int
    reason_code: int
    reason: str

    def as_dict(self) -> dict[str, str | int]:
        return {"stream": self.stream, "topic": self.topic, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "count": self.count,
                "reason_code": self.reason_code, "reason": self.reason}


class RejectionLog:
    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._opened: float | None = None
        self._ranges: dict[tuple[str, str, int], RefusedRange] = {}

    def add(self, stream: str, seq: int, topic: str, reason_code: int, reason: str,
            now: float) -> tuple[RefusedRange, ...]:
        """Record one refusal; returns a report to release now (empty: wait for the timer)."""
        key = (stream, topic, reason_code)
        old = self._ranges.get(key)
        self._ranges[key] = RefusedRange(stream, topic, seq, seq, 1, reason_code, reason) \
            if old is None else RefusedRange(stream, topic, min(old.first_seq, seq),
                                             max(old.last_seq, seq), old.count + 1,
                                             reason_code, reason)
        if self._opened is None:
            self._opened = now
        if self.window_s <= 0:
            return self.flush()
        return ()

    def get_timer(self) -> float | None:
        """When ``handle_timer`` next has work, or ``None``."""
        return None if self._opened is None else self._opened + self.window_s

    def handle_timer(self, now: float) -> tuple[RefusedRange, ...]:
        if self._opened is not None and now >= self._opened + self.window_s:
            return self.flush()
        return ()

    def flush(self) -> tuple[RefusedRange, ...]:
        """Release everything gathered so far (at shutdown, or when the window closes)."""
        out = tuple(self._ranges.values())
        self._ranges.clear()
        self._opened = None
        return out
