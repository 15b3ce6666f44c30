"""The asyncio controller: the one module that owns the loop, the I/O and the wiring.

Theory of operation
-------------------
``RigController.run()`` opens the firmware ``Bridge`` and runs, in one
``asyncio.TaskGroup``, these named tasks:

* ``firmware-events``: every bridge event. Sample batches are queued in the
  ``SensorFeed`` and filtered once per control step (compiled, GIL-free kernels);
  heartbeats update the firmware status; firmware events, command results and
  link changes become ``Notice``s for the next control step.
* ``control-loop``: a fixed-rate loop (``loop.rate_hz`` on the wall clock)
  with deadline-corrected timing: tick *k* is scheduled with ``loop.call_at``
  at ``t0 + k * period``, so lateness never accumulates; missed ticks are
  skipped and counted, never bunched. Each tick: measurements -> pure
  ``ControlCore.step`` -> set-points to the bridge, requests to the command
  sender, events to the downlink; then the systemd watchdog is fed.
* ``firmware-commands``: sends the core's ``FirmwareRequest``s in order and
  reports each result back as ``RequestFinished`` (``control.runtime.firmware_requests``;
  motion commands complete on the firmware's DONE, in their own task). E-stops
  bypass the queue.
* ``ground-commands`` (with a downlink): raw uplink payloads -> the command
  gate (``CommandAuthenticator.admit``: decoded, authenticated, on time, or a
  ``Rejection``; run on one worker thread, so signature checks and the replay
  store's disk sync never block the loop) -> ``ControlCore.apply_command`` ->
  ack on the ack topic.
* ``telemetry``: state, samples and the public topics to the downlink every
  ``loop.stats_interval_s`` (``control.runtime.telemetry_out``).

``ground-commands`` and ``telemetry`` are not safety tasks: they run under
``control.runtime.task_supervisor.supervise`` (a failure is logged, becomes a
``task_restarted`` alarm event and the task restarts with backoff). A failure
of any other task ends the run: the firmware's watchdog then stops the motors
and systemd restarts the service.

The jobs around the loop live in their own modules: ``loop_stats`` (timing in
constant memory), ``run_record`` (bounded history for the summary and plot),
``ledger_writer`` (dumps into the signed ledger off the loop), ``mission_store``
(the mission's record: read and reconciled with the ledger at start, so a
restarted controller resumes its mission; committed at every mode change, off
the loop, after the dumps it counts), ``telemetry_out``
and ``public_topics`` (the periodic downlink), ``ground_link`` (the ground-link
health decision) and ``command_intake`` (the command gate).

Time: ``loop.time()`` is the only clock read here (plus ``time.time`` for
command expiry, injected as ``wall_clock``; the signed gate gets both, so its
estimate of the ground's clock survives a step of the wall clock);
``control.runtime.timebase`` converts to plant time. The app makes no decisions: the core does.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from firmware_bridge.bridge import Bridge, BridgeConfig, Connected, Disconnected
from firmware_bridge.errors import BridgeError, LinkDownError
from firmware_bridge.link import MessageReceived, PeerReset, SampleGap
from firmware_bridge.messages import Capability, CommandResult, Event, Heartbeat, SampleBatch

from ..core.auto_operator import AutoOperator
from ..core.command_timing import ClockStatus
from ..core.commands import CommandAck, GroundCommand
from ..core.config import ControllerConfig
from ..core.errors import RigConnectionError
from ..core.events import ControlEvent, EventKind, Severity
from ..core.ground_link import GroundLinkMonitor
from ..core.measurements import Measurements
from ..core.mission import MissionPlan
from ..core.policy import CommandAuthenticator, Rejection, SiteRules
from ..core.step import (
    ControlCore,
    EstopRequest,
    FirmwareEventSeen,
    LinkDown,
    LinkUp,
    Notice,
    StepInputs,
    StepOutput,
)
from ..core.supervisor import Mode, ModeChanged
from ..security.command_intake import TrustedLink
from .downlink_port import DownlinkPort
from .firmware_requests import FirmwareRequests
from .ledger_writer import LedgerBook, LedgerWriter
from .loop_stats import LoopStats
from .mission_store import MissionJournal, MissionStore, read_resume
from .public_topics import PublicTopics
from .realtime import enter_realtime
from .run_record import RunRecord
from .run_summary import RunSummary, link_summary, summarize
from .sd_notify import SdNotifier
from .sensor_feed import SensorFeed
from .task_supervisor import supervise
from .telemetry_out import TelemetryOut, TelemetrySink
from .timebase import TimeBase

log = logging.getLogger(__name__)

__all__ = ["ControlTick", "RigController", "RunSummary"]

MODE_INDEX = {m: i for i, m in enumerate(Mode)}
#: events after which the mission record is stored, besides every mode change
_RECORDED_ON = frozenset({EventKind.BUCKET_DUMPED, EventKind.MISSION_RESUMED,
                          EventKind.MISSION_REPLACED, EventKind.SITE_ABANDONED})
HISTORY = 256  # acks and firmware events kept for inspection (the downlink has them all)


@dataclass(frozen=True, slots=True)
class ControlTick:
    """What one control tick saw and decided (for ``RigController.tick_listeners``)."""

    now: float  # plant s
    measurements: Measurements
    output: StepOutput


class RigController:
    def __init__(
        self,
        config: ControllerConfig,
        port: str,
        mission: MissionPlan | None = None,
        *,
        downlink: DownlinkPort | None = None,
        authenticator: CommandAuthenticator | None = None,
        site_rules: SiteRules | None = None,
        ledger: LedgerBook | None = None,
        mission_store: MissionStore | None = None,
        operator: AutoOperator | None = None,
        notifier: SdNotifier | None = None,
        wall_clock: Callable[[], float] = time.time,
        record_every: int = 1,
        telemetry: TelemetrySink | None = None,
        record_rows: int = 20_000,
        record_events: int = 2_000,
    ) -> None:
        self.config = config
        self.port = port
        self.core = ControlCore(config, mission, site_rules)
        self.downlink = downlink
        self.gate: CommandAuthenticator = authenticator or TrustedLink(
            config.ground.command_timing)
        self.ledger = LedgerWriter(ledger, downlink) if ledger is not None else None
        self._ledger_book = ledger
        self.mission_store = mission_store
        self.journal = None if mission_store is None else MissionJournal(
            mission_store, self.ledger.after_booked if self.ledger is not None else None)
        g = config.ground
        self.ground_link = GroundLinkMonitor(
            g, downlink is not None and downlink.config.broker_url is not None)
        self.operator = operator
        self.notifier = notifier or SdNotifier({})
        self.wall_clock = wall_clock
        self.telemetry: TelemetrySink | None = telemetry if telemetry is not None else (
            None if downlink is None else TelemetryOut(
                downlink, self.core,
                PublicTopics(g.topic_prefix, g.rig_id, self.core.site_rules), wall_clock,
                self._clock_status))
        self.record = RunRecord(every=max(1, record_every), max_rows=record_rows,
                                max_events=record_events)
        self.loop_stats = LoopStats()
        self.bridge: Bridge | None = None
        self.feed: SensorFeed | None = None
        self._acks: collections.deque[CommandAck] = collections.deque(maxlen=HISTORY)
        self._firmware_events: collections.deque[Event] = collections.deque(maxlen=HISTORY)
        self._notices: list[Notice] = []
        self._fw_status: int | None = None
        self._requests: FirmwareRequests | None = None
        self._done = asyncio.Event()
        self._timebase = TimeBase(config.loop.time_scale)
        self._until_complete = False
        self._scale_checked = False
        self._samples_before = 0
        self._started_wall = 0.0
        self._cpu0 = 0.0
        self.mode_listeners: list[Callable[[ModeChanged], None]] = []
        # called at the end of every control tick (benchmarks read the tick's inputs
        # and decisions here; a listener must not block)
        self.tick_listeners: list[Callable[[ControlTick], None]] = []
        self.task_failures: dict[str, int] = {}  # supervised task name -> failures
        self._gate_pool: concurrent.futures.ThreadPoolExecutor | None = None

    def _clock_status(self) -> ClockStatus | None:
        """The gate's estimate of the ground's clock, for the state message."""
        return self.gate.clock_status(self.wall_clock(), asyncio.get_running_loop().time())

    @property
    def acks(self) -> list[CommandAck]:
        """The latest acks (at most ``HISTORY``)."""
        return list(self._acks)

    @property
    def firmware_events(self) -> list[Event]:
        """The latest firmware events (at most ``HISTORY``)."""
        return list(self._firmware_events)

    # --- lifecycle --------------------------------------------------------------------
    def stop(self) -> None:
        """Ask ``run`` to end (controlled stop of the rig first)."""
        self._done.set()

    async def run(self, *, until_complete: bool = False,
                  max_wall_s: float | None = None) -> RunSummary:
        """Run until ``stop()``, *max_wall_s*, or (with *until_complete*) the mission ends.

        Raises ``RigConnectionError`` when the firmware cannot be reached at start."""
        loop = asyncio.get_running_loop()
        self._timebase = TimeBase(self.config.loop.time_scale, loop.time())
        self._started_wall = loop.time()
        self._cpu0 = time.process_time()
        self._until_complete = until_complete
        if self.ledger is not None:  # entries a crash kept from the outbox, first
            await self.ledger.reconcile()
        await self._resume_mission()
        bridge = Bridge(self.port, BridgeConfig(
            connect_timeout=self.config.link.connect_timeout_wall_s))
        try:
            await bridge.__aenter__()
        except BridgeError as err:
            raise RigConnectionError(f"cannot reach the firmware on {self.port}: {err}") from err
        self.bridge = bridge
        self._requests = FirmwareRequests(bridge, self.config.link, self.notify)
        normal_scheduling = enter_realtime(self.config.loop.realtime_priority)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._events_task(bridge), name="firmware-events"),
                    tg.create_task(self._requests.run(tg), name="firmware-commands"),
                    tg.create_task(supervise("telemetry", self._telemetry_task,
                                             self._task_failed), name="telemetry"),
                    tg.create_task(self._control_loop(bridge, tg), name="control-loop"),
                    tg.create_task(self._deadline(max_wall_s), name="run-deadline"),
                ]
                if self.downlink is not None:
                    downlink = self.downlink
                    tasks.append(tg.create_task(
                        supervise("ground-commands", lambda: self._ground_task(downlink),
                                  self._task_failed), name="ground-commands"))
                await self._done.wait()
                await self._shut_down(tasks)
        finally:
            normal_scheduling()
            self.notifier.stopping()
            self.notifier.close()
            await bridge.aclose()
            self.close_gate()
            if self.journal is not None:  # the last record, after the last dump
                self.journal.save(self.core.mission_record())
                await self.journal.close()
            if self.ledger is not None:  # every dump booked before we return
                await self.ledger.close()
        return self.summary()

    async def _resume_mission(self) -> None:
        """The mission to continue, from the store and the ledger (read off the loop);
        the core reads the rig before it goes on (``control.core.resume_steps``)."""
        if self.core.mission is None:
            return
        resume, plan_hash = await asyncio.get_running_loop().run_in_executor(
            None, read_resume, self.core.mission.plan, self.mission_store, self._ledger_book)
        self.core.resume(resume, plan_hash)
        log.info("mission %s %s", resume.progress.mission_id,
                 "resumed" if resume.resumed else "begins")
        if self.journal is not None:
            self.journal.save(self.core.mission_record())

    async def _shut_down(self, tasks: list[asyncio.Task[None]]) -> None:
        """Stop everything that could send to the firmware, then STOP and ENABLE 0 as
        the last two commands; the task group then awaits every cancelled task."""
        assert self._requests is not None
        events = tasks[0]  # firmware-events: results of the final commands arrive there
        for task in tasks[1:]:
            task.cancel()
        self._requests.cancel_in_flight()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        await self._requests.stop_rig()
        events.cancel()

    async def _deadline(self, max_wall_s: float | None) -> None:
        if max_wall_s is None:
            return
        await asyncio.sleep(max_wall_s)
        log.warning("run time limit of %.0f s reached", max_wall_s)
        self._done.set()

    # --- firmware -------------------------------------------------------------------------
    def notify(self, notice: Notice) -> None:
        """For the core's next step (the app's own notices come from the bridge)."""
        self._notices.append(notice)

    async def _events_task(self, bridge: Bridge) -> None:
        loop = asyncio.get_running_loop()
        async for ev in bridge.events():
            self._on_bridge_event(ev, loop.time())
            while (more := bridge.get_event_nowait()) is not None:
                self._on_bridge_event(more, loop.time())

    def _on_bridge_event(self, ev: object, now: float) -> None:
        if isinstance(ev, MessageReceived):
            msg = ev.message
            if isinstance(msg, SampleBatch):
                if self.feed is not None:
                    self.feed.add_batch(msg, now)
            elif isinstance(msg, Heartbeat):
                self._fw_status = msg.status
            elif isinstance(msg, Event):
                self._firmware_events.append(msg)
                self._notices.append(FirmwareEventSeen(msg.code, msg.value, msg.text))
            elif isinstance(msg, CommandResult):
                pass  # results reach their waiter in the bridge
        elif isinstance(ev, Connected):
            if self.feed is not None:
                self._samples_before += self.feed.samples_filtered
            self.feed = SensorFeed(ev.info, {0: self.config.filters.fast,
                                             1: self.config.filters.nav},
                                   self.config.loop.time_scale)
            self._scale_checked = False
            self._notices.append(LinkUp(ev.info.firmware_id, ev.reconnect, ev.info.capabilities,
                                       ev.info.watchdog_tripped))
            if self.config.strategy.drive_overlap and \
                    not ev.info.capabilities & Capability.DRIVE_ARM_FOLLOW:
                log.warning("firmware %s does not implement the arm-follow drive: "
                            "strategy.drive_overlap is off for this session",
                            ev.info.firmware_id)
        elif isinstance(ev, Disconnected):
            if self.feed is not None:
                self.feed.reset_streams()
            self._notices.append(LinkDown(ev.reason))
            if self._requests is not None:
                self._requests.clear()
        elif isinstance(ev, PeerReset):
            log.warning("firmware reset (boot %d, %s)", ev.notice.boot_id, ev.notice.reason.name)
        elif isinstance(ev, SampleGap):
            log.debug("sample gap on stream %d: %d batches", ev.stream_id, ev.missing)

    # --- the control loop -------------------------------------------------------------------
    async def _control_loop(self, bridge: Bridge, tg: asyncio.TaskGroup) -> None:
        loop = asyncio.get_running_loop()
        period = 1.0 / self.config.loop.rate_hz
        stats = self.loop_stats
        deadline = loop.time()
        prev = deadline
        wd_interval = self.notifier.watchdog_interval
        wd_next = deadline
        self.notifier.ready(f"controlling {self.port}")
        while not self._done.is_set():
            deadline += period
            now = loop.time()
            if now > deadline + period:  # overran: skip the missed ticks, never bunch them
                skipped = int((now - deadline) / period)
                stats.missed += skipped
                deadline += skipped * period
            fut: asyncio.Future[None] = loop.create_future()
            handle = loop.call_at(deadline, _wake, fut)
            try:
                await fut
            finally:
                handle.cancel()
            woke = loop.time()
            dt_plant = self._timebase.plant_interval(min(woke - prev, 5 * period))
            prev = woke
            self._tick(bridge, tg, woke, dt_plant)
            stats.tick(woke - deadline, loop.time() - woke)
            if wd_interval is not None and woke >= wd_next:
                self.notifier.watchdog()
                wd_next = woke + wd_interval

    def _tick(self, bridge: Bridge, tg: asyncio.TaskGroup, woke: float, dt: float) -> None:
        core = self.core
        now = self._timebase.plant(woke)
        if self.operator is not None:
            cmd = self.operator.decide(core, self.wall_clock())
            if cmd is not None:
                self._ack(core.handle_command(cmd, now, self.wall_clock()))
        feed = self.feed
        m = feed.measurements(woke) if feed is not None else Measurements()
        notices, self._notices = tuple(self._notices), []
        ground_ok = self.ground_link.update(
            woke, self.downlink is not None and self.downlink.link_ok(woke))
        out = core.step(now, dt, StepInputs(m, self._fw_status, ground_ok, notices))
        self._fw_status = None
        if out.setpoints is not None and bridge.is_up:
            sp = out.setpoints
            try:
                bridge.send_setpoints(sp.drum_speed, sp.cut_depth, enable=sp.enable,
                                      ttl=self.config.link.setpoint_ttl_wall_s)
                if feed is not None:
                    self.loop_stats.latency.add(asyncio.get_running_loop().time()
                                                - feed.newest_arrival())
            except (LinkDownError, BridgeError) as err:
                log.debug("set-points not sent: %s", err)
        assert self._requests is not None  # run() set it before the loop started
        for req in out.requests:
            if isinstance(req, EstopRequest):
                self._requests.start_estop(tg, req)
            else:
                self._requests.put(req)
        for ev in out.events:
            self._publish_event(ev)
        self._check_time_scale()
        self._record(now, m)
        if self.tick_listeners:
            tick = ControlTick(now, m, out)
            for listener in self.tick_listeners:
                listener(tick)
        if self._until_complete and core.mission is not None and core.mission.complete \
                and core.mode is Mode.IDLE and not core.busy:
            self._done.set()

    def _check_time_scale(self) -> None:
        """Once per connection: warn if the firmware's sample clock disagrees with
        ``loop.time_scale`` (plant-time control would be wrong)."""
        if self.feed is None or self._scale_checked:
            return
        k = self.feed.measured_time_scale()
        if k is None:
            return
        self._scale_checked = True
        want = self.config.loop.time_scale
        if abs(k - want) > 0.2 * want:
            log.warning("firmware sample clock runs %.2fx wall time but loop.time_scale"
                        " is %.2f: plant-time control is wrong", k, want)

    def _record(self, now: float, m: Measurements) -> None:
        core = self.core
        sp, est = core.last_setpoints, core.mass.last
        self.record.add((now, MODE_INDEX[core.mode], m.drum_current, m.drum_speed, m.cut_depth,
                         est.estimate_kg, est.load_cell_kg, est.model_kg, m.tilt, m.motor_temp,
                         m.battery_soc, m.x, m.y,
                         sp.cut_depth if sp else math.nan, sp.drum_speed if sp else math.nan))

    # --- ground ---------------------------------------------------------------------------
    async def _ground_task(self, downlink: DownlinkPort) -> None:
        async for raw in downlink.commands():
            await self.handle_ground_payload(raw.payload)

    def close_gate(self) -> None:
        """Stop the command gate's worker thread (``run`` does it when it returns)."""
        if self._gate_pool is not None:  # at most one admit in flight: short
            self._gate_pool.shutdown(wait=True)
            self._gate_pool = None

    async def handle_ground_payload(self, payload: bytes) -> CommandAck:
        """One message from the command topic: through the gate, to the core, acked.

        The gate runs on one worker thread: verifying a signature and syncing the
        replay counter to disk must not hold up the control loop. One thread keeps
        the commands in order; each is applied on the loop once admitted."""
        if self._gate_pool is None:
            self._gate_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="command-gate")
        loop = asyncio.get_running_loop()
        verdict = await loop.run_in_executor(self._gate_pool, self.gate.admit, payload,
                                             self.wall_clock(), loop.time())
        return self._apply_verdict(verdict)

    def _apply_verdict(self, verdict: GroundCommand | Rejection) -> CommandAck:
        now = self._timebase.plant(asyncio.get_running_loop().time())
        if isinstance(verdict, GroundCommand):
            ack = self.core.apply_command(verdict, now)
        else:
            ack = self.core.command_refused(verdict.command_id or "?", verdict.ack_reason,
                                            now, verdict.event_fields())
        self._ack(ack)
        for ev in self.core.take_events():  # the rejection event goes out with its ack
            self._publish_event(ev)
        return ack

    def _ack(self, ack: CommandAck) -> None:
        self._acks.append(ack)
        log.info("command %s %s%s", ack.command_id, "accepted" if ack.accepted else "rejected",
                 f": {ack.reason}" if ack.reason else "")
        if self.downlink is not None:
            try:
                self.downlink.publish_ack(ack.command_id, ack.accepted, ack.reason)
            except Exception as err:  # the downlink must never stop the controller
                log.error("ack not stored: %s", err)

    def _publish_event(self, ev: ControlEvent | ModeChanged) -> None:
        if isinstance(ev, ModeChanged):
            for listener in self.mode_listeners:
                listener(ev)
            ev = ControlEvent(ev.time, EventKind.MODE_CHANGED, Severity.INFO,
                              f"{ev.previous.value} -> {ev.mode.value}: {ev.reason}",
                              {"from": ev.previous.value, "to": ev.mode.value,
                               "trigger": ev.trigger.value})
        self.record.events.append((ev.time, ev.severity.value, ev.text))
        if ev.kind is EventKind.BUCKET_DUMPED and self.ledger is not None:
            self.ledger.book(ev, self.core.mass.energy_j, self.wall_clock())
        if self.journal is not None and (ev.kind is EventKind.MODE_CHANGED
                                         or ev.kind in _RECORDED_ON):
            # each phase change is committed (after the dump it may count: same thread)
            self.journal.save(self.core.mission_record())
        if self.downlink is not None:
            try:
                self.downlink.publish_event(ev.kind, ev.severity, ev.text, **ev.data)
            except Exception as err:
                log.error("event not stored: %s", err)

    def _task_failed(self, name: str, err: BaseException, delay: float) -> None:
        """A supervised task failed: an alarm event (it is restarted after *delay*)."""
        self.task_failures[name] = self.task_failures.get(name, 0) + 1
        now = self._timebase.plant(asyncio.get_running_loop().time())
        self._publish_event(ControlEvent(
            now, EventKind.TASK_RESTARTED, Severity.ALARM,
            f"task {name} failed ({type(err).__name__}: {err}); restarting in {delay:.1f} s",
            {"task": name, "error": type(err).__name__, "restart_in_s": round(delay, 3)}))

    async def _telemetry_task(self) -> None:
        interval = self.config.loop.stats_interval_s
        while True:
            await asyncio.sleep(interval)
            if self.telemetry is not None:
                self.telemetry.publish_all(self.feed)

    # --- results ----------------------------------------------------------------------------
    @property
    def samples_filtered(self) -> int:
        """Channel-samples through the filter chains so far (all sessions)."""
        return self._samples_before + (self.feed.samples_filtered if self.feed else 0)

    def summary(self) -> RunSummary:
        link = link_summary(self.bridge.link.counters()) if self.bridge is not None else {}
        wall = asyncio.get_running_loop().time() - self._started_wall
        return summarize(self.core, self.loop_stats, link,
                         samples_filtered=self.samples_filtered, wall_s=wall,
                         time_scale=self.config.loop.time_scale,
                         cpu_s=time.process_time() - self._cpu0)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():  # the loop task may have been cancelled meanwhile
        fut.set_result(None)
