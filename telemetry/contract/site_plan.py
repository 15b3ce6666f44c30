"""The site plan: declared dig sites with their permitted extraction, and keep-out zones.

TOML shape (docs/commands.md, "Site plan")::

    [site_plan]
    name = "permit-LX-7"
    clearance_m = 0.8            # the rig's half-width, added to every keep-out margin
    safety_radius_m = 3.0        # published safety zone: site radius + this
    slowdown_kg = 10.0           # start slowing this far below a quota
    min_speed_factor = 0.25      # slowest dig speed before stopping at the quota

    [[site_plan.site]]
    name = "A"
    x = 3.0
    y = 0.0
    radius_m = 1.0               # dig positions within this distance belong to site A
    quota_kg = 120.0             # permitted total extraction at this site

    [[site_plan.keep_out]]
    name = "apollo-ALSEP"
    kind = "heritage"            # free text: heritage, science, operator...
    polygon = [[10.0, 10.0], [14.0, 10.0], [14.0, 13.0], [10.0, 13.0]]
    margin_m = 2.0

``site_plan_from_dict`` rejects unknown keys, wrong types, bad polygons,
overlapping sites and dig sites that reach into a keep-out zone, with a
``SitePlanError`` naming the key (``site_plan.keep_out[1].polygon``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rig_common import bounded_problem, finite_in
from telemetry.contract.errors import SitePlanError
from telemetry.contract.geometry import Point, contains, edge_distance, validate_polygon

_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class DigSite:
    name: str
    x: float
    y: float
    radius_m: float
    quota_kg: float

    @property
    def centre(self) -> Point:
        return (self.x, self.y)


@dataclass(frozen=True, slots=True)
class KeepOutZone:
    name: str
    polygon: tuple[Point, ...]
    margin_m: float = 0.0
    kind: str = "keep-out"


@dataclass(frozen=True, slots=True)
class SitePlan:
    name: str
    sites: tuple[DigSite, ...]
    keep_out: tuple[KeepOutZone, ...] = ()
    clearance_m: float = 0.0
    safety_radius_m: float = 3.0
    slowdown_kg: float = 10.0
    min_speed_factor: float = 0.25

    def site(self, name: str) -> DigSite | None:
        return next((s for s in self.sites if s.name == name), None)


def _num(d: Mapping[str, Any], key: str, where: str, default: float | None = None,
         lo: float = -math.inf, hi: float = math.inf) -> float:
    value = d.get(key, default)
    if value is None:
        raise SitePlanError(f"{where}{key}", "missing")
    return finite_in(value, f"{where}{key}", lo, hi, error=SitePlanError)


def _name(d: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str) or not _NAME.match(value):
        raise SitePlanError(f"{where}{key}", "expected 1-64 characters of "
                                                   f"[A-Za-z0-9_.-], got {value!r}")
    return value


def _unknown(d: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(d) - allowed)
    if extra:
        raise SitePlanError(f"{where}{extra[0]}", "unknown key (expected one of: "
                                                        f"{', '.join(sorted(allowed))})")


def _polygon(value: Any, key: str) -> tuple[Point, ...]:
    if not isinstance(value, list):
        raise SitePlanError(key, f"expected a list of [x, y] pairs, got {value!r}")
    pts: list[Point] = []
    for i, v in enumerate(value):
        if (not isinstance(v, list | tuple) or len(v) != 2
                or any(bounded_problem(c) is not None for c in v)):
            raise SitePlanError(f"{key}[{i}]", f"expected [x, y] (two finite numbers), "
                                                     f"got {v!r}")
        pts.append((float(v[0]), float(v[1])))
    problem = validate_polygon(pts)
    if problem:
        raise SitePlanError(key, problem)
    return tuple(pts)


def site_plan_from_dict(data: Mapping[str, Any], prefix: str = "site_plan.") -> SitePlan:
    """Validate a parsed ``[site_plan]`` table; raises ``SitePlanError`` naming the key."""
    if not isinstance(data, Mapping):
        raise SitePlanError(prefix.rstrip("."), f"expected a table, got {data!r}")
    _unknown(data, {"name", "clearance_m", "safety_radius_m", "slowdown_kg", "min_speed_factor",
                    "site", "keep_out"}, prefix)
    raw_sites = data.get("site")
    if not isinstance(raw_sites, list) or not raw_sites:
        raise SitePlanError(f"{prefix}site", "expected at least one [[site_plan.site]]")
    sites: list[DigSite] = []
    for i, s in enumerate(raw_sites):
        where = f"{prefix}site[{i}]."
        if not isinstance(s, Mapping):
            raise SitePlanError(where.rstrip("."), f"expected a table, got {s!r}")
        _unknown(s, {"name", "x", "y", "radius_m", "quota_kg"}, where)
        site = DigSite(_name(s, "name", where), _num(s, "x", where), _num(s, "y", where),
                       _num(s, "radius_m", where, 1.0, 0.0, 1000.0),
                       _num(s, "quota_kg", where, None, 0.0, 1e9))
        for j, other in enumerate(sites):
            if other.name == site.name:
                raise SitePlanError(f"{where}name", f"duplicate of {prefix}site[{j}]")
            if math.dist(other.centre, site.centre) <= other.radius_m + site.radius_m:
                raise SitePlanError(where.rstrip("."), f"dig area overlaps site "
                                          f"{other.name!r} ({prefix}site[{j}])")
        sites.append(site)
    clearance = _num(data, "clearance_m", prefix, 0.0, 0.0, 100.0)
    zones: list[KeepOutZone] = []
    raw_zones = data.get("keep_out", [])
    if not isinstance(raw_zones, list):
        raise SitePlanError(f"{prefix}keep_out", "expected a list of [[keep_out]] tables")
    for i, z in enumerate(raw_zones):
        where = f"{prefix}keep_out[{i}]."
        if not isinstance(z, Mapping):
            raise SitePlanError(where.rstrip("."), f"expected a table, got {z!r}")
        _unknown(z, {"name", "kind", "polygon", "margin_m"}, where)
        if "polygon" not in z:
            raise SitePlanError(f"{where}polygon", "missing")
        kind = z.get("kind", "keep-out")
        if not isinstance(kind, str) or not 0 < len(kind) <= 64:
            raise SitePlanError(f"{where}kind", f"expected a short string, got {kind!r}")
        zone = KeepOutZone(_name(z, "name", where), _polygon(z["polygon"], f"{where}polygon"),
                           _num(z, "margin_m", where, 0.0, 0.0, 1000.0), kind)
        for site in sites:
            reach = site.radius_m + zone.margin_m + clearance
            if contains(zone.polygon, site.centre) or \
                    edge_distance(site.centre, zone.polygon) <= reach:
                raise SitePlanError(f"{where}polygon", f"keep-out zone {zone.name!r} "
                                          f"(with margin {zone.margin_m} m and clearance "
                                          f"{clearance} m) reaches into dig site {site.name!r}")
        zones.append(zone)
    return SitePlan(
        name=_name(data, "name", prefix, "site-plan"),
        sites=tuple(sites), keep_out=tuple(zones), clearance_m=clearance,
        safety_radius_m=_num(data, "safety_radius_m", prefix, 3.0, 0.0, 1000.0),
        slowdown_kg=_num(data, "slowdown_kg", prefix, 10.0, 0.0, 1e9),
        min_speed_factor=_num(data, "min_speed_factor", prefix, 0.25, 0.01, 1.0),
    )


__all__ = ["DigSite", "KeepOutZone", "SitePlan", "site_plan_from_dict"]
