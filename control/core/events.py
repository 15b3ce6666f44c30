"""What the controller tells the ground and the operator: typed control events.

``ControlCore.step`` emits ``ControlEvent``s (and the supervisor's
``ModeChanged``); the app records them and publishes each on the downlink's
event topic as ``kind``/``severity``/``text`` plus ``data``. ``EventKind`` values
are the ``kind`` strings of the wire (docs/telemetry.md); ``Severity`` is the
telemetry contract's, so an event is an alarm on the ground exactly when its
severity is ``alarm`` or ``critical``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from telemetry.contract import Severity

__all__ = ["ControlEvent", "EventKind", "Severity"]


class EventKind(enum.StrEnum):
    """The ``kind`` of every event the controller publishes."""

    # from the control step
    COMMAND_REJECTED = "command_rejected"
    MISSION_STARTED = "mission_started"
    MISSION_COMPLETED = "mission_completed"
    PARAM_CHANGED = "param_changed"
    LOAD_CELL_DISTRUSTED = "load_cell_distrusted"
    INTERLOCK_TRIPPED = "interlock_tripped"
    INTERLOCK_CLEARED = "interlock_cleared"
    SITE_ABANDONED = "site_abandoned"
    SITE_COMPLETED = "site_completed"
    STALL_DETECTED = "stall_detected"
    OBSTACLE_REPORTED = "obstacle_reported"
    QUOTA_REACHED = "quota_reached"
    REQUEST_FAILED = "request_failed"
    BUCKET_DUMPED = "bucket_dumped"
    FIRMWARE_WARNING = "firmware_warning"
    # after a restart (control.core.resume_steps)
    MISSION_RESUMED = "mission_resumed"  # the same mission continues; the rig was read
    RIG_STATE_READ = "rig_state_read"  # a new mission: what the rig was found doing
    MISSION_REPLACED = "mission_replaced"  # new_mission: the old progress, the new id
    WATCHDOG_TRIPPED = "watchdog_tripped"  # the firmware's watchdog stopped the motors
    # from the app
    MODE_CHANGED = "mode_changed"  # a supervisor ModeChanged
    LEDGER_ERROR = "ledger_error"  # a dump could not be booked in the ledger
    TASK_RESTARTED = "task_restarted"  # a non-safety task failed and is restarted


@dataclass(frozen=True, slots=True)
class ControlEvent:
    time: float  # plant seconds
    kind: EventKind
    severity: Severity
    text: str
    data: dict[str, Any] = field(default_factory=dict)
