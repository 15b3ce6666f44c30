"""The rig's state message: what the rover tells the ground every ``stats_interval_s``
(docs/telemetry.md, "State").

:class:`RigState` is built by the rover (``control.core.state_message``) and
decoded by the ground (``payloads.decode``); nobody outside the contract reads
the JSON object by key. Rules of the JSON form (``to_json``/``from_json``):

* Every field of :class:`RigState` is written, in declaration order (a number
  the rover does not know, NaN on the rig, is ``null``), except the fields
  marked ``omit_none``, which are left out when ``None`` (``mission``).
* Decoding validates each field it knows and names the bad one in its error
  (``state.x_m: expected a number, got str``). A known field that is absent is
  its default; a key it does not know is kept in ``extra`` (an older ground
  reads a newer rover) and written back after the known ones.
* To add a field: declare it here with a default and its JSON kind
  (``metadata=_NUMBER``...), in the place its key goes on the wire; older
  grounds keep it in ``extra``, older rovers leave it at its default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from telemetry.contract.errors import PayloadDecodeError, PayloadEncodeError
from telemetry.contract.json_fields import (
    JsonObject,
    JsonValue,
    json_object,
    optional_bool,
    optional_number,
    optional_str,
    req_bool,
    req_int,
    req_number,
    req_str,
    str_int_map,
    str_tuple,
)
from telemetry.contract.param_table import param_values

__all__ = ["MissionReport", "ResumeReport", "RigState", "SiteReport", "StorageReport"]


@dataclass(frozen=True, slots=True)
class SiteReport:
    """One dig site of the mission's progress."""

    name: str
    delivered_kg: float
    target_kg: float | None = None
    cycles: int = 0
    abandoned: str = ""  # why the site was given up ("" while it is not)

    def to_json(self) -> JsonObject:
        return {"name": self.name, "delivered_kg": self.delivered_kg,
                "target_kg": self.target_kg, "cycles": self.cycles,
                "abandoned": self.abandoned}

    @classmethod
    def from_json(cls, value: object, path: str) -> SiteReport:
        body = json_object(value, path)
        return cls(req_str(body, "name", path),
                   req_number(body, "delivered_kg", path),
                   optional_number(body, "target_kg", path),
                   req_int(body, "cycles", path),
                   req_str(body, "abandoned", path))


def _dump(value: object, path: str) -> tuple[float, float] | None:
    if value is None:
        return None
    body = json_object(value, path)
    return (req_number(body, "x_m", path), req_number(body, "y_m", path))


@dataclass(frozen=True, slots=True)
class MissionReport:
    """The mission's progress (``state.mission``): delivered mass per site and in all."""

    mission: str  # the plan's name
    delivered_kg: float
    target_kg: float | None = None
    cycles: int = 0
    sites: tuple[SiteReport, ...] = ()
    mission_id: str = ""  # the mission's id across restarts ("": a rover that has none)
    #: where the rig dumps its loads, site frame (x, y metres; None: an older rover's)
    dump: tuple[float, float] | None = None

    def delivered_from(self, site: str) -> float:
        """Mass delivered from *site* (0 if the mission has no such site)."""
        return next((s.delivered_kg for s in self.sites if s.name == site), 0.0)

    def to_json(self) -> JsonObject:
        return {"mission": self.mission, "mission_id": self.mission_id,
                "delivered_kg": self.delivered_kg, "target_kg": self.target_kg,
                "cycles": self.cycles, "sites": [s.to_json() for s in self.sites],
                **({} if self.dump is None else
                   {"dump": {"x_m": self.dump[0], "y_m": self.dump[1]}})}

    @classmethod
    def from_json(cls, value: object, path: str) -> MissionReport:
        body = json_object(value, path)
        sites = body.get("sites", [])
        if not isinstance(sites, list):
            raise PayloadDecodeError(f"field {path + '.sites'!r}: expected a list, "
                                     f"got {type(sites).__name__}")
        return cls(req_str(body, "mission", path),
                   req_number(body, "delivered_kg", path),
                   optional_number(body, "target_kg", path),
                   req_int(body, "cycles", path),
                   tuple(SiteReport.from_json(s, f"{path}.sites[{i}]")
                         for i, s in enumerate(sites)),
                   optional_str(body, "mission_id", path) or "",
                   _dump(body.get("dump"), f"{path}.dump"))


