"""Plug-in points for command authentication and site rules.

The controller asks two objects before acting on the ground:

* a ``CommandAuthenticator`` (the command *gate*) turns the raw bytes received
  on the command topic into the decoded, on-time ``GroundCommand`` it vouches
  for, or a typed ``Rejection`` (bad signature, replay, unauthorised key,
  malformed, expired...). Nothing it rejects is ever handed on, and it never
  raises. ``control.security.command_intake.TrustedLink`` accepts every well-formed,
  on-time command without authentication: it is only for a broker that is itself
  access-controlled, and for the demo; ``control.security``'s signed
  authenticator is the real one.
* a ``SiteRules`` says whether the rig may arm or dig where it stands and how
  much it may still extract (keep-out zones, quotas), and what the public topics
  may show of the site plan. The default, ``NoSiteRules``, allows everything and
  publishes nothing.

Both are synchronous and must not block: they run on the control loop.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from telemetry.contract.command_wire import RejectReason
from telemetry.contract.json_fields import JsonValue

from .errors import ControlError

if TYPE_CHECKING:
    from .command_timing import ClockStatus
    from .commands import GroundCommand

__all__ = [
    "UNRESTRICTED",
    "CommandAuthenticator",
    "CommandRefused",
    "DigDecision",
    "NoSiteRules",
    "PlannedSite",
    "Rejection",
    "SitePlanView",
    "SiteRules",
    "Unrestricted",
]


class CommandRefused(ControlError):
    """An authenticator refused a command; ``reason`` goes into the rejection ack."""

    def __init__(self, reason: str, command_id: str = "") -> None:
        self.reason = reason
        self.command_id = command_id
        super().__init__(reason)

    def event_fields(self) -> dict[str, JsonValue]:
        """JSON-ready fields of the ``command_rejected`` event the controller publishes
        (the reason; never secret material)."""
        out: dict[str, JsonValue] = {"reason": self.reason}
        if self.command_id:
            out["command_id"] = self.command_id
        return out


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused command, signed or plain (``control.security.command_intake``): a reason code of
    docs/commands.md and a sentence. ``key_id``/``command_id`` are only what the message
    *claimed* unless ``authenticated`` is true."""

    reason: RejectReason
    detail: str
    topic: str
    command_id: str = ""
    key_id: str = ""
    authenticated: bool = False  # the signature verified (a genuine key sent it)
    counter: int | None = None

    @property
    def ack_reason(self) -> str:
        return f"{self.reason.value}: {self.detail}"

    def event_fields(self) -> dict[str, JsonValue]:
        """JSON-ready fields of the ``command_rejected`` event on the event topic."""
        out: dict[str, JsonValue] = {"reason": self.reason.value,
                               "detail": self.detail, "topic": self.topic,
                               "authenticated": self.authenticated}
        if self.command_id:
            out["command_id"] = self.command_id
        if self.key_id:
            out["key"] = self.key_id
        if self.counter is not None:
            out["counter"] = self.counter
        return out


class CommandAuthenticator(Protocol):
    def admit(self, raw: bytes, now_wall: float, now_mono: float | None = None
              ) -> GroundCommand | Rejection:
        """The command to apply, or why not; never raises, whatever ``raw`` holds.
        ``now_wall``/``now_mono``: the rover's wall and monotonic clocks."""
        ...

    def clock_status(self, now_wall: float, now_mono: float) -> ClockStatus | None:
        """The gate's estimate of the ground's clock (``None``: it keeps none)."""
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


class PlannedSite(Protocol):
    """A declared dig area of the site plan, as the public topics show it."""

    @property
    def name(self) -> str: ...

    @property
    def x(self) -> float: ...

    @property
    def y(self) -> float: ...

    @property
    def radius_m(self) -> float: ...


class SitePlanView(Protocol):
    """What the public topics need of a site plan: the safety margin and the site at a
    position (``control.security.PlanRules`` is one)."""

    @property
    def safety_radius_m(self) -> float: ...

    def site_at(self, x: float, y: float) -> PlannedSite | None: ...


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

    def plan_view(self) -> SitePlanView | None:
        """The site plan behind the rules, for the public topics (None: no plan, and
        the public topics are not published)."""
        ...

    def extracted_kg(self) -> Mapping[str, float]:
        """Mass extracted per site so far (what the quotas count)."""
        ...


UNRESTRICTED = Unrestricted()


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

    def plan_view(self) -> SitePlanView | None:
        return None

    def extracted_kg(self) -> Mapping[str, float]:
        return {}
