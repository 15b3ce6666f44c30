"""The names rover and ground exchange: commands, event kinds, topic kinds, alarm causes.

Each is an enum whose values are the strings of the wire (docs/telemetry.md,
docs/commands.md). The rover builds messages from the members; the ground
decodes the strings back into members at the boundary (``payloads.decode``,
``topics.parse_topic``) and compares members from then on. Rules: code never
converts one enum into another through its string value, and a name the ground
does not know (a newer rover's) is kept as its string rather than refused,
where the contract says it may be (event kinds).
"""

from __future__ import annotations

import enum

__all__ = ["CauseKind", "CommandName", "EventKind", "TopicKind"]


class CommandName(enum.StrEnum):
    """The ground commands (docs/commands.md, "Commands")."""

    ARM = "arm"  # IDLE -> ARMED (explicit, acknowledged re-arm)
    DISARM = "disarm"  # ARMED -> IDLE
    START = "start"  # run the mission from ARMED
    STOP = "stop"  # controlled stop, always accepted
    DUMP = "dump"  # stow and dump the bucket where the rig stands
    ESTOP = "estop"  # immediate stop, always accepted
    RESET_ESTOP = "reset_estop"  # ESTOP -> IDLE, only when no immediate-stop cause remains
    CLEAR_FAULT = "clear_fault"  # FAULT -> IDLE, only when no cause remains
    SET_PARAM = "set_param"  # args: name, value (within PARAMS bounds)
    STATUS = "status"  # ask for a state message now
    NEW_MISSION = "new_mission"  # end the mission in progress, begin the plan anew

    @classmethod
    def lookup(cls, name: str) -> CommandName | None:
        """The member named *name* on the wire, or ``None``."""
        return cls._value2member_map_.get(name)  # type: ignore[return-value]


class EventKind(enum.StrEnum):
    """The ``kind`` of every event the rover publishes (docs/telemetry.md, "Events")."""

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
    # after a restart (control.core.resume_steps; docs/control.md, "Restarts")
    MISSION_RESUMED = "mission_resumed"  # the same mission continues; the rig was read
    RIG_STATE_READ = "rig_state_read"  # a new mission: what the rig was found doing
    MISSION_REPLACED = "mission_replaced"  # new_mission: the old progress, the new id
    WATCHDOG_TRIPPED = "watchdog_tripped"  # the firmware's watchdog stopped the motors
    # from the controller's shell
    MODE_CHANGED = "mode_changed"  # a supervisor ModeChanged
    LEDGER_ERROR = "ledger_error"  # a dump could not be booked in the ledger
    TASK_RESTARTED = "task_restarted"  # a non-safety task failed and is restarted
    # from the downlink
    OUTBOX_EVICTED = "outbox_evicted"  # the disk budget dropped messages (fields: evicted)
    PUBLISH_REJECTED = "publish_rejected"  # the broker refused messages for good
    STORAGE_FULL = "storage_full"  # the outbox's disk refuses writes; drops (fields: dropped)
    STORAGE_RECOVERED = "storage_recovered"  # it takes writes again (fields: last drops)

    @classmethod
    def lookup(cls, kind: str) -> EventKind | None:
        """The member for a wire ``kind``, or ``None`` for a kind this side does not know."""
        return cls._value2member_map_.get(kind)  # type: ignore[return-value]


class TopicKind(enum.StrEnum):
    """The first topic level after the rig id (docs/telemetry.md, "Topic tree")."""

    STATUS = "status"
    STATE = "state"
    EVENT = "event"  # event/<severity>
    ACK = "ack"
    LEDGER = "ledger"
    BATCH = "batch"  # batch/<stream>
    STATS = "stats"  # stats/<stream>
    CMD = "cmd"  # the uplink

    @property
    def per_stream(self) -> bool:
        """The kind has a stream name as its last topic level."""
        return self in (TopicKind.BATCH, TopicKind.STATS)


class CauseKind(enum.StrEnum):
    """What raised a ground alarm; an alarm's cause is ``<kind>:<name>`` (docs/telemetry.md,
    "Ground alarms"): ``interlock:tilt`` (an interlock trip of the rover), ``limit:drum_current``
    (a live value beyond its red limit), ``event:obstacle_reported`` (a one-off alarm event),
    ``rig:offline`` (the rig went offline unexpectedly, or fell silent)."""

    INTERLOCK = "interlock"
    LIMIT = "limit"
    EVENT = "event"
    RIG = "rig"  # the rig itself: ``rig:offline`` (gone without a clean shutdown, or silent)

    def cause(self, name: str) -> str:
        """The alarm cause of *name* under this kind (``interlock:tilt``)."""
        return f"{self.value}:{name}"

    @property
    def prefix(self) -> str:
        """What every cause of this kind starts with."""
        return f"{self.value}:"
