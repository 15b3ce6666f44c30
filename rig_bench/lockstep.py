"""The service's controller against the simulated rig, in lockstep simulated time.

``LockstepRunner`` runs what ``rig-control run`` runs: ``RigController``
(``control.runtime.app``) with its tasks, its ``Bridge``, its sensor feed and
its firmware requests, against the simulator's ``Rig`` (``sim_hw.rig``: plant,
firmware, sensors, fault injector and the firmware's end of the link). Two
things differ, and the controller knows neither:

* the cable is in memory: the rig serves ``memory://NAME``
  (``firmware_bridge.memory``) and the bridge opens that URL through the same
  transport code as a pty or a socket, framing, CRCs, heartbeats and
  retransmission included;
* the event loop is a ``VirtualClockLoop`` (``rig_bench.virtual_clock``): its
  clock is simulated time, and when nothing is ready it jumps to the next timer
  instead of sleeping, so the controller's 50 Hz loop, the link's timers and
  the rig's tick all fire at their exact simulated times, as fast as the CPU
  allows, and a seed gives the same run every time.

Time: one clock. ``time_scale`` is 1, so plant seconds are loop seconds and
``now`` is both; the controller's wall clock (command expiry) is the loop's.

Use: ``step()`` runs the loop until the controller's next control tick;
``run(max_s=...)`` until the mission is complete and the rig idle (the
controller then stops the rig and closes the link, as the service does) or
*max_s* simulated seconds; ``advance(s)`` runs the rig on alone. ``observers``
are called after every control tick with the runner (``core``,
``last_measurements``, ``last_output``). ``telemetry``, when set, is handed the
feed at the app's telemetry period (``loop.stats_interval_s``; unset, the rows
are dropped); with a ``downlink`` the app publishes through it instead.
``notify`` passes a notice to the core's next step (``RigController.notify``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from control.core.auto_operator import AutoOperator
from control.core.config import ControllerConfig
from control.core.events import EventKind
from control.core.measurements import Measurements
from control.core.mission import MissionPlan
from control.core.policy import SiteRules
from control.core.step import ControlCore, ControlEvent, Notice, StepOutput
from control.core.supervisor import Mode, ModeChanged
from control.runtime.app import ControlTick, RigController
from control.runtime.downlink_port import DownlinkPort
from control.runtime.run_summary import RunSummary
from control.runtime.sensor_feed import SensorFeed
from sim_hw.ports import MemorySpec
from sim_hw.rig import Rig, RigConfig

from .virtual_clock import VirtualClockLoop

__all__ = ["LockstepError", "LockstepResult", "LockstepRunner"]

_names = itertools.count(1)


class LockstepError(RuntimeError):
    """The runner was used wrongly (stepped after the controller stopped, say)."""


@dataclass(slots=True)
class LockstepResult:
    """How a lockstep run ended."""

    complete: bool  # the mission completed and the rig is idle
    started: float  # plant s when the mission started
    ended: float  # plant s when the run ended
    events: list[ControlEvent | ModeChanged] = field(default_factory=list)
    summary: RunSummary | None = None  # the controller's, once it has stopped

    @property
    def duration(self) -> float:
        return self.ended - self.started


class _FeedOffer:
    """The app's telemetry sink here: the runner's callback, or drop the rows."""

    def __init__(self, runner: LockstepRunner) -> None:
        self.runner = runner

    def publish_all(self, feed: SensorFeed | None) -> None:
        if feed is None:
            return
        if self.runner.telemetry is not None:
            self.runner.telemetry(feed)
        else:
            feed.take_telemetry()


class LockstepRunner:
    """``RigController`` against a ``Rig`` over ``memory://`` in simulated time (see the
    module docstring). *rig* is the simulator's configuration; its port and time scale
    are the runner's."""

    def __init__(self, config: ControllerConfig, rig: RigConfig,
                 mission: MissionPlan | None = None, *, operator: AutoOperator | None = None,
                 site_rules: SiteRules | None = None, downlink: DownlinkPort | None = None,
                 record_every: int = 1) -> None:
        if config.loop.time_scale != 1.0:
            raise LockstepError(f"loop.time_scale: expected 1 in lockstep (plant time is "
                                f"loop time), got {config.loop.time_scale}")
        self.config = config
        self.loop = VirtualClockLoop()
        name = f"lockstep-{next(_names)}"
        self.rig = Rig(replace(rig, port=MemorySpec(name), time_scale=1.0))
        # the controller starts half a rig tick (sim_hw.rig: one batch, at least 2 ms)
        # after the rig, as on a real bench the simulator is up first and the two loops'
        # phases differ: no control tick ties with the batch it should see
        self._phase_s = 0.5 * max(0.002, rig.batch_ms / 1000.0)
        self.controller = RigController(
            config, f"memory://{name}", mission, downlink=downlink, site_rules=site_rules,
            operator=operator if operator is not None else AutoOperator(),
            wall_clock=self.loop.time, record_every=record_every,
            telemetry=None if downlink is not None else _FeedOffer(self))
        self.controller.tick_listeners.append(self._on_tick)
        self.period = 1.0 / config.loop.rate_hz
        self.events: list[ControlEvent | ModeChanged] = []
        self.observers: list[Callable[[LockstepRunner], None]] = []
        self.telemetry: Callable[[SensorFeed], None] | None = None
        self.last_measurements = Measurements()
        self.last_output: StepOutput | None = None
        self.mission_started: float | None = None
        self.ticks = 0
        self._task: asyncio.Task[RunSummary] | None = None
        self._tick_waiter: asyncio.Future[None] | None = None
        self._closed = False

    # --- what a benchmark reads -------------------------------------------------------------
    @property
    def core(self) -> ControlCore:
        return self.controller.core

    @property
    def feed(self) -> SensorFeed:
        feed = self.controller.feed
        if feed is None:
            raise LockstepError("no sensor feed yet: step the runner first (the feed is made "
                                "when the link comes up)")
        return feed

    @property
    def now(self) -> float:
        """Simulated seconds (the loop's clock; plant time)."""
        return self.loop.time()

    @property
    def done(self) -> bool:
        core = self.core
        return (core.mission is not None and core.mission.complete
                and core.mode is Mode.IDLE and not core.busy)

    @property
    def running(self) -> bool:
        """The controller is running (it stops itself once the mission is done)."""
        return self._task is not None and not self._task.done()

    def notify(self, notice: Notice) -> None:
        """For the core's next step."""
        self.controller.notify(notice)

    # --- driving --------------------------------------------------------------------------
    def step(self) -> StepOutput:
        """Run the loop until the controller's next control tick; returns its output."""
        self.loop.run_until_complete(self._next_tick())
        assert self.last_output is not None
        return self.last_output

    def run(self, *, max_s: float, until_complete: bool = True) -> LockstepResult:
        """Run until the mission is complete and the rig idle (or *max_s* simulated s)."""
        return self.loop.run_until_complete(self._run(max_s, until_complete))

    def advance(self, seconds: float) -> None:
        """Run the loop (the rig, and the controller if it still runs) for *seconds*."""
        self._check_open()
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def close(self) -> None:
        """Stop the controller (if it runs) and the rig, and close the loop."""
        if self._closed:
            return
        self.loop.run_until_complete(self._close())
        self.loop.close()
        self._closed = True

    def __enter__(self) -> LockstepRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise LockstepError("the runner is closed")

    async def _start(self, until_complete: bool) -> asyncio.Task[RunSummary]:
        if self._task is None:
            await self.rig.start()
            await asyncio.sleep(self._phase_s)
            self._task = asyncio.create_task(
                self.controller.run(until_complete=until_complete), name="lockstep-controller")
        return self._task

    async def _next_tick(self) -> None:
        self._check_open()
        task = await self._start(until_complete=True)
        if task.done():
            task.result()  # the controller's own failure, if it failed
            raise LockstepError("the controller has stopped (the mission is done): "
                                "no more control ticks")
        waiter = self._tick_waiter = asyncio.get_running_loop().create_future()
        await asyncio.wait((waiter, task), return_when=asyncio.FIRST_COMPLETED)
        if not waiter.done():
            task.result()
            raise LockstepError("the controller stopped before its next control tick")

    async def _run(self, max_s: float, until_complete: bool) -> LockstepResult:
        self._check_open()
        start = self.now
        task = await self._start(until_complete)
        done, _ = await asyncio.wait((task,), timeout=max(0.0, max_s))
        if not done:
            self.controller.stop()  # the service's controlled stop
        summary = await task
        began = self.mission_started if self.mission_started is not None else start
        return LockstepResult(self.done, began, self.now, self.events, summary)

    async def _close(self) -> None:
        if self._task is not None and not self._task.done():
            self.controller.stop()
            await asyncio.wait((self._task,))
        await self.rig.stop()

    def _on_tick(self, tick: ControlTick) -> None:
        self.ticks += 1
        self.last_measurements = tick.measurements
        out = self.last_output = tick.output
        for ev in out.events:
            self.events.append(ev)
            if self.mission_started is None and isinstance(ev, ControlEvent) \
                    and ev.kind == EventKind.MISSION_STARTED:
                self.mission_started = ev.time
        if self.mission_started is None and self.core.mission_running:
            self.mission_started = tick.now
        for observer in self.observers:
            observer(self)
        waiter = self._tick_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
