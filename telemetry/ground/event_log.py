"""The alarm and event log: every alarm occurrence and rover event, kept after they leave
the alarm table (sans-I/O).

Theory of operation
-------------------
The alarm table (``telemetry.ground.alarms``) lists what needs attention now:
an alarm cleared and acknowledged leaves it. The log keeps the history an
operator reads back after a shift: one entry per alarm *occurrence* (keyed by
the alarm's id and its count, so a cause that comes back is a new line) that
follows the alarm through raised, acknowledged (by whom, when) and cleared,
and one entry per rover event as received, with whether its signature was
verified. Entries are held newest last in a bounded map; when it is full the
oldest goes and is counted (``dropped``). :meth:`query` filters by
:class:`LogFilter` and returns newest first. Time is an argument (ground
wall-clock seconds); nothing here reads a clock.
"""

from __future__ import annotations

import enum
import itertools
from collections import OrderedDict
from dataclasses import dataclass

from telemetry.contract import Severity
from telemetry.ground.alarms import Alarm, AlarmState

__all__ = ["EntryType", "EventLog", "LogEntry", "LogFilter", "LogPage", "LogState",
           "severity_rank"]

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ALARM: 2, Severity.CRITICAL: 3}


def severity_rank(severity: Severity) -> int:
    return _RANK[severity]


class EntryType(enum.StrEnum):
    ALARM = "alarm"
    EVENT = "event"


class LogState(enum.StrEnum):
    """What the state filter asks for (an alarm's; events have none)."""

    ACTIVE = "active"  # its cause is present (or unknown: stale)
    UNACKED = "unacked"
    ACKED = "acked"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int  # order of arrival in the log
    type: EntryType
    rig: str
    name: str  # the alarm's cause, or the event's kind
    severity: Severity
    text: str
    at: float  # ground time it was raised / received
    verified: bool | None  # the rig's signature checked (None: the ground checks none)
    alarm: Alarm | None = None
    t_rig: float | None = None  # an event's rig time
    historical: bool = False  # an event drained from the rover's backlog
    count: int = 1

    def matches_state(self, state: LogState) -> bool:
        alarm = self.alarm
        if alarm is None:
            return False
        if state is LogState.ACTIVE:
            return alarm.state is not AlarmState.CLEARED
        if state is LogState.CLEARED:
            return alarm.state is AlarmState.CLEARED
        return alarm.acknowledged is (state is LogState.ACKED)

    def haystack(self) -> str:
        acked = self.alarm.acked_by if self.alarm and self.alarm.acked_by else ""
        return f"{self.rig}\n{self.name}\n{self.text}\n{acked}".lower()


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Every field is optional; an entry must pass all that are given."""

    rig: str | None = None
    type: EntryType | None = None
    min_severity: Severity | None = None
    kind: str | None = None  # an event kind or alarm cause, or a cause kind ("interlock")
    state: LogState | None = None
    verified_only: bool = False
    since: float | None = None  # ground time, inclusive
    until: float | None = None  # ground time, inclusive
    text: str | None = None  # case-insensitive substring of rig, kind, text, acked_by

    def __call__(self, e: LogEntry) -> bool:
        if (self.rig is not None and e.rig != self.rig) or \
                (self.type is not None and e.type is not self.type):
            return False
        if self.min_severity is not None and _RANK[e.severity] < _RANK[self.min_severity]:
            return False
        if self.kind is not None and e.name != self.kind and \
                not e.name.startswith(f"{self.kind}:"):
            return False
        if (self.state is not None and not e.matches_state(self.state)) or \
                (self.verified_only and e.verified is not True):
            return False
        if (self.since is not None and e.at < self.since) or \
                (self.until is not None and e.at > self.until):
            return False
        return self.text is None or self.text.lower() in e.haystack()


@dataclass(frozen=True, slots=True)
class LogPage:
    entries: list[LogEntry]  # newest first, at most the limit asked for
    matched: int  # entries passing the filter (before the limit)
    kept: int  # entries in the log
    dropped: int  # entries pushed out by the bound since the start
    capacity: int


class EventLog:
    def __init__(self, capacity: int = 5000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: expected at least 1 entry, got {capacity}")
        self.capacity = capacity
        self.dropped = 0
        self.version = 0
        self._entries: OrderedDict[tuple[str, int, int], LogEntry] = OrderedDict()
        self._seq = itertools.count(1)

    def __len__(self) -> int:
        return len(self._entries)

    def note_alarm(self, alarm: Alarm, verified: bool | None = None) -> None:
        """The alarm was raised or changed: add or update its occurrence's entry."""
        key = ("alarm", alarm.id, alarm.count)
        old = self._entries.get(key)
        if old is None:
            self._add(key, LogEntry(next(self._seq), EntryType.ALARM, alarm.rig, alarm.cause,
                                    alarm.severity, alarm.text, alarm.updated_at, verified,
                                    alarm=alarm, count=alarm.count))
            return
        self._entries[key] = LogEntry(old.seq, old.type, old.rig, old.name, alarm.severity,
                                      alarm.text, old.at, old.verified, alarm=alarm,
                                      count=alarm.count)
        self.version += 1

    def note_event(self, rig: str, kind: str, severity: Severity, text: str, now: float, *,
                   verified: bool | None, t_rig: float | None = None,
                   historical: bool = False, count: int = 1) -> None:
        seq = next(self._seq)
        self._add(("event", seq, 0), LogEntry(seq, EntryType.EVENT, rig, kind, severity, text,
                                              now, verified, t_rig=t_rig,
                                              historical=historical, count=count))

    def query(self, where: LogFilter | None = None, limit: int = 500) -> LogPage:
        where = where or LogFilter()
        hits = [e for e in self._entries.values() if where(e)]
        hits.sort(key=lambda e: (e.at, e.seq), reverse=True)
        return LogPage(hits[:max(0, limit)], len(hits), len(self._entries), self.dropped,
                       self.capacity)

    def _add(self, key: tuple[str, int, int], entry: LogEntry) -> None:
        self._entries[key] = entry
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
            self.dropped += 1
        self.version += 1
