"""What goes into the control step (notices, inputs) and what comes out of it.

``ControlCore.step`` takes ``StepInputs`` (filtered measurements, firmware status,
ground-link health and the ``Notice``s since the previous step) and returns a
``StepOutput``: set-points, ``FirmwareRequest``s (each with an id the app echoes
back in ``RequestFinished``, and the ``RequestPurpose`` the core matches the
result against), an ``EstopRequest`` and events. All are frozen values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware_bridge.messages import CommandCode

from .events import ControlEvent
from .measurements import Measurements
from .supervisor import ModeChanged

__all__ = [
    "MOTION_CODES",
    "EstopRequest",
    "FirmwareEventSeen",
    "FirmwareRequest",
    "LinkDown",
    "LinkOpened",
    "LinkUp",
    "Notice",
    "RequestFinished",
    "RequestPurpose",
    "SetpointCommand",
    "StepInputs",
    "StepOutput",
]

#: Requests whose completion is the firmware's DONE, not its ACCEPTED.
MOTION_CODES = frozenset({CommandCode.DRIVE_TO, CommandCode.STOW, CommandCode.DUMP})


# --- inputs -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkOpened:
    pass


@dataclass(frozen=True, slots=True)
class LinkUp:
    firmware_id: str = ""
    reconnect: bool = False
    capabilities: int = 0  # FIRMWARE_INFO's bits (firmware_bridge.messages.Capability)
    watchdog_tripped: bool = False  # FIRMWARE_INFO: a watchdog or link-loss stop awaits ENABLE


@dataclass(frozen=True, slots=True)
class LinkDown:
    reason: str


@dataclass(frozen=True, slots=True)
class RequestFinished:
    request_id: int
    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FirmwareEventSeen:
    code: int
    value: float = 0.0
    text: str = ""


Notice = LinkOpened | LinkUp | LinkDown | RequestFinished | FirmwareEventSeen


@dataclass(frozen=True, slots=True)
class StepInputs:
    measurements: Measurements
    firmware_status: int | None = None  # last heartbeat status bits
    ground_link_ok: bool = True
    notices: tuple[Notice, ...] = ()


# --- outputs ----------------------------------------------------------------------------


class RequestPurpose(enum.StrEnum):
    """Why the core asked the firmware for something: what its result means."""

    ENABLE = "enable"
    DISABLE = "disable"
    STOP = "stop"
    DRIVE = "drive"
    STOW = "stow"
    DUMP = "dump"
    RESET_ESTOP = "reset_estop"


@dataclass(frozen=True, slots=True)
class SetpointCommand:
    drum_speed: float
    cut_depth: float
    enable: bool = True


@dataclass(frozen=True, slots=True)
class FirmwareRequest:
    request_id: int
    code: CommandCode
    args: tuple[float, ...] = ()
    purpose: RequestPurpose | None = None

    @property
    def waits_for_done(self) -> bool:
        return self.code in MOTION_CODES


@dataclass(frozen=True, slots=True)
class EstopRequest:
    reason: str


@dataclass(frozen=True, slots=True)
class StepOutput:
    setpoints: SetpointCommand | None
    requests: tuple[FirmwareRequest | EstopRequest, ...] = ()
    events: tuple[ControlEvent | ModeChanged, ...] = ()
