"""What the controller publishes every ``loop.stats_interval_s``: state, samples, public topics.

``TelemetryOut.publish_all`` stores, through the downlink's outbox:

* the state message (``ControlCore.snapshot()``, with the command gate's estimate
  of the ground's clock and the outbox's storage);
* the filtered, decimated rows and the raw-sample window statistics of each
  sample stream (``SensorFeed.take_telemetry``): what ``rig-ground
  watch/plot/report`` show (docs/telemetry.md);
* the public topics (``control.runtime.public_topics``).

Each kind on its own: a failure of one is logged and never starves the others,
and never reaches the control loop.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Protocol

from ..core.command_timing import ClockStatus
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
                 wall_clock: Callable[[], float],
                 clock_status: Callable[[], ClockStatus | None] = lambda: None) -> None:
        self.downlink = downlink
        self.core = core
        self.public = public
        self.wall_clock = wall_clock
        self.clock_status = clock_status

    def publish_all(self, feed: SensorFeed | None) -> None:
        for what, publish in (("state", self._state), ("telemetry", self._samples),
                              ("public topics", self._public)):
            try:
                publish(feed)
            except Exception as err:  # the downlink must never stop the controller
                log.error("%s not stored: %s", what, err)

    def _state(self, feed: SensorFeed | None) -> None:
        state = self.core.snapshot()
        clock = self.clock_status()
        if clock is not None:
            age = None if clock.age_s is None else round(clock.age_s, 1)
            state = dataclasses.replace(state, clock_offset_s=round(clock.offset_s, 3),
                                        clock_sync_age_s=age, clock_source=clock.source)
        storage = self.downlink.storage_status()
        if storage is not None:
            state = dataclasses.replace(state, storage=storage)
        self.downlink.publish_state(state)

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
