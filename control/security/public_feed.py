"""Public payloads: the rig's safety zone (retained) and a redacted status feed.

Theory of operation
-------------------
Other operators on the same terrain must see where this rig works; anyone may
see what it is doing in broad terms; nobody outside the mission may see raw
telemetry. Both payloads live under ``public/{prefix}/{rig}/`` (a subtree the
broker ACL lets anyone read, see ``deploy/mosquitto``), outside the private
``{prefix}/{rig}/`` tree, so fleet subscriptions never mistake them for
downlink messages:

* ``public/{prefix}/{rig}/safety_zone`` (retained, QoS 1): a circle. At a dig
  site it is the site's dig area grown by ``safety_radius_m``; elsewhere it is
  centred on the rig, snapped to a ``ZONE_GRID_M`` grid so it changes (and is
  republished) only when the rig has really moved. Publish when
  ``safety_zone_for(...)`` differs from the last published value.
* ``public/{prefix}/{rig}/feed`` (QoS 0 or 1, not retained): position rounded
  to 0.1 m, supervisor mode, the current site, and extraction totals. The
  payload is built from a whitelist of arguments; there is no way to pass raw
  telemetry through it.

The builders are pure: the caller passes ``now``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from control.core.policy import SitePlanView

ZONE_GRID_M = 1.0
FEED_POSITION_M = 0.1
_MODE_RE = re.compile(r"^[a-z_]{1,32}$")


def public_topics(prefix: str, rig_id: str) -> dict[str, str]:
    root = f"public/{prefix}/{rig_id}"
    return {"safety_zone": f"{root}/safety_zone", "feed": f"{root}/feed"}


@dataclass(frozen=True, slots=True)
class SafetyZone:
    rig: str
    x: float
    y: float
    radius_m: float
    site: str | None = None  # None: around the rig itself (driving, between sites)


def safety_zone_for(rules: SitePlanView, rig_id: str, x: float, y: float
                    ) -> SafetyZone | None:
    """The zone to publish for a rig at (x, y); ``None`` when the position is unknown."""
    if not (math.isfinite(x) and math.isfinite(y)):
        return None
    site = rules.site_at(x, y)
    if site is not None:
        return SafetyZone(rig_id, site.x, site.y, site.radius_m + rules.safety_radius_m,
                          site.name)
    gx, gy = (round(v / ZONE_GRID_M) * ZONE_GRID_M for v in (x, y))
    # snapping moves the centre by up to half a grid diagonal: grow the radius to cover it
    return SafetyZone(rig_id, gx, gy, rules.safety_radius_m + ZONE_GRID_M * math.sqrt(0.5))


def safety_zone_payload(zone: SafetyZone, now_wall: float, frame: str = "site") -> bytes:
    body = {"v": 1, "type": "safety_zone", "rig": zone.rig, "t_rig": round(now_wall, 3),
            "frame": frame, "centre": [round(zone.x, 3), round(zone.y, 3)],
            "radius_m": round(zone.radius_m, 3), "site": zone.site}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


def public_feed_payload(rig_id: str, now_wall: float, mode: str, x: float, y: float,
                        site: str | None, extracted_by_site: Mapping[str, float]) -> bytes:
    """The redacted public status: nothing but these fields, rounded."""
    if not _MODE_RE.match(mode):
        raise ValueError(f"mode: expected a supervisor mode name, got {mode!r}")
    pos = None
    if math.isfinite(x) and math.isfinite(y):
        pos = [round(x / FEED_POSITION_M) * FEED_POSITION_M,
               round(y / FEED_POSITION_M) * FEED_POSITION_M]
        pos = [round(v, 1) for v in pos]
    totals = {str(k): round(float(v), 1) for k, v in sorted(extracted_by_site.items())
              if math.isfinite(v)}
    body = {"v": 1, "type": "public", "rig": rig_id, "t_rig": round(now_wall, 1),
            "mode": mode, "position": pos, "site": site, "extracted_kg": totals,
            "total_kg": round(sum(totals.values()), 1)}
    return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()


__all__ = [
    "SafetyZone",
    "public_feed_payload",
    "public_topics",
    "safety_zone_for",
    "safety_zone_payload",
]
