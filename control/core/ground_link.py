"""Is the ground link healthy? The decision behind the ``ground_link`` interlock.

Theory of operation
-------------------
With a broker configured and ``ground.link_required``, the rig must not keep
digging unattended. The evidence is the downlink's ``link_ok(now)``: the broker
acknowledged something (a publish or the downlink's liveness probe) within
``ground.link_loss_wall_s``, which the downlink is given as its ``link_loss_s``.
A connected flag alone would miss a broker that went silent without closing the
connection (it changes only when MQTT keepalive notices, 30-60 s later). The
window is applied once, in the downlink; this monitor only adds the policy:
without a broker (outbox only), or with ``link_required = false``, the link is
always healthy. ``GroundLinkMonitor.update(now, link_ok)`` is pure.
"""

from __future__ import annotations

from .config import GroundConfig

__all__ = ["GroundLinkMonitor"]


class GroundLinkMonitor:
    def __init__(self, config: GroundConfig, broker_configured: bool) -> None:
        self.watching = config.link_required and broker_configured
        self.loss_after_s = config.link_loss_wall_s
        self.lost_since: float | None = None  # loop time the link was first seen lost

    def update(self, now: float, link_ok: bool) -> bool:
        """``True`` while the downlink reports the broker answering in time."""
        if not self.watching or link_ok:
            self.lost_since = None
            return True
        if self.lost_since is None:
            self.lost_since = now
        return False
