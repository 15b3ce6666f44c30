"""What the controller publishes every ``loop.stats_interval_s``: state, samples, public topics.

``TelemetryOut.publish_all`` stores, through the downlink's outbox:

* the state message (``ControlCore.snapshot()``);
* the filtered, decimated rows and the raw-sample window statistics of each
  sample stream (``SensorFeed.take_telemetry``): what ``rig-ground
  watch/plot/report`` show (docs/telemetry.md);
* the public topics (``control.runtime.public_topics``).

Each kind on its own: a failure of one is logged and never starves the others,
and never reaches the control loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from ..core.step import ControlCore
from .downlink_port import DownlinkPort
from .public_topics import PublicTopics
from .sensor_feed import SensorFeed

log = logging.getLogger(__name__)

__all__ = ["TelemetryOut", "TelemetrySink"]


class TelemetrySink(Protocol):
    """What the app's ``telemetry`` task hands the feed to every ``loop.stats_interval_s``
    (``TelemetryOut`` with a downlink; a bench may pass its own)."""

    def publish_all(self, feed: SensorFeed | None) -> None: ...


class TelemetryOut:
    def __init__(self, downlink: DownlinkPort, core: ControlCore, public: PublicTopics,
                 wall_clock: Callable[[], float]) -> None:
        self.downlink = downlink
        self.core = core
        self.public = public
        self.wall_clock = wall_clock

    def publish_all(self, feed: SensorFeed | None) -> None:
        for what, publish in (("state", self._state), ("telemetry", self._samples),
                              ("public topics", self._public)):
            try:
                publish(feed)
            except Exception as err:  # the downlink must never stop the controller
                log.error("%s not stored: %s", what, err)

    def _state(self, feed: SensorFeed | None) -> None:
        self.downlink.publish_state(self.core.snapshot())

    def _samples(self, feed: SensorFeed | None) -> None:
        if feed is None:
            return
        blocks, stats = feed.take_telemetry()
        for block in blocks:
            self.downlink.publish_batch(block)
        for window in stats:
            self.downlink.publish_stats(window)

    def _public(self, feed: SensorFeed | None) -> None:
        core = self.core
        self.public.publish(self.downlink, self.wall_clock(), core.mode.value, core.last.x,
                            core.last.y)
