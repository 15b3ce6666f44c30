"""The rig supervisor: a transition table over ``Mode`` x ``Trigger``.

Theory of operation
-------------------
The supervisor knows *what the rig is doing*; it does not decide *how* (that
is the strategy) nor *whether it is safe* (that is the interlock layer, which
feeds it FAULT and ESTOP). Every change of mode goes through ``fire(trigger,
now, reason)``, which looks the pair up in ``TRANSITIONS`` and returns a
``ModeChanged`` event carrying the reason; a pair missing from the table raises
``InvalidTransitionError``: never a silent no-op. ``can(trigger)`` lets callers
ask first (ground-command validation does).

Normal cycle::

    DISCONNECTED -> HANDSHAKING -> IDLE -> ARMED -> DIGGING -> FULL -> STOWING
        -> ARMED (arm stowed, bucket full) -> DRIVING -> ARMED -> DUMPING -> IDLE
    (with ``strategy.drive_overlap``: FULL -> DRIVING, the arm rising on the way, then
    ARMED -> STOWING -> ARMED at the dump site)

Rules:

* IDLE means motors disabled; only an explicit ARM leaves it. After any link
  loss the rig comes back in IDLE (through DISCONNECTED/HANDSHAKING).
* ESTOP is left only by RESET_ESTOP, and only to IDLE: a reset never restarts
  motion (IEC 60204-1). ESTOP survives a link loss (the app re-asserts it).
* FAULT (a controlled stop by an interlock) is left by CLEAR_FAULT to IDLE
  once the cause is gone, or by a link loss to DISCONNECTED.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from .errors import InvalidTransitionError

log = logging.getLogger(__name__)


class Mode(Enum):
    DISCONNECTED = "disconnected"
    HANDSHAKING = "handshaking"
    IDLE = "idle"
    ARMED = "armed"
    DRIVING = "driving"
    DIGGING = "digging"
    FULL = "full"
    STOWING = "stowing"
    DUMPING = "dumping"
    FAULT = "fault"
    ESTOP = "estop"


class Trigger(Enum):
    PORT_OPENED = "port_opened"
    HANDSHAKEN = "handshaken"
    LINK_LOST = "link_lost"
    ARM = "arm"
    DISARM = "disarm"
    DRIVE = "drive"
    ARRIVED = "arrived"
    DIG = "dig"
    BUCKET_FULL = "bucket_full"  # also: site target reached, obstacle reported
    STOW = "stow"
    STOWED = "stowed"
    DUMP = "dump"
    DUMPED = "dumped"
    STOP = "stop"  # controlled stop requested (ground, mission end)
    FAULT = "fault"  # interlock controlled stop
    ESTOP = "estop"  # interlock immediate stop, ground or firmware e-stop
    RESET_ESTOP = "reset_estop"
    CLEAR_FAULT = "clear_fault"


M, T = Mode, Trigger

#: Modes in which the motors may be powered (the interlocks' FAULT/ESTOP apply).
POWERED = frozenset({M.ARMED, M.DRIVING, M.DIGGING, M.FULL, M.STOWING, M.DUMPING})
#: Modes with a firmware session.
CONNECTED = POWERED | {M.IDLE, M.FAULT}

TRANSITIONS: dict[tuple[Mode, Trigger], Mode] = {
    (M.DISCONNECTED, T.PORT_OPENED): M.HANDSHAKING,
    (M.DISCONNECTED, T.HANDSHAKEN): M.IDLE,
    (M.HANDSHAKING, T.HANDSHAKEN): M.IDLE,
    (M.HANDSHAKING, T.LINK_LOST): M.DISCONNECTED,
    (M.IDLE, T.ARM): M.ARMED,
    (M.IDLE, T.STOP): M.IDLE,
    (M.ARMED, T.DISARM): M.IDLE,
    (M.ARMED, T.DRIVE): M.DRIVING,
    (M.ARMED, T.DIG): M.DIGGING,
    (M.ARMED, T.STOW): M.STOWING,
    (M.ARMED, T.DUMP): M.DUMPING,
    (M.DRIVING, T.ARRIVED): M.ARMED,
    (M.DIGGING, T.BUCKET_FULL): M.FULL,
    (M.FULL, T.STOW): M.STOWING,
    (M.FULL, T.DRIVE): M.DRIVING,  # drive off while the arm rises (drive_overlap)
    (M.STOWING, T.STOWED): M.ARMED,
    (M.DUMPING, T.DUMPED): M.IDLE,
    (M.FAULT, T.CLEAR_FAULT): M.IDLE,
    (M.FAULT, T.FAULT): M.FAULT,  # a second cause while stopping: recorded, no change
    (M.FAULT, T.STOP): M.FAULT,
    (M.ESTOP, T.RESET_ESTOP): M.IDLE,
    (M.ESTOP, T.ESTOP): M.ESTOP,
    (M.ESTOP, T.STOP): M.ESTOP,
    (M.ESTOP, T.LINK_LOST): M.ESTOP,
    (M.ESTOP, T.HANDSHAKEN): M.ESTOP,
    (M.ESTOP, T.PORT_OPENED): M.ESTOP,
    (M.FAULT, T.LINK_LOST): M.DISCONNECTED,
    (M.IDLE, T.LINK_LOST): M.DISCONNECTED,
    (M.IDLE, T.FAULT): M.FAULT,
    (M.HANDSHAKING, T.ESTOP): M.ESTOP,
    (M.DISCONNECTED, T.ESTOP): M.ESTOP,
    (M.IDLE, T.ESTOP): M.ESTOP,
    (M.FAULT, T.ESTOP): M.ESTOP,
}
for _m in POWERED:
    TRANSITIONS[(_m, T.STOP)] = M.IDLE
    TRANSITIONS[(_m, T.FAULT)] = M.FAULT
    TRANSITIONS[(_m, T.ESTOP)] = M.ESTOP
    TRANSITIONS[(_m, T.LINK_LOST)] = M.DISCONNECTED
del _m


@dataclass(frozen=True, slots=True)
class ModeChanged:
    """A supervisor transition (self-transitions included), published to the ground."""

    time: float
    previous: Mode
    mode: Mode
    trigger: Trigger
    reason: str


class Supervisor:
    """Current mode plus the table; ``fire`` is the only way to change it."""

    def __init__(self, initial: Mode = Mode.DISCONNECTED) -> None:
        self.mode = initial
        self.since = 0.0

    def can(self, trigger: Trigger) -> bool:
        return (self.mode, trigger) in TRANSITIONS

    def fire(self, trigger: Trigger, now: float, reason: str) -> ModeChanged:
        """Apply *trigger*; raises ``InvalidTransitionError`` if the table has no such pair."""
        try:
            target = TRANSITIONS[(self.mode, trigger)]
        except KeyError:
            raise InvalidTransitionError(self.mode, trigger, reason) from None
        event = ModeChanged(now, self.mode, target, trigger, reason)
        if target is not self.mode:
            log.info("%s -> %s on %s: %s", self.mode.value, target.value, trigger.value, reason)
            self.since = now
        self.mode = target
        return event


def mermaid_diagram() -> str:
    """The table as a Mermaid state diagram (docs/control.md is generated from it)."""
    lines = ["stateDiagram-v2"]
    for (src, trig), dst in sorted(TRANSITIONS.items(), key=lambda kv: (kv[0][0].value,
                                                                         kv[0][1].value)):
        if src is not dst:
            lines.append(f"    {src.value} --> {dst.value}: {trig.value}")
    return "\n".join(lines)
