"""The summary of one run: what ``rig-control`` prints and the benchmarks read."""

from __future__ import annotations

from dataclasses import dataclass

from firmware_bridge.link import LinkStats
from telemetry.contract.json_fields import JsonObject

from ..core.step import ControlCore
from .loop_stats import LoopStats

__all__ = ["RunSummary", "link_summary", "summarize"]


@dataclass(frozen=True, slots=True)
class RunSummary:
    mission: JsonObject | None
    mission_complete: bool
    final_mode: str
    mass_dumped_kg: float
    cycles: int
    stalls: int
    obstacles: int
    interlock_trips: int
    interlock_trips_by_cause: dict[str, int]  # interlock name -> trips, e.g. {"over_current": 1}
    stalls_by_cause: dict[str, int]  # "firmware" (its STALL event) or "speed_drop" (detected)
    link_losses: int
    estops: int
    faults_handled: int
    commands_accepted: int
    commands_rejected: int
    energy_j: float
    samples_filtered: int
    wall_s: float
    plant_s: float
    cpu_s: float
    loop: dict[str, float]
    link: dict[str, int]


def link_summary(c: LinkStats) -> dict[str, int]:
    """The serial link's counters worth a line in the summary."""
    return {"crc_errors": c.crc_errors, "framing_errors": c.framing_errors,
            "retransmits": c.retransmits, "samples_lost": c.samples_lost,
            "links_lost": c.links_lost, "frames_rx": c.frames_rx}


def summarize(core: ControlCore, loop: LoopStats, link: dict[str, int], *,
              samples_filtered: int, wall_s: float, time_scale: float,
              cpu_s: float) -> RunSummary:
    st = core.stats
    return RunSummary(
        mission=core.mission.as_dict() if core.mission else None,
        mission_complete=bool(core.mission and core.mission.complete),
        final_mode=core.mode.value, mass_dumped_kg=st.dumped_kg, cycles=st.cycles,
        stalls=st.stalls, obstacles=st.obstacles, interlock_trips=st.interlock_trips,
        interlock_trips_by_cause=dict(st.trips_by_cause),
        stalls_by_cause=dict(st.stalls_by_cause),
        link_losses=st.link_losses, estops=st.estops, faults_handled=st.faults_handled,
        commands_accepted=st.commands_accepted, commands_rejected=st.commands_rejected,
        energy_j=core.mass.energy_j, samples_filtered=samples_filtered,
        wall_s=wall_s, plant_s=wall_s * time_scale, cpu_s=cpu_s, loop=loop.summary(),
        link=link)
