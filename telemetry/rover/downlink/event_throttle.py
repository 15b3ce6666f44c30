"""Throttle repeated identical events into one message with a count (sans-I/O).

Rules: the first occurrence of an event (same kind, severity, text and fields)
passes at once. Repeats within ``window_s`` of that first one are counted, not
passed. When the window closes (``handle_timer(now)``, or the next ``offer``
after it) one summary with ``count`` = number of repeats and the time of the
first repeat is released, and a new window starts with the next occurrence.
Distinct events never hold each other back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from telemetry.contract.json_fields import JsonValue
from telemetry.contract.names import EventKind
from telemetry.contract.topics import Severity

__all__ = ["EventThrottle", "ThrottledEvent"]


@dataclass(frozen=True, slots=True)
class ThrottledEvent:
    kind: EventKind | str  # a caller's own kind may be a plain string (tests)
    severity: Severity
    text: str
    fields: dict[str, JsonValue] = field(default_factory=dict)
    count: int = 1
    first_t_rig: float | None = None


@dataclass(slots=True)
class _Window:
    event: ThrottledEvent
    opened: float
    repeats: int = 0
    first_repeat_t_rig: float | None = None


class EventThrottle:
    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self._open: dict[str, _Window] = {}
        self.suppressed = 0

    @staticmethod
    def _key(event: ThrottledEvent) -> str:
        return json.dumps([event.kind, event.severity, event.text, event.fields],
                          sort_keys=True, default=repr)

    def offer(self, event: ThrottledEvent, now: float, t_rig: float) -> list[ThrottledEvent]:
        """Events to publish now (the offered one and/or expired summaries)."""
        out = self.handle_timer(now)
        if self.window_s <= 0:
            return [*out, event]
        key = self._key(event)
        window = self._open.get(key)
        if window is None:
            self._open[key] = _Window(event, now)
            out.append(event)
        else:
            window.repeats += 1
            self.suppressed += 1
            if window.first_repeat_t_rig is None:
                window.first_repeat_t_rig = t_rig
        return out

    def get_timer(self) -> float | None:
        """When ``handle_timer`` next has work, or ``None``."""
        if not self._open:
            return None
        return min(w.opened for w in self._open.values()) + self.window_s

    def handle_timer(self, now: float) -> list[ThrottledEvent]:
        out = []
        for key, window in list(self._open.items()):
            if now >= window.opened + self.window_s:
                del self._open[key]
                if window.repeats:
                    e = window.event
                    out.append(ThrottledEvent(e.kind, e.severity, e.text, e.fields,
                                              window.repeats, window.first_repeat_t_rig))
        return out
