"""The conformance checks as data, their results, and the pure rules that judge them.

Each ``CheckSpec`` names one requirement of docs/protocol.md (its section),
says whether running it energises or moves the rig (``moves``: only with
``--allow-motion``), and has a one-line title. A run produces one
``CheckResult`` per check: PASS / FAIL / SKIP, the measured figure next to
its bound (with the unit), and a detail line saying what was seen. The judge
functions below are pure so they are tested with plain numbers.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "CHECKS",
    "SPEC",
    "CheckResult",
    "CheckSpec",
    "Outcome",
    "SpecTiming",
    "check_spec",
    "min_interval",
    "within",
]


class Outcome(Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class SpecTiming:
    """The timing table of docs/protocol.md (section 6), in milliseconds."""

    heartbeat_ms: float = 25.0
    hello_interval_ms: float = 100.0
    retransmit_ms: float = 50.0
    ack_delay_ms: float = 10.0  # 1.2: the ack of a reliable frame is on the wire by then
    estop_power_cut_ms: float = 50.0  # 1.2: a heartbeat shows the power cut by then
    max_retransmissions: int = 10
    nack_interval_ms: float = 50.0
    watchdog_ms: float = 250.0  # default; a HELLO may ask for another (20..10000)
    standstill_ms: float = 300.0  # drum, from dig speed, at the default current limit
    standstill_speed: float = 0.05  # rad/s


SPEC = SpecTiming()


@dataclass(frozen=True, slots=True)
class CheckSpec:
    id: str
    section: str
    title: str
    moves: bool = False  # energises motors or moves the rig: needs --allow-motion


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("handshake.full", "3, 4.2", "full handshake, heartbeats, table CRC"),
    CheckSpec("handshake.cached", "3, 4.1, 4.2",
              "cached table, repeated HELLO keeps the session, session id 0 ignored"),
    CheckSpec("messages.roundtrip", "4, 4.4",
              "every message type both ways; firmware-only types from the host ignored"),
    CheckSpec("reliable.sequence", "5.1, 4.4", "reliable seq from 1, cumulative acks, ack delay"),
    CheckSpec("reliable.retransmission", "5.1", "go-back-N retransmission, same bytes, limit"),
    CheckSpec("reliable.duplicates", "5.1", "duplicates re-acked not re-run, gaps dropped"),
    CheckSpec("commands.expiry", "4.8", "expired command refused, never run"),
    CheckSpec("commands.arguments", "4.8",
              "unused arguments ignored, non-finite used ones BAD_VALUE after the preconditions"),
    CheckSpec("params", "4.13", "get/set, read-only, out of range, unknown, f32 bounds, rounding"),
    CheckSpec("nack.codes", "4, 4.5, 4.8",
              "NACK reason codes (version, unknown command), sequence number consumed"),
    CheckSpec("nack.rate_limit", "3", "NOT_HANDSHAKEN at most one per 50 ms, nothing run"),
    CheckSpec("linkloss.motors_off", "3.1, 6",
              "a loss or a new session with the motors off stops nothing, trips nothing"),
    CheckSpec("robustness.garbage", "2, 7", "garbage and bit flips: no action, no reply"),
    CheckSpec("estop.latch", "4.10, 4.8",
              "e-stop latches once, any source, refuses every command, reset rules"),
    CheckSpec("estop.power_cut", "4.10", "e-stop cuts enabled motors at once", moves=True),
    CheckSpec("watchdog.stop", "6", "silence: stop within watchdog_ms, event next session",
              moves=True),
    CheckSpec("linkloss.one_way", "6", "host hears but is not heard: stop within watchdog_ms",
              moves=True),
    CheckSpec("standstill", "6, 4.8, 4.9",
              "drum at standstill within 300 ms of a stop; event order, motors off", moves=True),
)


def check_spec(check_id: str) -> CheckSpec:
    for spec in CHECKS:
        if spec.id == check_id:
            return spec
    known = ", ".join(s.id for s in CHECKS)
    raise KeyError(f"unknown check {check_id!r}; known: {known}")


@dataclass(frozen=True, slots=True)
class CheckResult:
    id: str
    section: str
    outcome: Outcome
    detail: str = ""
    measured: float | None = None
    bound: float | None = None
    unit: str = "ms"

    @property
    def timing(self) -> str:
        """"253.1 ms <= 260" style text, or "" when the check measures no figure."""
        if self.measured is None:
            return ""
        text = f"{self.measured:.1f} {self.unit}"
        if self.bound is not None:
            text += f" (bound {self.bound:g})"
        return text

    def to_json(self) -> dict[str, object]:
        return {"check": self.id, "section": self.section, "result": self.outcome.value,
                "measured": self.measured, "bound": self.bound, "unit": self.unit,
                "detail": self.detail}


def within(measured: float | None, bound: float, tolerance: float = 0.0) -> bool:
    """A measured figure meets an upper bound (with the run's measurement tolerance)."""
    return measured is not None and measured <= bound + tolerance


def min_interval(times: Sequence[float]) -> float | None:
    """Smallest gap between consecutive times (None for fewer than two)."""
    if len(times) < 2:
        return None
    ordered = sorted(times)
    return min(b - a for a, b in itertools.pairwise(ordered))
