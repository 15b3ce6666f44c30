"""The ground's alarm table: raised by a cause, cleared when the cause clears (sans-I/O).

Theory of operation
-------------------
An alarm is keyed by ``(rig, cause)``; a cause is ``<kind>:<name>`` of the
contract's ``CauseKind`` (``CauseKind.INTERLOCK.cause("tilt")``): ``interlock:<name>``
(an interlock of the rover), ``limit:<channel>`` (a live value beyond its red
limit), ``event:<kind>`` (a one-off alarm event, e.g. an obstacle report). Its
life follows ISA-18.2:

* *active*: the cause is present. Raising it again while active only updates it.
* *cleared*: the cause went away (the rover's ``interlock_cleared``, the
  interlock missing from the next state, the value back within limits). A
  one-off event alarm has no lasting cause: it is born cleared.
* *stale*: the rig went offline (or silent) while the alarm was active: its
  cause is unknown, it is shown as such and never as live. The next live
  state or value decides it again.

With ``require_ack`` (the console) an alarm stays listed until it is both
cleared and acknowledged; who acknowledged it and when is kept. Without it
(``rig-ground watch``, which has no operator input) a cleared alarm is shown
for ``cleared_hold_s`` and then dropped. A cause that comes back before the
alarm left the table re-opens it (``count`` + 1, acknowledgement reset).
Every change bumps ``version`` so a view can tell when to repaint, and is handed
to each of ``observers`` (the event log keeps what leaves the table).
Time is an argument (ground wall-clock seconds); nothing here reads a clock.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from telemetry.contract import CauseKind, Severity

__all__ = ["Alarm", "AlarmNotFoundError", "AlarmState", "AlarmTable"]


class AlarmState(enum.StrEnum):
    ACTIVE = "active"
    CLEARED = "cleared"
    STALE = "stale"


class AlarmNotFoundError(KeyError):
    """No alarm with that id (it may have left the table already)."""


@dataclass(frozen=True, slots=True)
class Alarm:
    id: int
    rig: str
    cause: str
    severity: Severity
    text: str
    state: AlarmState
    raised_at: float
    updated_at: float
    count: int = 1
    acked_by: str | None = None
    acked_at: float | None = None
    cleared_at: float | None = None

    @property
    def acknowledged(self) -> bool:
        return self.acked_by is not None

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "rig": self.rig, "cause": self.cause,
                "severity": self.severity.value, "text": self.text, "state": self.state.value,
                "raised_at": self.raised_at, "updated_at": self.updated_at,
                "count": self.count, "acked_by": self.acked_by, "acked_at": self.acked_at,
                "cleared_at": self.cleared_at}


_OFFLINE = CauseKind.RIG.cause("offline")  # telemetry.ground.offline raises it
_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ALARM: 2, Severity.CRITICAL: 3}


class AlarmTable:
    def __init__(self, *, require_ack: bool = True, cleared_hold_s: float = 30.0,
                 max_per_rig: int = 200) -> None:
        self.require_ack = require_ack
        self.cleared_hold_s = cleared_hold_s
        self.max_per_rig = max_per_rig
        self.version = 0
        self.dropped = 0  # alarms pushed out by max_per_rig
        self._alarms: dict[tuple[str, str], Alarm] = {}
        self._ids = itertools.count(1)
        self.observers: list[Callable[[Alarm], None]] = []  # told of every change

    # ------------------------------------------------------------------ queries
    def all(self) -> list[Alarm]:
        """Every listed alarm, worst first (active before stale before cleared)."""
        order = {AlarmState.ACTIVE: 0, AlarmState.STALE: 1, AlarmState.CLEARED: 2}
        return sorted(self._alarms.values(),
                      key=lambda a: (order[a.state], -_RANK[a.severity], -a.updated_at))

    def for_rig(self, rig: str) -> list[Alarm]:
        return [a for a in self.all() if a.rig == rig]

    def get(self, rig: str, cause: str) -> Alarm | None:
        return self._alarms.get((rig, cause))

    def active_count(self, rig: str | None = None) -> int:
        return sum(1 for a in self._alarms.values()
                   if a.state is AlarmState.ACTIVE and (rig is None or a.rig == rig))

    def unacked_count(self, rig: str | None = None) -> int:
        return sum(1 for a in self._alarms.values()
                   if not a.acknowledged and (rig is None or a.rig == rig))

    # ------------------------------------------------------------------ changes
    def raise_alarm(self, rig: str, cause: str, severity: Severity, text: str, now: float, *,
                    one_off: bool = False) -> Alarm:
        """The cause is present (or, ``one_off``, happened once)."""
        key = (rig, cause)
        old = self._alarms.get(key)
        state = AlarmState.CLEARED if one_off else AlarmState.ACTIVE
        cleared_at = now if one_off else None
        if old is None:
            alarm = Alarm(next(self._ids), rig, cause, Severity(severity), text, state, now, now,
                          cleared_at=cleared_at)
            self._make_room(rig)
        elif old.state is AlarmState.ACTIVE and not one_off:
            if old.text == text and _RANK[severity] <= _RANK[old.severity]:
                return old
            alarm = replace(old, text=text, updated_at=now,
                            severity=max(old.severity, Severity(severity), key=_RANK.get))
        else:
            # it happened again (or its stale cause is confirmed): a new occurrence if it
            # had cleared, to be acknowledged again
            again = old.state is AlarmState.CLEARED
            alarm = replace(old, text=text, state=state, updated_at=now,
                            severity=Severity(severity) if again else
                            max(old.severity, Severity(severity), key=_RANK.get),
                            count=old.count + again,
                            acked_by=None if again else old.acked_by,
                            acked_at=None if again else old.acked_at,
                            cleared_at=cleared_at)
        self._alarms[key] = alarm
        self._changed(alarm)
        return alarm

    def clear(self, rig: str, cause: str, now: float) -> Alarm | None:
        """The cause went away."""
        old = self._alarms.get((rig, cause))
        if old is None or old.state is AlarmState.CLEARED:
            return old
        alarm = replace(old, state=AlarmState.CLEARED, cleared_at=now, updated_at=now)
        self._store(alarm)
        return alarm

    def clear_absent(self, rig: str, kind: CauseKind, present: Iterable[str],
                     now: float) -> None:
        """Clear the rig's alarms whose cause is of ``kind`` and is not ``present``."""
        keep, prefix = set(present), kind.prefix
        for (r, cause), alarm in list(self._alarms.items()):
            if r == rig and cause.startswith(prefix) and cause not in keep \
                    and alarm.state is not AlarmState.CLEARED:
                self.clear(rig, cause, now)

    def mark_stale(self, rig: str, now: float) -> None:
        """The rig went offline or silent: its active alarms' causes are unknown now
        (not ``rig:offline``, whose cause is the rig's absence itself)."""
        for key, alarm in list(self._alarms.items()):
            if key[0] == rig and alarm.state is AlarmState.ACTIVE \
                    and key[1] != _OFFLINE:
                self._alarms[key] = replace(alarm, state=AlarmState.STALE, updated_at=now)
                self._changed(self._alarms[key])

    def acknowledge(self, alarm_id: int, user: str, now: float) -> Alarm:
        """Record who acknowledged the alarm and when; raises ``AlarmNotFoundError``."""
        for alarm in self._alarms.values():
            if alarm.id == alarm_id:
                break
        else:
            raise AlarmNotFoundError(alarm_id)
        if alarm.acknowledged:
            return alarm
        acked = replace(alarm, acked_by=user, acked_at=now, updated_at=now)
        self._store(acked)
        return acked

    def expire(self, now: float) -> None:
        """Without ``require_ack``: drop alarms cleared more than ``cleared_hold_s`` ago."""
        if self.require_ack:
            return
        for key, alarm in list(self._alarms.items()):
            if alarm.cleared_at is not None and now - alarm.cleared_at >= self.cleared_hold_s:
                del self._alarms[key]
                self.version += 1

    # ------------------------------------------------------------------ internals
    def _store(self, alarm: Alarm) -> None:
        key = (alarm.rig, alarm.cause)
        done = alarm.state is AlarmState.CLEARED and alarm.acknowledged and self.require_ack
        if done:
            self._alarms.pop(key, None)
        else:
            self._alarms[key] = alarm
        self._changed(alarm)

    def _changed(self, alarm: Alarm) -> None:
        self.version += 1
        for observer in self.observers:
            observer(alarm)

    def _make_room(self, rig: str) -> None:
        mine = [a for a in self._alarms.values() if a.rig == rig]
        if len(mine) < self.max_per_rig:
            return
        # the oldest cleared one goes first, else the oldest of all
        victim = min(mine, key=lambda a: (a.state is not AlarmState.CLEARED, a.updated_at))
        del self._alarms[(victim.rig, victim.cause)]
        self.dropped += 1
