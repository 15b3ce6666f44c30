"""Turn one received MQTT message into a typed, validated sighting (sans-I/O).

Anything under the prefix that is not a well-formed downlink message of the
topic's kind (bad topic shape, undecodable payload, envelope rig or stream not
matching the topic) becomes a :class:`Malformed` with a reason, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.contract import parse_topic
from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.payloads import BatchMessage, DownlinkMessage, StatsMessage, decode

__all__ = ["Malformed", "Sighting", "classify"]

_TYPE_BY_KIND = {"status": "status", "state": "state", "event": "event", "ack": "ack",
                 "ledger": "ledger", "batch": "batch", "stats": "stats"}


@dataclass(frozen=True, slots=True)
class Sighting:
    topic: str
    rig: str
    stream: str
    message: DownlinkMessage
    payload: bytes


@dataclass(frozen=True, slots=True)
class Malformed:
    topic: str
    reason: str
    payload: bytes


def classify(prefix: str, topic: str, payload: bytes) -> Sighting | Malformed | None:
    """``None`` for topics the tools ignore (the command uplink)."""
    parsed = parse_topic(prefix, topic)
    if parsed is None:
        return Malformed(topic, "topic is not part of the downlink contract", payload)
    if parsed.kind == "cmd":
        return None
    try:
        message = decode(payload)
    except PayloadDecodeError as err:
        return Malformed(topic, err.reason, payload)
    type_name = type(message).__name__.removesuffix("Message").lower()
    if _TYPE_BY_KIND[parsed.kind] != type_name:
        return Malformed(topic, f"expected a {parsed.kind} payload, got {type_name}", payload)
    if message.envelope.rig != parsed.rig_id:
        return Malformed(topic, f"envelope rig {message.envelope.rig!r} does not match the "
                                f"topic's {parsed.rig_id!r}", payload)
    if isinstance(message, BatchMessage | StatsMessage) and \
            parsed.stream != f"{parsed.kind}/{message.stream}":
        return Malformed(topic, f"payload stream {message.stream!r} does not match the topic",
                         payload)
    return Sighting(topic, parsed.rig_id, parsed.stream, message, payload)
