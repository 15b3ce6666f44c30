"""The bridge's exception tree.

``BridgeError`` is the root. Errors that mean "you called it wrongly" derive
from ``BridgeUsageError`` (and ``ValueError``/``TypeError``); errors that mean
"the port or the firmware misbehaved" derive from ``LinkError``. Wire garbage
never raises: it is counted by the link (see ``LinkStats``).
"""

from __future__ import annotations


class BridgeError(Exception):
    """Root of every error raised by firmware_bridge."""


class BridgeUsageError(BridgeError, ValueError):
    """The API was called with an invalid argument or in an invalid state."""


class EncodeError(BridgeUsageError):
    """A message cannot be encoded (field out of range, payload too large)."""


class DecodeError(BridgeError, ValueError):
    """A frame body is malformed. Raised only by the explicit ``decode_*`` helpers;
    the link turns it into a counted event."""

    def __init__(self, reason: str, *, msg_type: int | None = None, offset: int | None = None,
                 nack: int = 3):
        self.reason = reason
        self.msg_type = msg_type
        self.offset = offset
        self.nack = nack  # the messages.Reason code a NACK of this frame carries
        where = f" at byte {offset}" if offset is not None else ""
        kind = f" (type 0x{msg_type:02x})" if msg_type is not None else ""
        super().__init__(f"{reason}{kind}{where}")


class LinkError(BridgeError):
    """The port or the firmware on the other end misbehaved."""


class PortError(LinkError, OSError):
    """The serial port could not be opened or was lost."""


class HandshakeError(LinkError):
    """The handshake failed: no answer, or an incompatible protocol version."""


class LinkDownError(LinkError, ConnectionError):
    """The link is not up (not yet handshaken, or lost)."""


class CommandError(LinkError):
    """A command did not complete."""

    def __init__(self, message: str, *, seq: int | None = None, reason: str | None = None):
        self.seq = seq
        self.reason = reason
        super().__init__(message)


class CommandTimeoutError(CommandError, TimeoutError):
    """No result arrived for a command before its deadline."""


class CommandRejectedError(CommandError):
    """The firmware rejected the command (see ``reason``)."""


class DeliveryFailedError(CommandError):
    """The link gave up retransmitting the message (retries exhausted or link lost)."""