@dataclass(frozen=True, slots=True)
class ResumeReport:
    """What the controller found when it read the rig after its start (``state.resumed``;
    docs/control.md, "Restarts")."""

    text: str  # "resumed: site A 47.5 / 45 kg, site B 0.0 / 45 kg, bucket 8.2 kg"
    mission_id: str = ""
    resumed: bool = False  # the same mission as before the restart (else a new one)
    previous_phase: str = ""  # the mode the previous process left the rig in
    bucket_kg: float | None = None  # None: the load cell is distrusted
    cut_depth_m: float | None = None
    carrying: bool = False  # the load goes to the dump first
    watchdog_tripped: bool = False  # the firmware's watchdog had stopped the motors

    def to_json(self) -> JsonObject:
        return {"text": self.text, "mission_id": self.mission_id, "resumed": self.resumed,
                "previous_phase": self.previous_phase, "bucket_kg": self.bucket_kg,
                "cut_depth_m": self.cut_depth_m, "carrying": self.carrying,
                "watchdog_tripped": self.watchdog_tripped}

    @classmethod
    def from_json(cls, value: object, path: str) -> ResumeReport:
        body = json_object(value, path)
        return cls(req_str(body, "text", path), optional_str(body, "mission_id", path) or "",
                   bool(optional_bool(body, "resumed", path)),
                   optional_str(body, "previous_phase", path) or "",
                   optional_number(body, "bucket_kg", path),
                   optional_number(body, "cut_depth_m", path),
                   bool(optional_bool(body, "carrying", path)),
                   bool(optional_bool(body, "watchdog_tripped", path)))


@dataclass(frozen=True, slots=True)
class StorageReport:
    """The rover outbox's storage (``state.storage``; docs/telemetry.md, "When the disk
    is full or read-only")."""

    full: bool  # the disk refuses writes: messages are kept in memory
    errno: str | None  # why, while full (ENOSPC, EROFS, EIO...)
    dropped: int  # messages dropped because of storage, this process
    budget_bytes: int  # the outbox's budget now (from the free space)
    used_bytes: int  # stored and not acknowledged
    unwritten_bytes: int  # held in memory, waiting for the disk

    def to_json(self) -> JsonObject:
        return {"full": self.full, "errno": self.errno, "dropped": self.dropped,
                "budget_bytes": self.budget_bytes, "used_bytes": self.used_bytes,
                "unwritten_bytes": self.unwritten_bytes}

    @classmethod
    def from_json(cls, value: object, path: str) -> StorageReport:
        body = json_object(value, path)
        return cls(req_bool(body, "full", path), optional_str(body, "errno", path),
                   req_int(body, "dropped", path), req_int(body, "budget_bytes", path),
                   req_int(body, "used_bytes", path), req_int(body, "unwritten_bytes", path))


# The JSON kind of each RigState field: how it is decoded and encoded.
_Decode = Callable[[Mapping[str, object], str, str], object]


def _json(kind: str, *, shown: bool = True, omit_none: bool = False) -> dict[str, object]:
    return {"json": kind, "shown": shown, "omit_none": omit_none}


_NUMBER, _FLAG, _TEXT = _json("number"), _json("bool"), _json("str")


def _mission(value: Mapping[str, object], key: str, where: str) -> MissionReport | None:
    raw = value.get(key)
    return None if raw is None else MissionReport.from_json(raw, f"{where}.{key}")


def _resumed(value: Mapping[str, object], key: str, where: str) -> ResumeReport | None:
    raw = value.get(key)
    return None if raw is None else ResumeReport.from_json(raw, f"{where}.{key}")


def _storage(value: Mapping[str, object], key: str, where: str) -> StorageReport | None:
    raw = value.get(key)
    return None if raw is None else StorageReport.from_json(raw, f"{where}.{key}")


_DECODERS: dict[str, _Decode] = {
    "number": optional_number, "bool": optional_bool, "str": optional_str,
    "names": str_tuple, "counts": str_int_map, "mission": _mission, "resumed": _resumed,
    "storage": _storage, "values": param_values,
}


