"""Events the sans-I/O link hands to its owner (``Link.next_event()``).

Past participles, one frozen dataclass each; ``LinkEvent`` is their union.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class LinkLost:
    direction: str  # "rx", "tx" or "peer"
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
    "MessageDelivered",
    "MessageReceived",
    "PeerReset",
    "SampleGap",
]
