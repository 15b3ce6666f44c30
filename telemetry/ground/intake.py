"""Turn one received MQTT message into a typed, validated sighting (sans-I/O).

The one place the ground parses a downlink topic. Anything under the prefix
that is not a well-formed downlink message of the topic's kind (bad topic
shape, undecodable payload, envelope rig or stream not matching the topic)
becomes a :class:`Malformed` with a reason, never an exception; a command seen
on the uplink topic becomes an :class:`UplinkSeen` (the fleet model keeps the
command history; the recorder ignores it).
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.contract import TopicKind, parse_topic
from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.payloads import (
    BatchMessage,
    DownlinkMessage,
    StatsMessage,
    decode,
    topic_kind,
)

__all__ = ["Malformed", "Sighting", "UplinkSeen", "classify"]


@dataclass(frozen=True, slots=True)
class Sighting:
    topic: str
    rig: str
    stream: str
    message: DownlinkMessage
    payload: bytes

    @property
    def kind(self) -> TopicKind:
        return topic_kind(self.message)


@dataclass(frozen=True, slots=True)
class Malformed:
    topic: str
    reason: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class UplinkSeen:
    """A message on a rig's command topic (``{prefix}/{rig}/cmd``): not telemetry."""

    rig: str
    payload: bytes


def classify(prefix: str, topic: str, payload: bytes) -> Sighting | Malformed | UplinkSeen:
    parsed = parse_topic(prefix, topic)
    if parsed is None:
        return Malformed(topic, "topic is not part of the downlink contract", payload)
    if parsed.kind is TopicKind.CMD:
        return UplinkSeen(parsed.rig_id, payload)
    try:
        message = decode(payload)
    except PayloadDecodeError as err:
        return Malformed(topic, err.reason, payload)
    kind = topic_kind(message)
    if kind is not parsed.kind:
        return Malformed(topic, f"expected a {parsed.kind} payload, got {kind}", payload)
    if message.envelope.rig != parsed.rig_id:
        return Malformed(topic, f"envelope rig {message.envelope.rig!r} does not match the "
                                f"topic's {parsed.rig_id!r}", payload)
    if isinstance(message, BatchMessage | StatsMessage) and \
            parsed.stream != f"{parsed.kind}/{message.stream}":
        return Malformed(topic, f"payload stream {message.stream!r} does not match the topic",
                         payload)
    return Sighting(topic, parsed.rig_id, parsed.stream, message, payload)
