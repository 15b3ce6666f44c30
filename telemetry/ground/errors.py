"""The ground tools' exception tree.

Rules: ``GroundUsageError`` (and its ``ValueError`` children) mean "you called it
wrongly or a file you gave is invalid" and name the file and key; the
``CommandError`` family means "the rover answered no, or not in time" and carries
the command id. Broker trouble stays ``telemetry.mqtt.errors.BrokerError``
(the reconnect loops handle it), malformed telemetry is counted, never raised.
"""

from __future__ import annotations

__all__ = [
    "CommandError",
    "CommandRejectedError",
    "CommandTimeoutError",
    "GroundError",
    "GroundUsageError",
    "LimitsError",
    "NotConnectedError",
    "UserFileError",
    "WaitTimeoutError",
]


class GroundError(Exception):
    """Base of every error the ground tools raise on purpose."""


class GroundUsageError(GroundError):
    """The API was called wrongly, or an input file is invalid."""


class LimitsError(GroundUsageError, ValueError):
    """A limits file is invalid; ``key`` names the offending entry."""

    def __init__(self, where: str, key: str, message: str) -> None:
        super().__init__(f"{where}: {key}: {message}")
        self.where = where
        self.key = key


class UserFileError(GroundUsageError, ValueError):
    """The console's user file is unreadable or invalid."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


class NotConnectedError(GroundError, ConnectionError):
    """No broker connection within the time allowed."""


class CommandError(GroundError):
    """A command did not do what the script expected; ``command_id`` says which."""

    def __init__(self, command_id: str, message: str) -> None:
        super().__init__(message)
        self.command_id = command_id


class CommandRejectedError(CommandError):
    """The rover acked the command as rejected; ``reason`` is its reason."""

    def __init__(self, command_id: str, command: str, reason: str) -> None:
        super().__init__(command_id, f"{command} ({command_id}) rejected: {reason}")
        self.command = command
        self.reason = reason


class CommandTimeoutError(CommandError, TimeoutError):
    """No ack for the command within the timeout."""


class WaitTimeoutError(GroundError, TimeoutError):
    """A ``wait_for`` condition did not come true within its timeout."""