@dataclass(frozen=True, slots=True)
class RigState:
    """The state message. ``None``: the rover does not know the value (or did not send it)."""

    mode: str | None = field(default=None, metadata=_TEXT)  # control.core.supervisor.Mode
    #: plant seconds when the mode was entered
    since: float | None = field(default=None, metadata=_json("number", shown=False))
    phase: str | None = field(default=None, metadata=_TEXT)  # the dig's phase, else ""
    mission_running: bool | None = field(default=None, metadata=_FLAG)
    motors_enabled: bool | None = field(default=None, metadata=_FLAG)
    drum_current_a: float | None = field(default=None, metadata=_NUMBER)
    drum_speed_rad_s: float | None = field(default=None, metadata=_NUMBER)
    cut_depth_m: float | None = field(default=None, metadata=_NUMBER)
    tilt_deg: float | None = field(default=None, metadata=_NUMBER)
    motor_temp_c: float | None = field(default=None, metadata=_NUMBER)
    battery_v: float | None = field(default=None, metadata=_NUMBER)
    x_m: float | None = field(default=None, metadata=_NUMBER)
    y_m: float | None = field(default=None, metadata=_NUMBER)
    bucket_kg: float | None = field(default=None, metadata=_NUMBER)
    load_cell_kg: float | None = field(default=None, metadata=_NUMBER)
    model_kg: float | None = field(default=None, metadata=_NUMBER)
    load_cell_ok: bool | None = field(default=None, metadata=_FLAG)
    energy_j: float | None = field(default=None, metadata=_NUMBER)
    interlocks: tuple[str, ...] = field(default=(), metadata=_json("names"))  # active, by name
    #: interlock name -> trips this run
    interlock_trips: Mapping[str, int] = field(default_factory=dict, metadata=_json("counts"))
    #: stall cause ("firmware", "speed_drop") -> stalls this run
    stalls: Mapping[str, int] = field(default_factory=dict, metadata=_json("counts"))
    mission: MissionReport | None = field(default=None,
                                          metadata=_json("mission", omit_none=True))
    #: what the controller found when it read the rig after its start (None before)
    resumed: ResumeReport | None = field(default=None,
                                         metadata=_json("resumed", omit_none=True))
    #: with signed commands: the ground's time minus the rover's wall clock, as the command
    #: gate estimates it (s; docs/commands.md, "Timing"); how long ago an authenticated
    #: command confirmed it (s; None: not since start); "rover" (own clock) or "ground"
    #: (not in ``readings()``: ``rig-ground watch`` shows them in the rig's title line)
    clock_offset_s: float | None = field(
        default=None, metadata=_json("number", shown=False, omit_none=True))
    clock_sync_age_s: float | None = field(
        default=None, metadata=_json("number", shown=False, omit_none=True))
    clock_source: str | None = field(default=None,
                                     metadata=_json("str", shown=False, omit_none=True))
    #: with a downlink: its outbox's storage
    storage: StorageReport | None = field(default=None,
                                          metadata=_json("storage", omit_none=True))
    #: the current value of each parameter the ground may set (``info.params`` has their
    #: units and bounds; telemetry.contract.param_table)
    params: Mapping[str, float] | None = field(
        default=None, metadata=_json("values", shown=False, omit_none=True))
    #: keys this side does not know (a newer rover's), kept as received
    extra: Mapping[str, JsonValue] = field(default_factory=dict)

    KEYS: ClassVar[tuple[str, ...]]

    @property
    def position(self) -> tuple[float, float] | None:
        """``(x_m, y_m)`` when both are known."""
        if self.x_m is None or self.y_m is None:
            return None
        return (self.x_m, self.y_m)

    def readings(self) -> tuple[tuple[str, JsonValue], ...]:
        """The known scalar values a display shows (wire key, value), in wire order, then
        the unknown scalar ones (``extra``); values the rover does not know are left out."""
        out: list[tuple[str, JsonValue]] = []
        for f in _FIELDS:
            value = getattr(self, f.name)
            if f.metadata["json"] in ("number", "bool", "str") and f.metadata["shown"] \
                    and value is not None:
                out.append((f.name, value))
        out += [(k, v) for k, v in self.extra.items()
                if v is not None and not isinstance(v, dict | list)]
        return tuple(out)

    def to_json(self) -> JsonObject:
        """The JSON object of the wire (raises ``PayloadEncodeError`` if ``extra`` shadows
        a known key)."""
        out: JsonObject = {}
        for f in _FIELDS:
            value = getattr(self, f.name)
            if value is None and f.metadata["omit_none"]:
                continue
            kind = f.metadata["json"]
            if kind == "names":
                value = list(value)
            elif kind == "counts" or (kind == "values" and value is not None):
                value = dict(value)
            elif kind in ("mission", "resumed", "storage") and value is not None:
                value = value.to_json()
            out[f.name] = value
        for key, value in self.extra.items():
            if key in out or key in RigState.KEYS:
                raise PayloadEncodeError(f"state.extra: key {key!r} is a RigState field")
            out[key] = value
        return out

    @classmethod
    def from_json(cls, value: object, path: str = "state") -> RigState:
        """Decode and validate; raises ``PayloadDecodeError`` naming the bad field."""
        body = json_object(value, path)
        known = {name: decode(body, name, path) for name, decode in _PLAN if name in body}
        extra = {k: v for k, v in body.items() if k not in _KEY_SET}
        if not all(isinstance(k, str) for k in extra):
            raise PayloadDecodeError(f"field {path!r}: expected an object with string keys")
        return cls(**known, extra=extra)  # type: ignore[arg-type]


_FIELDS = tuple(f for f in dataclasses.fields(RigState) if "json" in f.metadata)
RigState.KEYS = tuple(f.name for f in _FIELDS)
_KEY_SET = frozenset(RigState.KEYS)
#: (key, decoder) of each field, in wire order: what ``from_json`` runs
_PLAN = tuple((f.name, _DECODERS[f.metadata["json"]]) for f in _FIELDS)
