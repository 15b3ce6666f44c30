"""Site rules: may the rig arm or dig here, and how fast may it still dig?

Theory of operation
-------------------
``PlanRules`` is a pure function of the ``SitePlan`` and its arguments; it
reads no clock, no sensor, no file. The caller passes the rig position and the
extraction totals per site (from the durable ledger, so quotas survive
restarts) plus the mass in the bucket now.

* ``check_arm(x, y)``: refused inside a keep-out zone (polygon, or within
  ``margin_m + clearance_m`` of its edges) or when the position is unknown.
* ``check_dig(x, y, extracted_by_site, in_bucket_kg)``: refused inside a
  keep-out zone, outside every declared dig site (a permit covers declared
  sites only), or once the site's quota is used up. Otherwise allowed with a
  ``speed_factor``: 1 until the remaining quota falls below ``slowdown_kg``,
  then linear from 1 down to ``min_speed_factor``, and 0 (refused: "quota
  reached") at the limit. The controller multiplies its dig speed by the
  factor and, on a refusal while digging, ends the dig cleanly (lift, stow,
  dump) exactly as for a full bucket.

``SiteRulesPolicy`` adapts this to ``control.core.policy.SiteRules``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from telemetry.contract.geometry import contains, edge_distance
from telemetry.contract.site_plan import DigSite, KeepOutZone, SitePlan


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""  # why not (empty when allowed)
    site: str | None = None  # the dig site the position belongs to
    zone: str | None = None  # the keep-out zone that refused
    speed_factor: float = 1.0  # multiply the dig speed by this (0 when refused)
    remaining_kg: float = math.inf  # quota left at the site after what is in the bucket


class PlanRules:
    """The rules of one ``SitePlan`` (also a ``control.core.policy.SitePlanView``)."""

    def __init__(self, plan: SitePlan) -> None:
        self.plan = plan

    @property
    def safety_radius_m(self) -> float:
        """How far beyond a dig area (or the rig) the published safety zone reaches."""
        return self.plan.safety_radius_m

    def site_at(self, x: float, y: float) -> DigSite | None:
        """The declared dig site whose area contains (x, y), if any."""
        for site in self.plan.sites:
            if math.hypot(x - site.x, y - site.y) <= site.radius_m:
                return site
        return None

    def zone_at(self, x: float, y: float) -> KeepOutZone | None:
        """The first keep-out zone that (x, y), grown by margin and clearance, touches."""
        for zone in self.plan.keep_out:
            if contains(zone.polygon, (x, y)) or \
                    edge_distance((x, y), zone.polygon) <= zone.margin_m + self.plan.clearance_m:
                return zone
        return None

    def _where(self, x: float, y: float) -> Decision | None:
        if not (math.isfinite(x) and math.isfinite(y)):
            return Decision(False, "rig position unknown", speed_factor=0.0)
        zone = self.zone_at(x, y)
        if zone is not None:
            inside = contains(zone.polygon, (x, y))
            where = "inside" if inside else (
                f"{edge_distance((x, y), zone.polygon):.2f} m from the edge of")
            return Decision(False, f"at ({x:.2f}, {y:.2f}), {where} {zone.kind} keep-out zone "
                            f"{zone.name!r} (margin {zone.margin_m} m + clearance "
                            f"{self.plan.clearance_m} m)", zone=zone.name, speed_factor=0.0)
        return None

    def check_arm(self, x: float, y: float) -> Decision:
        refused = self._where(x, y)
        if refused is not None:
            return refused
        site = self.site_at(x, y)
        return Decision(True, site=site.name if site else None)

    def check_dig(self, x: float, y: float, extracted_by_site: Mapping[str, float],
                  in_bucket_kg: float = 0.0) -> Decision:
        refused = self._where(x, y)
        if refused is not None:
            return refused
        site = self.site_at(x, y)
        if site is None:
            return Decision(False, f"at ({x:.2f}, {y:.2f}), not within a declared dig site of "
                            f"plan {self.plan.name!r}", speed_factor=0.0)
        bucket = in_bucket_kg if math.isfinite(in_bucket_kg) and in_bucket_kg > 0 else 0.0
        extracted = float(extracted_by_site.get(site.name, 0.0)) + bucket
        remaining = site.quota_kg - extracted
        if remaining <= 0.0:
            return Decision(False, f"quota of {site.quota_kg:g} kg at site {site.name!r} "
                            f"reached ({extracted:.1f} kg extracted)", site=site.name,
                            speed_factor=0.0, remaining_kg=0.0)
        return Decision(True, site=site.name, speed_factor=self.quota_speed_factor(remaining),
                        remaining_kg=remaining)

    def quota_speed_factor(self, remaining_kg: float) -> float:
        """1 far from the quota, down to ``min_speed_factor`` near it, 0 at it."""
        if remaining_kg <= 0.0:
            return 0.0
        slow = self.plan.slowdown_kg
        if slow <= 0.0 or remaining_kg >= slow:
            return 1.0
        lo = self.plan.min_speed_factor
        return lo + (1.0 - lo) * remaining_kg / slow


class SiteRulesPolicy:
    """``control.core.policy.SiteRules`` over ``PlanRules`` and a source of per-site totals.

    ``totals`` is typically ``Ledger.totals_kg`` (durable, survives restarts),
    so the protocol's ``extracted_kg`` argument (the controller's own count of
    dumped mass, lost at a restart and already in the ledger) is *ignored*.
    While digging, call ``dig_decision``/``speed_factor`` with the bucket's
    current mass estimate: it counts against the quota on top of the ledger."""

    def __init__(self, rules: PlanRules, totals: Callable[[], Mapping[str, float]], *,
                 declared_sites_only: bool = False) -> None:
        self.rules = rules
        self.totals = totals
        self.declared_sites_only = declared_sites_only

    # control.core.policy.SiteRules
    def refuse_dig(self, x: float, y: float, extracted_kg: float) -> str | None:
        """Keep-out zones and quotas. The protocol uses this for arming too, so a
        position outside every declared site (the dump, a traverse) is refused only
        with ``declared_sites_only=True``: set it once the controller calls
        ``refuse_arm`` for ARM/START and ``refuse_dig`` only before a dig."""
        arm = self.rules.check_arm(x, y)
        if not arm.allowed:
            return arm.reason
        if arm.site is None and not self.declared_sites_only:
            return None
        d = self.rules.check_dig(x, y, self.totals())
        return None if d.allowed else d.reason

    def remaining_kg(self, x: float, y: float, extracted_kg: float) -> float:
        return self.rules.check_dig(x, y, self.totals()).remaining_kg

    # additions
    def refuse_arm(self, x: float, y: float) -> str | None:
        d = self.rules.check_arm(x, y)
        return None if d.allowed else d.reason

    def dig_decision(self, x: float, y: float, in_bucket_kg: float) -> Decision:
        return self.rules.check_dig(x, y, self.totals(), in_bucket_kg)

    def speed_factor(self, x: float, y: float, in_bucket_kg: float) -> float:
        return self.dig_decision(x, y, in_bucket_kg).speed_factor

    def plan_view(self) -> PlanRules:
        return self.rules

    def extracted_kg(self) -> Mapping[str, float]:
        return self.totals()


__all__ = ["Decision", "PlanRules", "SiteRulesPolicy"]
