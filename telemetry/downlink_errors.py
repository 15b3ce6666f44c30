"""The downlink's exception tree.

Rules: ``DownlinkUsageError`` (and its ``ValueError`` children) mean "you called it
wrongly"; ``PayloadDecodeError`` means "the other side sent garbage" and is only
raised by explicit decode calls (the ground tools count it and carry on);
``BrokerError`` and its children mean "the broker or the link misbehaved" and are
caught by the reconnect loops, never by the control loop.
"""

from __future__ import annotations

__all__ = [
    "BrokerError",
    "BrokerUnavailableError",
    "DownlinkConfigError",
    "DownlinkError",
    "DownlinkUsageError",
    "LinkLostError",
    "OutboxClosedError",
    "OutboxError",
    "PayloadDecodeError",
    "PayloadEncodeError",
    "PublishRejectedError",
]


class DownlinkError(Exception):
    """Base of every error raised by the downlink and the ground tools."""


class DownlinkUsageError(DownlinkError):
    """The API was called wrongly."""


class DownlinkConfigError(DownlinkUsageError, ValueError):
    """A configuration value is invalid; ``key`` names the offending field."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class PayloadEncodeError(DownlinkUsageError, ValueError):
    """A message could not be encoded (e.g. NaN in a JSON payload, bad shape)."""


class PayloadDecodeError(DownlinkError, ValueError):
    """A received payload is malformed; ``reason`` says what was expected."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OutboxError(DownlinkError):
    """The durable outbox failed (disk full, corrupt database)."""


class OutboxClosedError(OutboxError, DownlinkUsageError):
    """The outbox was used after ``close()``."""


class BrokerError(DownlinkError, ConnectionError):
    """The broker refused us or the link to it failed."""


class BrokerUnavailableError(BrokerError):
    """Connecting to the broker failed (refused, unreachable, bad credentials)."""


class LinkLostError(BrokerError):
    """An established connection to the broker dropped."""


class PublishRejectedError(BrokerError):
    """The broker answered a QoS 1 publish with a failure reason code (MQTT 5 only).

    ``reason_code`` is the PUBACK reason code (e.g. 0x87 "Not authorized": the ACL
    denies the topic); ``retryable`` says whether sending the same message again later
    may succeed (quota exceeded, server busy) or never will (not authorized, topic
    invalid, packet too large)."""

    def __init__(self, topic: str, reason_code: int, reason: str, *, retryable: bool) -> None:
        super().__init__(f"broker rejected the publish to {topic}: {reason} "
                         f"(reason code 0x{reason_code:02x})")
        self.topic = topic
        self.reason_code = reason_code
        self.reason = reason
        self.retryable = retryable
