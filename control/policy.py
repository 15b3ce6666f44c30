"""Plug-in points for command authentication and site rules (issue 8).

The controller asks two objects before acting on the ground:

* a ``CommandAuthenticator`` turns the raw bytes received on the command topic
  into the command payload it vouches for, or raises ``CommandRefused`` with a
  reason (bad signature, replay, unauthorised key...). It runs *before*
  parsing, so nothing unauthenticated is even decoded. The default,
  ``TrustedLink``, accepts everything: it is only for a broker that is itself
  access-controlled, and for the demo.
* a ``SiteRules`` says whether the rig may arm or dig where it stands and how
  much it may still extract (keep-out zones, quotas). The default,
  ``NoSiteRules``, allows everything.

Both are synchronous and must not block: they run on the control loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ControlError


class CommandRefused(ControlError):
    """An authenticator refused a command; ``reason`` goes into the rejection ack."""

    def __init__(self, reason: str, command_id: str = "") -> None:
        self.reason = reason
        self.command_id = command_id
        super().__init__(reason)

    def event_fields(self) -> dict[str, Any]:
        """JSON-ready fields of the security event the controller publishes (its
        ``kind`` and the reason; never secret material)."""
        out: dict[str, Any] = {"kind": "command_rejected", "reason": self.reason}
        if self.command_id:
            out["command_id"] = self.command_id
        return out


class CommandAuthenticator(Protocol):
    def authenticate(self, raw: bytes, now_wall: float) -> bytes:
        """Return the payload to parse, or raise ``CommandRefused``."""
        ...


class DigDecision(Protocol):
    """What the rules say about digging on, asked every control step of a dig."""

    allowed: bool
    reason: str  # why not (empty when allowed)
    site: str | None
    speed_factor: float  # multiply the drum speed by this (slowing near a quota)


@dataclass(frozen=True, slots=True)
class Unrestricted:
    allowed: bool = True
    reason: str = ""
    site: str | None = None
    speed_factor: float = 1.0
    remaining_kg: float = math.inf


class SiteRules(Protocol):
    def refuse_arm(self, x: float, y: float) -> str | None:
        """A reason not to arm or start at (x, y) (a keep-out zone, say), or None."""
        ...

    def refuse_dig(self, x: float, y: float, extracted_kg: float) -> str | None:
        """A reason not to start a dig at (x, y) with this much extracted, or None."""
        ...

    def remaining_kg(self, x: float, y: float, extracted_kg: float) -> float:
        """How much more may be extracted here (inf when unlimited)."""
        ...

    def dig_decision(self, x: float, y: float, in_bucket_kg: float) -> DigDecision:
        """During a dig, with this much already in the bucket: go on, slow down, or stop."""
        ...


UNRESTRICTED = Unrestricted()


class TrustedLink:
    """Accepts every payload as is (no authentication)."""

    def authenticate(self, raw: bytes, now_wall: float) -> bytes:
        return raw


class NoSiteRules:
    """Everywhere may be dug without limit."""

    def refuse_arm(self, x: float, y: float) -> str | None:
        return None

    def refuse_dig(self, x: float, y: float, extracted_kg: float) -> str | None:
        return None

    def dig_decision(self, x: float, y: float, in_bucket_kg: float) -> DigDecision:
        return UNRESTRICTED

    def remaining_kg(self, x: float, y: float, extracted_kg: float) -> float:
        return float("inf")
