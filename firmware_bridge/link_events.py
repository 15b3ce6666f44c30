"""Events the sans-I/O link hands to its owner (``Link.next_event()``).

Past participles, one frozen dataclass each; ``LinkEvent`` is their union.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .messages import FirmwareInfo, Hello, Message, MsgType, ResetNotice


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """Host: the firmware answered. Firmware: a host started a session."""

    info: FirmwareInfo | None = None
    hello: Hello | None = None


@dataclass(frozen=True, slots=True)
class HandshakeFailed:
    reason: str


@dataclass(frozen=True, slots=True)
class MessageReceived:
    message: Message
    seq: int


@dataclass(frozen=True, slots=True)
class MessageDelivered:
    seq: int
    msg_type: MsgType


@dataclass(frozen=True, slots=True)
class DeliveryFailed:
    seq: int
    msg_type: MsgType
    reason: str
    message: Message | None = None  # what was not delivered (to re-send in a new session)


class LossDirection(StrEnum):
    """Which way the link died (the value is what logs and ``Disconnected`` reasons show)."""

    RX = "rx"  # nothing valid heard for loss_timeout
    TX = "tx"  # the peer stopped hearing us, or a reliable message was never acked
    PEER = "peer"  # the peer restarted or forgot the session


@dataclass(frozen=True, slots=True)
class LinkLost:
    direction: LossDirection
    reason: str


@dataclass(frozen=True, slots=True)
class PeerReset:
    notice: ResetNotice


@dataclass(frozen=True, slots=True)
class SampleGap:
    stream_id: int
    expected_seq: int
    got_seq: int
    missing: int


LinkEvent = (
    HandshakeCompleted
    | HandshakeFailed
    | MessageReceived
    | MessageDelivered
    | DeliveryFailed
    | LinkLost
    | PeerReset
    | SampleGap
)


__all__ = [
    "DeliveryFailed",
    "HandshakeCompleted",
    "HandshakeFailed",
    "LinkEvent",
    "LinkLost",
    "LossDirection",
    "MessageDelivered",
    "MessageReceived",
    "PeerReset",
    "SampleGap",
]
