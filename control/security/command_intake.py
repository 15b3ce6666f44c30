"""The one path from bytes on the command topic to a command the core may apply.

Theory of operation
-------------------
Every payload from the ground goes through a ``control.core.policy.CommandAuthenticator``
(the *gate*): ``admit(raw, now_wall)`` returns either the decoded, on-time
``GroundCommand`` or a typed ``Rejection`` (a reason code of docs/commands.md and
a sentence), and never raises, whatever the bytes. The controller applies an
admitted command with ``ControlCore.apply_command`` (state rules only: the gate
already checked the timing) and acks a rejection as it is. Each command is
decoded once and its timing checked once.

Two gates exist:

* ``control.security.SignedCommandAuthenticator`` (with a ``[security]`` table):
  signed envelopes, docs/commands.md;
* ``TrustedLink`` (here): the plain JSON command of ``control.core.commands``, for a
  broker that is itself access-controlled, and the demo.

``decode_command`` is the plain decoder, total over any input: oversized
payloads, non-UTF-8, malformed or deeply nested JSON, duplicate keys, NaN and
infinities, numbers too large for a float, wrong types and unknown command names
all come back as a ``Rejection``.
"""

from __future__ import annotations

from collections.abc import Mapping

from rig_common import bounded_problem
from telemetry.contract.command_wire import (
    MAX_BODY_BYTES,
    RejectReason,
    WireRefusal,
    strict_json_object,
)
from telemetry.contract.json_fields import JsonValue

from ..core.command_timing import ClockStatus, CommandTiming, timing_verdict
from ..core.commands import CommandName, GroundCommand
from ..core.policy import Rejection

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "TrustedLink",
    "decode_command",
    "timing_rejection",
]

MAX_PAYLOAD_BYTES = MAX_BODY_BYTES  # a plain command: the signed body's size limit
UNKNOWN_ID = "?"  # the ack's command id when the payload has no readable one



class _Refused(Exception):
    """Internal: one decoding step refused the payload."""

    def __init__(self, reason: RejectReason, detail: str, command_id: str = UNKNOWN_ID
                 ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.command_id = command_id


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _time(obj: Mapping[str, JsonValue], key: str, cid: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    problem = bounded_problem(value)
    if problem is not None:
        raise _Refused(RejectReason.MALFORMED, f"command {cid}: {key!r}: {problem}", cid)
    return float(value)


def _decode(data: bytes, source: str) -> GroundCommand:
    if len(data) > MAX_PAYLOAD_BYTES:
        raise _Refused(RejectReason.TOO_LARGE, f"payload is {len(data)} bytes, at most "
                       f"{MAX_PAYLOAD_BYTES} accepted")
    try:
        obj = strict_json_object(data, "payload")
    except WireRefusal as refusal:
        raise _Refused(refusal.reason, refusal.detail) from None
    cid = obj.get("id")
    if not isinstance(cid, str) or not cid or len(cid) > 128:
        claimed = cid[:128] if isinstance(cid, str) and cid else UNKNOWN_ID
        raise _Refused(RejectReason.MALFORMED, f"'id' must be a string of 1-128 characters, "
                       f"got {_shown(cid)}", claimed)
    raw_name = obj.get("command")
    name = CommandName.lookup(raw_name) if isinstance(raw_name, str) else None
    if name is None:
        known = ", ".join(c.value for c in CommandName)
        raise _Refused(RejectReason.UNKNOWN_COMMAND, f"command {cid}: unknown command "
                       f"{_shown(raw_name)} (expected one of {known})", cid)
    args = obj.get("args", {})
    if not isinstance(args, dict):
        raise _Refused(RejectReason.MALFORMED, f"command {cid}: 'args' must be an object, "
                       f"got {_shown(args)}", cid)
    issued = _time(obj, "issued_at", cid)
    expires = _time(obj, "expires_at", cid)
    ttl = _time(obj, "ttl_s", cid)
    if expires is None and ttl is not None and issued is not None:
        expires = issued + ttl
        if bounded_problem(expires) is not None:
            raise _Refused(RejectReason.MALFORMED, f"command {cid}: 'issued_at' + 'ttl_s' is "
                           f"not a finite time", cid)
    if expires is None:
        raise _Refused(RejectReason.MALFORMED, f"command {cid}: no expiry ('expires_at', or "
                       f"'issued_at' with 'ttl_s'); commands without one are never executed",
                       cid)
    return GroundCommand(cid, name, expires, issued, dict(args), source)


def decode_command(payload: bytes | bytearray | str, *, source: str = "ground",
                   topic: str = "") -> GroundCommand | Rejection:
    """Decode one plain command; never raises (see the module docstring)."""
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) \
        else bytes(payload)
    try:
        return _decode(data, source)
    except _Refused as refused:
        return Rejection(refused.reason, refused.detail, topic,
                         command_id=refused.command_id)


def timing_rejection(cmd: GroundCommand, now_wall: float, timing: CommandTiming,
                     topic: str = "") -> Rejection | None:
    """The one timing check of a decoded command, as a rejection (``None``: on time, or a
    safe-direction command, which no timing rule applies to)."""
    if timing.exempt(cmd.name.value):
        return None
    verdict = timing_verdict(cmd.issued_at, cmd.expires_at, now_wall, timing)
    if verdict is None:
        return None
    return Rejection(verdict[0], verdict[1], topic,
                     command_id=cmd.command_id)


class TrustedLink:
    """The gate without authentication: decode, check the timing, nothing else.

    Only for a broker that is itself access-controlled, and for the demo."""

    def __init__(self, timing: CommandTiming | None = None, topic: str = "") -> None:
        self.timing = timing or CommandTiming()
        self.topic = topic

    def clock_status(self, now_wall: float, now_mono: float) -> ClockStatus | None:
        """No estimate of the ground's clock on this path."""
        return None

    def admit(self, raw: bytes, now_wall: float, now_mono: float | None = None
              ) -> GroundCommand | Rejection:
        """``control.core.policy.CommandAuthenticator`` (on the rover's own clock: an
        unauthenticated message cannot teach it the ground's)."""
        result = decode_command(raw, topic=self.topic)
        if isinstance(result, Rejection):
            return result
        return timing_rejection(result, now_wall, self.timing, self.topic) or result
