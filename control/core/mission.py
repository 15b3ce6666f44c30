"""Mission plan (TOML) and per-site progress.

Format::

    name = "crater-rim-3"
    drive_speed_m_s = 0.25         # optional (the simulated firmware allows up to 0.3)
    arrive_tolerance_m = 0.3       # optional

    [dump]
    x = 0.0
    y = 0.0

    [[site]]
    name = "A"
    x = 4.0
    y = 1.0
    target_kg = 30.0
    max_cycles = 6                 # optional: give up on the site after this many digs

``MissionProgress`` is a plain record the core updates: mass delivered per
site (credited at each dump), cycles, and whether a site was abandoned
(obstacle, cycle budget). It also carries the mission's identity: the plan's
``plan_identity`` hash, a ``mission_id`` and where the mission starts in the
signed ledger (``ledger_start``), which is what a restarted controller resumes
(``control.core.mission_record``).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rig_common import finite_in, int_in, load_toml
from telemetry.contract.json_fields import JsonObject
from telemetry.contract.rig_state import MissionReport, SiteReport

from .errors import ConfigError


@dataclass(frozen=True, slots=True)
class MissionSite:
    name: str
    x: float
    y: float
    target_kg: float
    max_cycles: int = 10


@dataclass(frozen=True, slots=True)
class MissionPlan:
    name: str
    sites: tuple[MissionSite, ...]
    dump_x: float = 0.0
    dump_y: float = 0.0
    drive_speed_m_s: float = 0.25
    arrive_tolerance_m: float = 0.3

    @property
    def target_kg(self) -> float:
        return sum(s.target_kg for s in self.sites)


#: The demo mission: two sites near the dump, a few bucket loads each.
DEFAULT_MISSION = MissionPlan(
    name="demo",
    sites=(MissionSite("A", 2.5, 0.0, 45.0, 4), MissionSite("B", 0.0, 2.5, 45.0, 4)),
    dump_x=0.0, dump_y=0.0, drive_speed_m_s=0.25,
)


def _num(d: dict[str, Any], key: str, where: str, default: float | None = None,
         lo: float = -math.inf, hi: float = math.inf) -> float:
    value = d.get(key, default)
    if value is None:
        raise ConfigError(f"{where}{key}", "missing")
    return finite_in(value, f"{where}{key}", lo, hi, error=ConfigError)


def mission_from_dict(data: dict[str, Any]) -> MissionPlan:
    """Validate a parsed mission; raises ``ConfigError`` naming the key."""
    allowed = {"name", "drive_speed_m_s", "arrive_tolerance_m", "dump", "site"}
    for key in data:
        if key not in allowed:
            raise ConfigError(key, f"unknown key (expected one of {', '.join(sorted(allowed))})")
    name = data.get("name", "mission")
    if not isinstance(name, str):
        raise ConfigError("name", f"expected a string, got {name!r}")
    dump = data.get("dump", {})
    if not isinstance(dump, dict):
        raise ConfigError("dump", "expected a table with x and y")
    raw_sites = data.get("site")
    if not isinstance(raw_sites, list) or not raw_sites:
        raise ConfigError("site", "expected at least one [[site]] table")
    sites = []
    for i, s in enumerate(raw_sites):
        where = f"site[{i}]."
        if not isinstance(s, dict):
            raise ConfigError(f"site[{i}]", "expected a table")
        unknown = set(s) - {"name", "x", "y", "target_kg", "max_cycles"}
        if unknown:
            raise ConfigError(f"{where}{sorted(unknown)[0]}", "unknown key")
        sname = s.get("name", f"site-{i + 1}")
        if not isinstance(sname, str):
            raise ConfigError(f"{where}name", f"expected a string, got {sname!r}")
        cycles = int_in(s.get("max_cycles", 10), f"{where}max_cycles", 1, error=ConfigError)
        sites.append(MissionSite(sname, _num(s, "x", where), _num(s, "y", where),
                             _num(s, "target_kg", where, lo=0.1, hi=1e6), cycles))
    return MissionPlan(
        name=name, sites=tuple(sites),
        dump_x=_num(dump, "x", "dump.", 0.0), dump_y=_num(dump, "y", "dump.", 0.0),
        drive_speed_m_s=_num(data, "drive_speed_m_s", "", 0.25, lo=0.01, hi=5.0),
        arrive_tolerance_m=_num(data, "arrive_tolerance_m", "", 0.3, lo=0.01, hi=10.0),
    )


def load_mission(path: str | Path) -> MissionPlan:
    """Read and validate a mission TOML file; raises ``ConfigError`` naming the key."""
    return mission_from_dict(load_toml(path, key="<mission file>", error=ConfigError))


def plan_identity(plan: MissionPlan) -> str:
    """SHA-256 (hex) of the plan's validated content: a changed site, target or dump
    position is a new plan; comments and key order in the TOML file are not."""
    canonical = json.dumps(asdict(plan), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(slots=True)
class SiteProgress:
    site: MissionSite
    delivered_kg: float = 0.0
    cycles: int = 0
    abandoned: str = ""  # reason, when given up

    @property
    def tolerance_kg(self) -> float:
        """Dumped mass is measured (cell before minus after); allow its error."""
        return max(0.5, 0.02 * self.site.target_kg)

    @property
    def done(self) -> bool:
        return bool(self.abandoned) or self.delivered_kg >= self.site.target_kg - self.tolerance_kg

    @property
    def remaining_kg(self) -> float:
        return max(0.0, self.site.target_kg - self.delivered_kg)


@dataclass(slots=True)
class MissionProgress:
    plan: MissionPlan
    sites: list[SiteProgress] = field(default_factory=list)
    mission_id: str = ""  # "<plan name>-<n>": the n-th mission the store began
    ledger_start: int = 0  # ledger entries before this mission's first dump
    dumps: int = 0  # dumps credited to this mission (each one ledger entry)

    def __post_init__(self) -> None:
        if not self.sites:
            self.sites = [SiteProgress(s) for s in self.plan.sites]

    @property
    def current(self) -> SiteProgress | None:
        return next((s for s in self.sites if not s.done), None)

    @property
    def complete(self) -> bool:
        return self.current is None

    @property
    def delivered_kg(self) -> float:
        return sum(s.delivered_kg for s in self.sites)

    @property
    def cycles(self) -> int:
        return sum(s.cycles for s in self.sites)

    def credit(self, index: int | None, mass_kg: float) -> SiteProgress | None:
        """One dump (one ledger entry), of soil from site *index* (``None``: from no
        site of the plan); returns the site credited."""
        self.dumps += 1
        if index is None:
            return None
        site = self.sites[index]
        site.delivered_kg += mass_kg
        return site

    def report(self) -> MissionReport:
        """The progress as the state message carries it (``state.mission``)."""
        return MissionReport(
            self.plan.name, round(self.delivered_kg, 3), self.plan.target_kg, self.cycles,
            tuple(SiteReport(s.site.name, round(s.delivered_kg, 3), s.site.target_kg,
                             s.cycles, s.abandoned) for s in self.sites), self.mission_id,
            (self.plan.dump_x, self.plan.dump_y))

    def as_dict(self) -> JsonObject:
        return self.report().to_json()
