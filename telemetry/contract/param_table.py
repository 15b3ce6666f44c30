"""The rover's settable parameters as the ground learns them (docs/telemetry.md, "Status"
and "State").

The table (name, unit, bounds, what it does, whether the active strategy reads it)
travels once, in the retained status's ``info.params`` (:class:`ParamSpec`); the
current values travel in every state message (``state.params``: name -> value), so
a ``set_param`` shows in the next state. The rover builds both from its own table
(``control.core.commands.PARAMS``) and still checks every ``set_param`` itself: the
ground uses the table to show units, ranges and values and to refuse a value out of
range before sending it, never instead of the rover's check.

Rules: a table entry with ``lo > hi`` or a non-finite bound is malformed; an older
ground keeps both keys untouched in ``extra``; a newer rover's unknown keys in an
entry are ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.json_fields import (
    JsonObject,
    json_object,
    optional_bool,
    optional_str,
    req_number,
    req_str,
)

__all__ = ["ParamSpec", "param_specs", "param_values"]


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter the ground may set with ``set_param``, and the bounds it may set it within."""

    name: str  # the set_param name ("max_depth_m")
    unit: str  # "m", "rad/s", "A", "" for a fraction or a count
    lo: float
    hi: float
    doc: str = ""  # what it does
    integer: bool = False  # the rover rounds it to a whole number
    used: bool = True  # the active strategy reads it (a pi_current gain under power_limited: no)

    def check(self, value: float) -> str | None:
        """Why *value* would be refused (``None``: within the bounds)."""
        if not math.isfinite(value) or not self.lo <= value <= self.hi:
            return f"{self.name}: {value:g} outside [{self.lo:g}, {self.hi:g}]"
        if self.integer and value != int(value):
            return f"{self.name}: expected a whole number, got {value:g}"
        return None

    def to_json(self) -> JsonObject:
        return {"name": self.name, "unit": self.unit, "lo": self.lo, "hi": self.hi,
                "doc": self.doc, "integer": self.integer, "used": self.used}

    @classmethod
    def from_json(cls, value: object, path: str) -> ParamSpec:
        body = json_object(value, path)
        spec = cls(req_str(body, "name", path), optional_str(body, "unit", path) or "",
                   req_number(body, "lo", path), req_number(body, "hi", path),
                   optional_str(body, "doc", path) or "",
                   bool(optional_bool(body, "integer", path)),
                   optional_bool(body, "used", path) is not False)
        if spec.lo > spec.hi:
            raise PayloadDecodeError(f"field {path!r}: expected lo <= hi, got lo {spec.lo} "
                                     f"> hi {spec.hi}")
        return spec


def param_specs(value: object, path: str) -> tuple[ParamSpec, ...]:
    """``info.params``: a list of :class:`ParamSpec` objects."""
    if not isinstance(value, list):
        raise PayloadDecodeError(f"field {path!r}: expected a list of parameters, "
                                 f"got {type(value).__name__}")
    return tuple(ParamSpec.from_json(item, f"{path}[{i}]") for i, item in enumerate(value))


def param_values(body: Mapping[str, object], key: str, where: str) -> dict[str, float] | None:
    """``state.params``: an object of parameter name -> finite number (absent: ``None``)."""
    raw = body.get(key)
    if raw is None:
        return None
    path = f"{where}.{key}"
    values = json_object(raw, path)
    out: dict[str, float] = {}
    for name in values:
        if not isinstance(name, str):
            raise PayloadDecodeError(f"field {path!r}: expected an object with string keys")
        out[name] = req_number(values, name, path)
    return out
