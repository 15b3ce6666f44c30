"""When a ground command may run: the one set of timing rules, for every path.

Theory of operation
-------------------
A ground command carries its ground wall-clock times: ``expires_at`` (always) and
``issued_at`` (signed commands always, unsigned ones optionally). At receipt the
rover compares them with its own wall clock ``now`` and refuses, in this order:

* ``expired``: ``now >= expires_at``;
* ``future``: ``issued_at > now + max_future_s`` (clock-skew allowance);
* ``stale``: ``now - issued_at > max_age_s`` (a captured command kept back);
* ``ttl_too_long``: ``expires_at - now > max_ttl_s``: THE lifetime limit. However
  a command was built, it is never valid for longer than this after it reaches
  the rover.

Safe-direction commands (``stop`` and ``estop`` by default, ``[ground]
safe_direction_commands``) pass every timing rule: refusing a stop because a clock
is wrong is the unsafe direction. They still need whatever the gate demands
otherwise (a valid signature and a fresh counter on the signed path).

``now`` is the gate's best knowledge of the ground's clock: the signed path learns
it from authenticated commands (``control.security.ground_clock``); the unsigned
path and the local operator use the rover's own wall clock.

The limits come from the controller's ``[ground]`` table (``max_ttl_wall_s``,
``max_clock_skew_wall_s``, ``max_age_wall_s``; docs/commands.md, "Timing") and
are applied once per command: by the command gate for ground commands (before a
signed command's replay counter is persisted), by ``ControlCore.handle_command``
for the local operator's. A refusal is the matching rejection code of
docs/commands.md (the contract's ``RejectReason``).
"""

from __future__ import annotations

from dataclasses import dataclass

from telemetry.contract.command_wire import RejectReason

from .commands import GroundCommand

__all__ = ["SAFE_DIRECTION_COMMANDS", "ClockStatus", "CommandTiming", "check_timing",
           "timing_verdict"]

#: The commands that pass every timing rule unless ``[ground]`` says otherwise.
SAFE_DIRECTION_COMMANDS: frozenset[str] = frozenset({"stop", "estop"})


@dataclass(frozen=True, slots=True)
class CommandTiming:
    """The timing limits, in wall seconds (defaults = the ``[ground]`` defaults)."""

    max_ttl_s: float = 60.0
    max_future_s: float = 5.0
    max_age_s: float = 120.0
    safe_commands: frozenset[str] = SAFE_DIRECTION_COMMANDS  # exempt from every rule

    def exempt(self, command: str) -> bool:
        """True for a safe-direction command: no timing rule applies to it."""
        return command in self.safe_commands


@dataclass(frozen=True, slots=True)
class ClockStatus:
    """What the gate knows of the ground's clock, for the state message.

    ``offset_s`` is the estimated ground time minus the rover's wall clock (positive:
    the rover is behind); ``age_s`` is how long ago an authenticated command last
    confirmed it (``None``: never since start, the estimate is the rover's own clock,
    or the persisted floor when that is later)."""

    offset_s: float
    age_s: float | None
    source: str  # "rover" (own clock / persisted floor) or "ground" (learnt)


def timing_verdict(issued_at: float | None, expires_at: float, now_wall: float,
                   timing: CommandTiming) -> tuple[RejectReason, str] | None:
    """``None`` when a command with these times may run at ``now_wall``, else the rule
    it breaks and a sentence saying by how much."""
    if now_wall >= expires_at:
        return RejectReason.EXPIRED, f"expired {now_wall - expires_at:.3f} s ago"
    if issued_at is not None and issued_at > now_wall + timing.max_future_s:
        return (RejectReason.FUTURE, f"issued {issued_at - now_wall:.1f} s in the future "
                f"(clock-skew allowance {timing.max_future_s} s)")
    if issued_at is not None and now_wall - issued_at > timing.max_age_s:
        return (RejectReason.STALE, f"issued {now_wall - issued_at:.1f} s ago (at most "
                f"{timing.max_age_s} s)")
    if expires_at - now_wall > timing.max_ttl_s:
        return (RejectReason.TTL_TOO_LONG, f"expiry {expires_at - now_wall:.0f} s away "
                f"exceeds the {timing.max_ttl_s} s limit")
    return None


def check_timing(cmd: GroundCommand, now_wall: float, max_future_s: float, max_ttl_s: float,
                 max_age_s: float = float("inf")) -> str | None:
    """``timing_verdict`` for a decoded command: ``None`` when on time, else why not."""
    verdict = timing_verdict(cmd.issued_at, cmd.expires_at, now_wall,
                             CommandTiming(max_ttl_s, max_future_s, max_age_s))
    return None if verdict is None else verdict[1]
