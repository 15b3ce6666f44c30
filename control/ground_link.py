"""Is the ground link healthy? The decision behind the ``ground_link`` interlock.

Theory of operation
-------------------
With a broker configured and ``ground.link_required``, the rig must not keep
digging unattended: the link counts as lost once the downlink has reported
itself disconnected for ``ground.link_loss_wall_s`` without a break. Without a
broker (outbox only), or with ``link_required = false``, the link is always
healthy. ``GroundLinkMonitor.update(now, connected)`` is pure: the app passes
the loop time and the downlink's ``connected`` flag each tick.
"""

from __future__ import annotations

import math

from .config import GroundConfig

__all__ = ["GroundLinkMonitor"]


class GroundLinkMonitor:
    def __init__(self, config: GroundConfig, broker_configured: bool) -> None:
        self.watching = config.link_required and broker_configured
        self.loss_after_s = config.link_loss_wall_s
        self._seen = -math.inf  # when the link was last known up (loop time)

    def update(self, now: float, connected: bool) -> bool:
        """``True`` while the link is up or lost for less than ``loss_after_s``."""
        if not self.watching:
            return True
        if connected:
            self._seen = now
            return True
        return now - self._seen < self.loss_after_s
