"""The asyncio controller: the one module that owns the loop, the I/O and the wiring.

Theory of operation
-------------------
``RigController.run()`` opens the firmware ``Bridge`` and runs, in one
``asyncio.TaskGroup``, these named tasks:

* ``firmware-events``: every bridge event. Sample batches go through the
  ``SensorFeed`` filter chains as they arrive (compiled, GIL-free kernels);
  heartbeats update the firmware status; firmware events, command results and
  link changes become ``Notice``s for the next control step.
* ``control-loop``: a fixed-rate loop (``loop.rate_hz`` on the wall clock)
  with deadline-corrected timing: tick *k* is scheduled with ``loop.call_at``
  at ``t0 + k * period``, so lateness never accumulates; missed ticks are
  skipped and counted, never bunched. Each tick: measurements -> pure
  ``ControlCore.step`` -> set-points to the bridge, requests to the command
  sender, events to the downlink; then the systemd watchdog is fed.
* ``firmware-commands``: sends the core's ``FirmwareRequest``s in order and
  reports each result back as ``RequestFinished`` (motion commands complete on
  the firmware's DONE, in their own task, so they do not block the queue).
  E-stops bypass the queue.
* ``ground-commands`` (with a downlink): raw uplink payloads ->
  ``CommandAuthenticator`` -> ``parse_command`` -> ``ControlCore.handle_command``
  -> ack on the ack topic.
* ``telemetry``: state and statistics to the downlink every
  ``loop.stats_interval_s``.

Time: ``loop.time()`` is the only clock read here (plus ``time.time`` for
command expiry, injected as ``wall_clock``); ``control.timebase`` converts to
plant time. The app makes no decisions: the core does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge.bridge import Bridge, BridgeConfig, Connected, Disconnected
from firmware_bridge.errors import BridgeError, CommandRejectedError, LinkDownError
from firmware_bridge.link import MessageReceived, PeerReset, SampleGap
from firmware_bridge.messages import (
    CommandCode,
    CommandResult,
    Event,
    Heartbeat,
    ResultStatus,
    SampleBatch,
)

from .commands import CommandAck, parse_command
from .config import ControllerConfig
from .errors import CommandFormatError, RigConnectionError
from .mission import MissionPlan
from .operator import AutoOperator
from .policy import CommandAuthenticator, CommandRefused, SiteRules, TrustedLink
from .sd_notify import SdNotifier
from .sensor_feed import SensorFeed
from .step import (
    ControlCore,
    ControlEvent,
    EstopRequest,
    FirmwareEventSeen,
    FirmwareRequest,
    LinkDown,
    LinkUp,
    Notice,
    RequestFinished,
    StepInputs,
)
from .supervisor import Mode, ModeChanged
from .timebase import TimeBase

log = logging.getLogger(__name__)

MODE_INDEX = {m: i for i, m in enumerate(Mode)}


@dataclass(slots=True)
class RunRecord:
    """What the run looked like, for the summary and the plot (one row per tick)."""

    columns: tuple[str, ...] = ("t", "mode", "drum_current", "drum_speed", "cut_depth",
                                "bucket_kg", "load_cell_kg", "model_kg", "tilt", "motor_temp",
                                "battery_soc", "x", "y", "depth_cmd", "speed_cmd")
    rows: list[tuple[float, ...]] = field(default_factory=list)
    events: list[tuple[float, str, str]] = field(default_factory=list)  # (t, severity, text)
    every: int = 1
    _n: int = 0

    def add(self, row: tuple[float, ...]) -> None:
        self._n += 1
        if self._n % self.every == 0:
            self.rows.append(row)

    def array(self) -> np.ndarray:
        return np.array(self.rows, dtype=float).reshape(-1, len(self.columns))


@dataclass(slots=True)
class LoopStats:
    lateness: list[float] = field(default_factory=list)  # s, per tick
    compute: list[float] = field(default_factory=list)  # s, per tick
    latency: list[float] = field(default_factory=list)  # sensor arrival -> set-points sent
    ticks: int = 0
    missed: int = 0

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else math.nan

    def summary(self) -> dict[str, float]:
        ms = 1e3
        return {
            "ticks": self.ticks, "missed": self.missed,
            "lateness_p50_ms": self.pct(self.lateness, 50) * ms,
            "lateness_p99_ms": self.pct(self.lateness, 99) * ms,
            "lateness_max_ms": (max(self.lateness) if self.lateness else math.nan) * ms,
            "compute_p99_ms": self.pct(self.compute, 99) * ms,
            "latency_p50_ms": self.pct(self.latency, 50) * ms,
            "latency_p99_ms": self.pct(self.latency, 99) * ms,
        }


@dataclass(frozen=True, slots=True)
class RunSummary:
    mission: dict[str, Any] | None
    mission_complete: bool
    final_mode: str
    mass_dumped_kg: float
    cycles: int
    stalls: int
    obstacles: int
    interlock_trips: int
    link_losses: int
    estops: int
    faults_handled: int
    commands_accepted: int
    commands_rejected: int
    energy_j: float
    samples_filtered: int
    wall_s: float
    plant_s: float
    cpu_s: float
    loop: dict[str, float]
    link: dict[str, int]


class RigController:
    def __init__(
        self,
        config: ControllerConfig,
        port: str,
        mission: MissionPlan | None = None,
        *,
        downlink: Any = None,
        authenticator: CommandAuthenticator | None = None,
        site_rules: SiteRules | None = None,
        ledger: Any = None,
        operator: AutoOperator | None = None,
        notifier: SdNotifier | None = None,
        wall_clock: Callable[[], float] = time.time,
        record_every: int = 1,
    ) -> None:
        self.config = config
        self.port = port
        self.core = ControlCore(config, mission, site_rules)
        self.downlink = downlink
        self.authenticator: CommandAuthenticator = authenticator or TrustedLink()
        self.ledger = ledger  # control.security.Ledger: one signed entry per dump
        self.ledger_entries: list[Any] = []
        self._ledger_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._energy_at_dump = 0.0
        self._last_zone: Any = None  # the safety zone last published
        self.operator = operator
        self.notifier = notifier or SdNotifier({})
        self.wall_clock = wall_clock
        self.record = RunRecord(every=max(1, record_every))
        self.loop_stats = LoopStats()
        self.bridge: Bridge | None = None
        self.feed: SensorFeed | None = None
        self.acks: list[CommandAck] = []
        self.firmware_events: list[Event] = []
        self._notices: list[Notice] = []
        self._fw_status: int | None = None
        self._requests: asyncio.Queue[FirmwareRequest] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._done = asyncio.Event()
        self._timebase = TimeBase(config.loop.time_scale)
        self._scale_checked = False
        self._samples_before = 0
        self._started_wall = 0.0
        self._cpu0 = 0.0
        self.mode_listeners: list[Callable[[ModeChanged], None]] = []

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
        bridge = Bridge(self.port, BridgeConfig(
            connect_timeout=self.config.link.connect_timeout_wall_s))
        try:
            await bridge.__aenter__()
        except BridgeError as err:
            raise RigConnectionError(f"cannot reach the firmware on {self.port}: {err}") from err
        self.bridge = bridge
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._events_task(bridge), name="firmware-events"),
                    tg.create_task(self._command_task(bridge, tg), name="firmware-commands"),
                    tg.create_task(self._telemetry_task(), name="telemetry"),
                    tg.create_task(self._control_loop(bridge, tg), name="control-loop"),
                    tg.create_task(self._deadline(max_wall_s), name="run-deadline"),
                ]
                if self.downlink is not None:
                    tasks.append(tg.create_task(self._ground_task(), name="ground-commands"))
                await self._done.wait()
                await self._shutdown(bridge)
                for task in tasks:
                    task.cancel()
        finally:
            self.notifier.stopping()
            self.notifier.close()
            await bridge.aclose()
            if self._ledger_pool is not None:  # every dump booked before we return
                await loop.run_in_executor(self._ledger_pool, lambda: None)
                await asyncio.sleep(0)  # let the done-callbacks publish the entries
                self._ledger_pool.shutdown(wait=True)
                self._ledger_pool = None
        return self.summary()

    async def _deadline(self, max_wall_s: float | None) -> None:
        if max_wall_s is None:
            return
        await asyncio.sleep(max_wall_s)
        log.warning("run time limit of %.0f s reached", max_wall_s)
        self._done.set()

    async def _shutdown(self, bridge: Bridge) -> None:
        """Leave the rig stopped: STOP (category 1) and disable, best effort."""
        if not bridge.is_up:
            return
        for code, args in ((CommandCode.STOP, ()), (CommandCode.ENABLE, (0.0,))):
            try:
                await bridge.command(code, args, ttl=self.config.link.command_ttl_wall_s,
                                     timeout=self.config.link.command_timeout_wall_s)
            except BridgeError as err:
                log.warning("shutdown %s: %s", code.name, err)

    # --- tasks ----------------------------------------------------------------------------
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
                self.firmware_events.append(msg)
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
            self._notices.append(LinkUp(ev.info.firmware_id, ev.reconnect))
        elif isinstance(ev, Disconnected):
            if self.feed is not None:
                self.feed.reset_streams()
            self._notices.append(LinkDown(ev.reason))
            while not self._requests.empty():
                self._requests.get_nowait()
        elif isinstance(ev, PeerReset):
            log.warning("firmware reset (boot %d, %s)", ev.notice.boot_id, ev.notice.reason.name)
        elif isinstance(ev, SampleGap):
            log.debug("sample gap on stream %d: %d batches", ev.stream_id, ev.missing)

    async def _command_task(self, bridge: Bridge, tg: asyncio.TaskGroup) -> None:
        cfg = self.config.link
        while True:
            req = await self._requests.get()
            if req.waits_for_done:
                task = tg.create_task(self._motion(bridge, req), name=f"motion-{req.code.name}")
                await asyncio.sleep(0)  # let it send before anything queued after it
                del task
                continue
            try:
                await bridge.command(req.code, req.args, ttl=cfg.command_ttl_wall_s,
                                     until=ResultStatus.ACCEPTED,
                                     timeout=cfg.command_timeout_wall_s)
                self._notices.append(RequestFinished(req.request_id, True))
            except BridgeError as err:
                self._notices.append(RequestFinished(req.request_id, False, _reason(err)))

    async def _motion(self, bridge: Bridge, req: FirmwareRequest) -> None:
        cfg = self.config.link
        try:
            await bridge.command(req.code, req.args, ttl=cfg.command_ttl_wall_s,
                                 until=ResultStatus.DONE, timeout=cfg.motion_timeout_wall_s)
            self._notices.append(RequestFinished(req.request_id, True))
        except BridgeError as err:
            self._notices.append(RequestFinished(req.request_id, False, _reason(err)))

    async def _estop(self, bridge: Bridge, req: EstopRequest) -> None:
        try:
            await bridge.estop(req.reason[:200])
        except BridgeError as err:
            # the firmware watchdog stops the motors without us; the core re-asserts
            # the e-stop on the next handshake
            log.error("e-stop not delivered (%s): %s", req.reason, err)

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
            stats.lateness.append(woke - deadline)
            dt_plant = self._timebase.plant_interval(min(woke - prev, 5 * period))
            prev = woke
            self._tick(bridge, tg, woke, dt_plant)
            stats.compute.append(loop.time() - woke)
            stats.ticks += 1
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
        m = feed.measurements(woke) if feed is not None else core.last.__class__()
        notices, self._notices = tuple(self._notices), []
        out = core.step(now, dt, StepInputs(m, self._fw_status, self._ground_ok(woke), notices))
        self._fw_status = None
        if out.setpoints is not None and bridge.is_up:
            sp = out.setpoints
            try:
                bridge.send_setpoints(sp.drum_speed, sp.cut_depth, enable=sp.enable,
                                      ttl=self.config.link.setpoint_ttl_wall_s)
                if feed is not None:
                    self.loop_stats.latency.append(asyncio.get_running_loop().time()
                                                   - feed.newest_arrival())
            except (LinkDownError, BridgeError) as err:
                log.debug("set-points not sent: %s", err)
        for req in out.requests:
            if isinstance(req, EstopRequest):
                tg.create_task(self._estop(bridge, req), name="estop")
            else:
                self._requests.put_nowait(req)
        for ev in out.events:
            self._publish_event(ev)
        if feed is not None and not self._scale_checked:
            k = feed.measured_time_scale()
            if k is not None:
                self._scale_checked = True
                want = self.config.loop.time_scale
                if abs(k - want) > 0.2 * want:
                    log.warning("firmware sample clock runs %.2fx wall time but loop.time_scale"
                                " is %.2f: plant-time control is wrong", k, want)
        sp = core.last_setpoints
        est = core.mass.last
        self.record.add((now, MODE_INDEX[core.mode], m.drum_current, m.drum_speed, m.cut_depth,
                         est.estimate_kg, est.load_cell_kg, est.model_kg, m.tilt, m.motor_temp,
                         m.battery_soc, m.x, m.y,
                         sp.cut_depth if sp else math.nan, sp.drum_speed if sp else math.nan))
        if self._until_complete and core.mission is not None and core.mission.complete \
                and core.mode is Mode.IDLE and not core.busy:
            self._done.set()

    def _ground_ok(self, now: float) -> bool:
        dl = self.downlink
        if dl is None or not self.config.ground.link_required \
                or getattr(dl.config, "broker_url", None) is None:
            return True
        # the downlink's verdict: the broker answered within its link_loss_s (set from
        # ground.link_loss_wall_s); a connected flag alone misses a silent broker
        return dl.link_ok(now)

    # --- ground ---------------------------------------------------------------------------
    async def _ground_task(self) -> None:
        async for raw in self.downlink.commands():
            self.handle_ground_payload(raw.payload)

    def handle_ground_payload(self, payload: bytes) -> CommandAck:
        loop = asyncio.get_running_loop()
        now_wall = self.wall_clock()
        cid = ""
        try:
            body = self.authenticator.authenticate(payload, now_wall)
            cmd = parse_command(body)
        except CommandRefused as err:
            ack = CommandAck(err.command_id or _guess_id(payload), False, err.reason)
            # every security rejection is heard: a warning event besides the ack
            fields = err.event_fields()
            self._publish_event(ControlEvent(
                self._timebase.plant(loop.time()), fields.pop("kind"), "warning",
                f"command {ack.command_id} refused: {err.reason}", fields))
        except CommandFormatError as err:
            ack = CommandAck(cid or _guess_id(payload), False, str(err))
        else:
            ack = self.core.handle_command(cmd, self._timebase.plant(loop.time()), now_wall)
        self._ack(ack)
        return ack

    def _ack(self, ack: CommandAck) -> None:
        self.acks.append(ack)
        log.info("command %s %s%s", ack.command_id, "accepted" if ack.accepted else "rejected",
                 f": {ack.reason}" if ack.reason else "")
        if self.downlink is not None:
            try:
                self.downlink.publish_ack(ack.command_id, ack.accepted, ack.reason)
            except Exception as err:  # the downlink must never stop the controller
                log.error("ack not stored: %s", err)

    def _publish_event(self, ev: ControlEvent | ModeChanged) -> None:
        if isinstance(ev, ModeChanged):
            text = f"{ev.previous.value} -> {ev.mode.value}: {ev.reason}"
            self.record.events.append((ev.time, "info", text))
            for listener in self.mode_listeners:
                listener(ev)
            kind, severity, data = "mode_changed", "info", {
                "from": ev.previous.value, "to": ev.mode.value, "trigger": ev.trigger.value}
        else:
            text, kind, severity, data = ev.text, ev.kind, ev.severity, ev.data
            self.record.events.append((ev.time, severity, text))
            if kind == "bucket_dumped" and self.ledger is not None:
                self._book_dump(data)
        if self.downlink is not None:
            try:
                self.downlink.publish_event(kind, severity, text, **data)
            except Exception as err:
                log.error("event not stored: %s", err)

    def _book_dump(self, data: dict[str, Any]) -> None:
        """Append a signed ledger entry for a dump; the fsync runs off the loop, in order."""
        from .security import DumpRecord

        energy = self.core.mass.energy_j
        record = DumpRecord(time=self.wall_clock(), x=float(data.get("x", self.core.last.x)),
                            y=float(data.get("y", self.core.last.y)),
                            mass_kg=float(data.get("mass_kg", 0.0)),
                            energy_j=max(0.0, energy - self._energy_at_dump),
                            cycle_id=int(data.get("cycle", 0)), site=str(data.get("site", "")))
        self._energy_at_dump = energy
        if self._ledger_pool is None:
            self._ledger_pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="ledger")
        fut = asyncio.get_running_loop().run_in_executor(self._ledger_pool,
                                                         self.ledger.append, record)
        fut.add_done_callback(self._ledger_written)

    def _ledger_written(self, fut: asyncio.Future[Any]) -> None:
        try:
            entry = fut.result()
        except Exception as err:  # the ledger refusing a record is an alarm, not a crash
            log.error("ledger entry not written: %s", err)
            if self.downlink is not None:
                with contextlib.suppress(Exception):
                    self.downlink.publish_event("ledger_error", "alarm", str(err))
            return
        self.ledger_entries.append(entry)
        if self.downlink is not None:
            try:
                self.downlink.publish_ledger(entry.record())
            except Exception as err:
                log.error("ledger entry not stored in the outbox: %s", err)

    async def _telemetry_task(self) -> None:
        interval = self.config.loop.stats_interval_s
        while True:
            await asyncio.sleep(interval)
            if self.downlink is None:
                continue
            # each kind on its own: a failure of one never starves the others
            for what, publish in (("state", self._publish_state),
                                  ("telemetry", self._publish_samples),
                                  ("public topics", self._publish_public)):
                try:
                    publish()
                except Exception as err:  # the downlink must never stop the controller
                    log.error("%s not stored: %s", what, err)

    def _publish_state(self) -> None:
        self.downlink.publish_state(self.core.snapshot())

    def _publish_samples(self) -> None:
        """Filtered (decimated) rows and raw-sample window statistics: what rig-ground
        watch/plot/report show (docs/telemetry.md)."""
        if self.feed is None:
            return
        blocks, stats = self.feed.take_telemetry()
        for b in blocks:
            self.downlink.publish_batch(b.stream, b.channels, b.units, b.t0_s, b.period_s,
                                        b.rows)
        for w in stats:
            self.downlink.publish_stats(w.stream, w.channels, w.units, w.t0_s, w.window_s,
                                        w.count, w.values)

    def _publish_public(self) -> None:
        """Issue 8's public topics, when a site plan is configured: the rig's safety zone
        (retained, only when it changes) and the redacted feed (retained, every period)."""
        rules = getattr(self.core.site_rules, "rules", None)
        totals = getattr(self.core.site_rules, "totals", None)
        if rules is None:
            return
        from .security import (
            public_feed_payload,
            public_topics,
            safety_zone_for,
            safety_zone_payload,
        )

        g = self.config.ground
        topics = public_topics(g.topic_prefix, g.rig_id)
        x, y, now = self.core.last.x, self.core.last.y, self.wall_clock()
        zone = safety_zone_for(rules, g.rig_id, x, y)
        if zone is not None and zone != self._last_zone:
            self._last_zone = zone
            self.downlink.publish_public("safety_zone", topics["safety_zone"],
                                         safety_zone_payload(zone, now))
        site = rules.site_at(x, y) if math.isfinite(x) and math.isfinite(y) else None
        extracted = dict(totals()) if callable(totals) else {}
        self.downlink.publish_public("feed", topics["feed"], public_feed_payload(
            g.rig_id, now, self.core.mode.value, x, y, site.name if site else None, extracted))

    # --- results ----------------------------------------------------------------------------
    @property
    def samples_filtered(self) -> int:
        """Channel-samples through the filter chains so far (all sessions)."""
        return self._samples_before + (self.feed.samples_filtered if self.feed else 0)

    def summary(self) -> RunSummary:
        core, st = self.core, self.core.stats
        loop = asyncio.get_running_loop()
        link: dict[str, int] = {}
        if self.bridge is not None:
            c = self.bridge.link.counters()
            link = {"crc_errors": c.crc_errors, "framing_errors": c.framing_errors,
                    "retransmits": c.retransmits, "samples_lost": c.samples_lost,
                    "links_lost": c.links_lost, "frames_rx": c.frames_rx}
        wall = loop.time() - self._started_wall
        return RunSummary(
            mission=core.mission.as_dict() if core.mission else None,
            mission_complete=bool(core.mission and core.mission.complete),
            final_mode=core.mode.value, mass_dumped_kg=st.dumped_kg, cycles=st.cycles,
            stalls=st.stalls, obstacles=st.obstacles, interlock_trips=st.interlock_trips,
            link_losses=st.link_losses, estops=st.estops, faults_handled=st.faults_handled,
            commands_accepted=st.commands_accepted, commands_rejected=st.commands_rejected,
            energy_j=core.mass.energy_j,
            samples_filtered=self.samples_filtered,
            wall_s=wall, plant_s=wall * self.config.loop.time_scale,
            cpu_s=time.process_time() - self._cpu0, loop=self.loop_stats.summary(), link=link)


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():  # the loop task may have been cancelled meanwhile
        fut.set_result(None)


def _reason(err: Exception) -> str:
    if isinstance(err, CommandRejectedError) and err.reason:
        return f"{err.reason}: {err}"
    return str(err) or type(err).__name__


def _guess_id(payload: bytes) -> str:
    """Best-effort command id of a payload that failed to parse (for the rejection ack)."""
    import json

    with contextlib.suppress(Exception):
        obj = json.loads(payload)
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            return obj["id"][:128]
    return "?"


__all__ = ["LoopStats", "RigController", "RunRecord", "RunSummary"]
