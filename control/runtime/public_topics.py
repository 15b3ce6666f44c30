"""The public topics: the rig's safety zone and its redacted status feed.

When the site rules carry a site plan (``SiteRules.plan_view()``), every
telemetry period publishes, through the downlink's outbox:

* ``public/{prefix}/{rig}/safety_zone`` (retained) when the zone differs from
  the one published last;
* ``public/{prefix}/{rig}/feed`` (retained): mode, rounded position, the site
  the rig stands in, extraction per site.

The payload builders (``control.security.public_feed``) take only these
fields, so no raw telemetry can leak through them. Without a site plan nothing
is published.
"""

from __future__ import annotations

import math
from typing import Protocol

from ..core.policy import SiteRules
from ..security import (
    SafetyZone,
    public_feed_payload,
    public_topics,
    safety_zone_for,
    safety_zone_payload,
)

__all__ = ["PublicSink", "PublicTopics"]


class PublicSink(Protocol):
    def publish_public(self, name: str, topic: str, payload: bytes, *,
                       retain: bool = True) -> object: ...


class PublicTopics:
    def __init__(self, prefix: str, rig_id: str, rules: SiteRules) -> None:
        self.rig_id = rig_id
        self.rules = rules
        self.topics = public_topics(prefix, rig_id)
        self._last_zone: SafetyZone | None = None  # the zone last published

    def publish(self, sink: PublicSink, now_wall: float, mode: str, x: float, y: float
                ) -> None:
        """Publish the zone (if it changed) and the feed for a rig at (x, y) in ``mode``."""
        plan = self.rules.plan_view()
        if plan is None:
            return
        zone = safety_zone_for(plan, self.rig_id, x, y)
        if zone is not None and zone != self._last_zone:
            self._last_zone = zone
            sink.publish_public("safety_zone", self.topics["safety_zone"],
                                safety_zone_payload(zone, now_wall))
        site = plan.site_at(x, y) if math.isfinite(x) and math.isfinite(y) else None
        sink.publish_public("feed", self.topics["feed"], public_feed_payload(
            self.rig_id, now_wall, mode, x, y, site.name if site else None,
            dict(self.rules.extracted_kg())))
