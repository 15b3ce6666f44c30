"""The downlink's exception tree.

Rules: ``DownlinkUsageError`` (and its ``ValueError`` children) mean "you called it
wrongly"; ``OutboxError`` means the durable outbox failed (disk full, corrupt
database). Errors of the pieces the downlink stands on keep their own trees:
``telemetry.contract.errors`` (``PayloadEncodeError`` for an unencodable
message, ``PayloadDecodeError`` for garbage received) and
``telemetry.mqtt.errors`` (``BrokerError``: the broker or the link misbehaved;
caught by the reconnect loop, never by the control loop).
"""

from __future__ import annotations

__all__ = [
    "DownlinkConfigError",
    "DownlinkError",
    "DownlinkUsageError",
    "OutboxClosedError",
    "OutboxError",
    "OutboxStorageError",
]


class DownlinkError(Exception):
    """Base of every error raised by the downlink."""


class DownlinkUsageError(DownlinkError):
    """The API was called wrongly."""


class DownlinkConfigError(DownlinkUsageError, ValueError):
    """A configuration value is invalid; ``key`` names the offending field."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class OutboxError(DownlinkError):
    """The durable outbox failed (disk full, corrupt database)."""


class OutboxStorageError(OutboxError):
    """The disk refused a write (full, read-only, failing); ``errno_name`` says which
    (``ENOSPC``, ``EROFS``, ``EIO``). The outbox carries on in memory and retries."""

    def __init__(self, message: str, errno_name: str) -> None:
        super().__init__(message)
        self.errno_name = errno_name


class OutboxClosedError(OutboxError, DownlinkUsageError):
    """The outbox was used after ``close()``."""
