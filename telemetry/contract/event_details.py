"""Typed fields of the events the ground acts on (docs/telemetry.md, "Events").

An event carries ``fields``, a JSON object shown as it is; for the kinds the
ground *acts* on, the fields are a contract of their own and are decoded here
into a typed detail: ``interlock_tripped``/``interlock_cleared`` (the alarm
table follows the interlock's ``name``), ``outbox_evicted`` (the recorder
accounts the evicted sequence ranges) and ``storage_full``/``storage_recovered``
(the messages a full or read-only disk cost). ``payloads.decode`` refuses an event of
one of these kinds whose fields do not decode, naming the field. Extra keys are
allowed (a newer rover may add some).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.json_fields import (
    JsonObject,
    json_object,
    optional_number,
    optional_str,
    req_bool,
    req_int,
    req_str,
)
from telemetry.contract.names import EventKind

__all__ = ["EventDetail", "EvictedRange", "InterlockChange", "OutboxEvicted", "StorageFull",
           "event_detail"]


@dataclass(frozen=True, slots=True)
class InterlockChange:
    """``interlock_tripped`` (with its reaction, value and threshold) or ``interlock_cleared``."""

    name: str  # the interlock: "tilt", "over_current", "stuck:vibration"...
    reaction: str | None = None  # "controlled_stop" / "immediate_stop" (tripped only)
    value: float | None = None
    threshold: float | None = None

    def to_fields(self) -> JsonObject:
        out: JsonObject = {"name": self.name}
        for key, value in (("reaction", self.reaction), ("value", self.value),
                           ("threshold", self.threshold)):
            if value is not None:
                out[key] = value
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[str, object], path: str = "fields") -> InterlockChange:
        return cls(req_str(fields, "name", path),
                   optional_str(fields, "reaction", path),
                   optional_number(fields, "value", path),
                   optional_number(fields, "threshold", path))


@dataclass(frozen=True, slots=True)
class EvictedRange:
    stream: str
    first_seq: int
    last_seq: int
    count: int

    def to_json(self) -> JsonObject:
        return {"stream": self.stream, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "count": self.count}

    @classmethod
    def from_json(cls, value: object, path: str) -> EvictedRange:
        body = json_object(value, path)
        return cls(req_str(body, "stream", path),
                   req_int(body, "first_seq", path),
                   req_int(body, "last_seq", path),
                   req_int(body, "count", path))


@dataclass(frozen=True, slots=True)
class OutboxEvicted:
    """``outbox_evicted``: the messages the disk budget dropped, as sequence ranges."""

    evicted: tuple[EvictedRange, ...]
    bytes_freed: int = 0
    dropped_new: bool = False  # the message being stored was itself dropped

    def to_fields(self) -> JsonObject:
        return {"evicted": [r.to_json() for r in self.evicted],
                "bytes_freed": self.bytes_freed, "dropped_new": self.dropped_new}

    @classmethod
    def from_fields(cls, fields: Mapping[str, object], path: str = "fields") -> OutboxEvicted:
        ranges = fields.get("evicted")
        if not isinstance(ranges, list):
            raise PayloadDecodeError(f"field {path + '.evicted'!r}: expected a list, "
                                     f"got {type(ranges).__name__}")
        return cls(tuple(EvictedRange.from_json(r, f"{path}.evicted[{i}]")
                         for i, r in enumerate(ranges)),
                   req_int(fields, "bytes_freed", path),
                   req_bool(fields, "dropped_new", path))


@dataclass(frozen=True, slots=True)
class StorageFull:
    """``storage_full`` / ``storage_recovered``: the outbox's disk refused writes (``errno``),
    and the messages dropped since the last such event, as sequence ranges; the
    ``dropped_count`` of these events add up to every message storage cost."""

    errno: str | None
    path: str
    dropped: tuple[EvictedRange, ...] = ()
    dropped_total: int = 0  # this process, so far

    @property
    def dropped_count(self) -> int:
        return sum(r.count for r in self.dropped)

    def to_fields(self) -> JsonObject:
        return {"errno": self.errno, "path": self.path,
                "dropped": [r.to_json() for r in self.dropped],
                "dropped_count": self.dropped_count, "dropped_total": self.dropped_total}

    @classmethod
    def from_fields(cls, fields: Mapping[str, object], path: str = "fields") -> StorageFull:
        ranges = fields.get("dropped")
        if not isinstance(ranges, list):
            raise PayloadDecodeError(f"field {path + '.dropped'!r}: expected a list, "
                                     f"got {type(ranges).__name__}")
        return cls(optional_str(fields, "errno", path), req_str(fields, "path", path),
                   tuple(EvictedRange.from_json(r, f"{path}.dropped[{i}]")
                         for i, r in enumerate(ranges)),
                   req_int(fields, "dropped_total", path))


EventDetail = InterlockChange | OutboxEvicted | StorageFull


def event_detail(kind: str, fields: Mapping[str, object]) -> EventDetail | None:
    """The typed fields of an event of *kind*, ``None`` for kinds without a typed detail;
    raises ``PayloadDecodeError`` naming the field when they do not decode."""
    match EventKind.lookup(kind):
        case EventKind.INTERLOCK_TRIPPED | EventKind.INTERLOCK_CLEARED:
            return InterlockChange.from_fields(json_object(fields, "fields"))
        case EventKind.OUTBOX_EVICTED:
            return OutboxEvicted.from_fields(json_object(fields, "fields"))
        case EventKind.STORAGE_FULL | EventKind.STORAGE_RECOVERED:
            return StorageFull.from_fields(json_object(fields, "fields"))
    return None
