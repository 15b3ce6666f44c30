"""What a run has done so far: the counters behind the summary and the state topic."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["RunStats", "count_cause"]


@dataclass(slots=True)
class RunStats:
    cycles: int = 0
    dumped_kg: float = 0.0
    stalls: int = 0
    obstacles: int = 0
    interlock_trips: int = 0
    link_losses: int = 0
    estops: int = 0
    commands_accepted: int = 0
    commands_rejected: int = 0
    faults_handled: int = 0
    trips_by_cause: dict[str, int] = field(default_factory=dict)  # interlock name -> trips
    stalls_by_cause: dict[str, int] = field(default_factory=dict)  # "firmware"/"speed_drop"


def count_cause(counts: dict[str, int], cause: str) -> None:
    """One more occurrence of *cause* (an interlock name, a stall cause)."""
    counts[cause] = counts.get(cause, 0) + 1
