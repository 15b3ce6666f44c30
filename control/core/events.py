"""What the controller tells the ground and the operator: typed control events.

``ControlCore.step`` emits ``ControlEvent``s (and the supervisor's
``ModeChanged``); the app records them and publishes each on the downlink's
event topic as ``kind``/``severity``/``text`` plus ``data``. ``EventKind`` (the
``kind`` names of the wire, docs/telemetry.md) and ``Severity`` are the telemetry
contract's, so an event is an alarm on the ground exactly when its severity is
``alarm`` or ``critical``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telemetry.contract import EventKind, Severity
from telemetry.contract.json_fields import JsonValue

__all__ = ["ControlEvent", "EventKind", "Severity"]


@dataclass(frozen=True, slots=True)
class ControlEvent:
    time: float  # plant seconds
    kind: EventKind
    severity: Severity
    text: str
    data: dict[str, JsonValue] = field(default_factory=dict)
