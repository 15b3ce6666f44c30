"""Topic names of the downlink contract (docs/telemetry.md, "Topic tree").

Every topic lives under ``{prefix}/{rig_id}/``. The part after the rig id is the
*stream id* that sequence numbers are counted on: ``state``, ``event``, ``ack``,
``ledger``, ``batch/<name>``, ``stats/<name>``; ``status`` is the retained
birth/last-will topic and ``cmd`` the uplink. Events are published on
``event/<severity>`` but share the single ``event`` sequence.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from telemetry.contract.errors import ContractConfigError
from telemetry.contract.names import TopicKind

__all__ = [
    "DEFAULT_PREFIX",
    "ParsedTopic",
    "Priority",
    "Severity",
    "TopicTree",
    "check_name",
    "parse_topic",
]

DEFAULT_PREFIX = "regolith"

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def check_name(key: str, value: str) -> str:
    """Validate a rig id or stream name: 1-64 of ``[A-Za-z0-9_.-]``."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ContractConfigError(key, f"expected 1-64 characters of [A-Za-z0-9_.-], got {value!r}")
    return value


class Severity(enum.StrEnum):
    """Event severities; ``alarm`` and ``critical`` are alarms for the ground tools."""

    INFO = "info"
    WARNING = "warning"
    ALARM = "alarm"
    CRITICAL = "critical"

    @property
    def is_alarm(self) -> bool:
        return self in (Severity.ALARM, Severity.CRITICAL)


class Priority(enum.IntEnum):
    """Outbox drain order (lowest first) and eviction class.

    ``CRITICAL`` and ``STATE`` are never evicted; ``STATS`` then ``BATCH`` are
    evicted oldest-first when the disk budget is hit, ``BATCH`` first.
    """

    CRITICAL = 0  # events, alarms, acks, ledger
    STATE = 1
    STATS = 2
    BATCH = 3

    @property
    def evictable(self) -> bool:
        return self >= Priority.STATS


@dataclass(frozen=True, slots=True)
class TopicTree:
    """The topics of one rig. ``prefix`` may contain ``/`` but no wildcards."""

    prefix: str
    rig_id: str

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "+#\x00") or self.prefix.endswith("/"):
            raise ContractConfigError("topic_prefix", f"expected a topic without wildcards or "
                                      f"trailing '/', got {self.prefix!r}")
        check_name("rig_id", self.rig_id)

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.rig_id}"

    @property
    def status(self) -> str:
        return f"{self.root}/status"

    @property
    def state(self) -> str:
        return f"{self.root}/state"

    def event(self, severity: Severity) -> str:
        return f"{self.root}/event/{Severity(severity).value}"

    def batch(self, stream: str) -> str:
        return f"{self.root}/batch/{check_name('stream', stream)}"

    def stats(self, stream: str) -> str:
        return f"{self.root}/stats/{check_name('stream', stream)}"

    @property
    def ack(self) -> str:
        return f"{self.root}/ack"

    @property
    def ledger(self) -> str:
        return f"{self.root}/ledger"

    @property
    def command(self) -> str:
        return f"{self.root}/cmd"


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    rig_id: str
    stream: str  # sequence stream id: "state", "event", "batch/imu", "status", ...
    kind: TopicKind  # first level after the rig id


def parse_topic(prefix: str, topic: str) -> ParsedTopic | None:
    """Split a downlink topic into rig id and stream id; ``None`` if not ours, including a
    rig id or stream name outside ``[A-Za-z0-9_.-]`` (no rig can publish one)."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head):].split("/")
    if len(parts) < 2 or not _NAME.match(parts[0]) or \
            any(not _NAME.match(part) for part in parts[2:]):
        return None
    rig, level, rest = parts[0], parts[1], parts[2:]
    kind = TopicKind._value2member_map_.get(level)
    if not isinstance(kind, TopicKind):
        return None
    if kind is TopicKind.EVENT:
        return ParsedTopic(rig, kind.value, kind) if len(rest) == 1 else None
    if kind.per_stream:
        return ParsedTopic(rig, f"{kind.value}/{rest[0]}", kind) if len(rest) == 1 else None
    return ParsedTopic(rig, kind.value, kind) if not rest else None
