"""The controller core against an in-process rig, in lockstep simulated time.

``LockstepRunner`` does what ``app.RigController`` does each control period,
without asyncio, a port or a wall clock, so that benchmarks and tests can run
whole missions many times faster than real time and reproducibly:

    rig.advance(period) -> raw sample batches -> SensorFeed (the compiled
    filter chains) -> Measurements -> AutoOperator + ControlCore.step ->
    set-points and commands -> rig.deliver(...)

The rig is anything shaped like ``InProcessRig`` (``sim_hw.lockstep.LockstepRig``
is the one we have): it takes firmware-protocol messages and returns what the
firmware sends. Firmware command results become ``RequestFinished`` the way
the app's command sender makes them (ACCEPTED ends a plain command, DONE a
motion command, REJECTED/FAILED fail either), one control period later.
What is left out is the link itself (framing, retransmission, wall-time
jitter); the real pty path is exercised by the integration tests and the demo.

Time: one clock, plant seconds; ``now_wall`` for command expiry is the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from control.core.auto_operator import AutoOperator
from control.core.config import ControllerConfig
from control.core.measurements import Measurements
from control.core.mission import MissionPlan
from control.core.policy import SiteRules
from control.core.step import (
    ControlCore,
    ControlEvent,
    EstopRequest,
    FirmwareEventSeen,
    FirmwareRequest,
    LinkUp,
    Notice,
    RequestFinished,
    StepInputs,
    StepOutput,
)
from control.core.supervisor import Mode, ModeChanged
from control.runtime.sensor_feed import SensorFeed
from firmware_bridge.messages import (
    Command,
    CommandResult,
    EStop,
    Event,
    FirmwareInfo,
    Message,
    ResultStatus,
    SampleBatch,
    Setpoints,
)

__all__ = ["InProcessRig", "LockstepResult", "LockstepRunner"]


class InProcessRig(Protocol):
    """A rig the runner can step: messages in, messages out, simulated time."""

    @property
    def info(self) -> FirmwareInfo: ...

    @property
    def status(self) -> int: ...

    @property
    def time(self) -> float: ...

    def deliver(self, msg: Message, seq: int = 0) -> None: ...

    def heard(self) -> None: ...

    def advance(self, seconds: float) -> list[Message]: ...


@dataclass(slots=True)
class LockstepResult:
    """How a lockstep run ended."""

    complete: bool  # the mission completed and the rig is idle
    started: float  # plant s when the mission started
    ended: float  # plant s when the run ended
    events: list[ControlEvent | ModeChanged] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.ended - self.started


class LockstepRunner:
    """Steps a ``ControlCore`` against an ``InProcessRig`` (see the module docstring).

    ``observers`` are called after every control step with the runner (a benchmark
    reads ``core``, ``last_measurements`` and ``last_output`` there). ``telemetry``,
    when set, is handed the feed about once a simulated second (the app's telemetry
    task publishes from it: ``TelemetryOut.publish_all``); unset, its rows are dropped.
    ``notify`` passes a notice to the core's next step, as the app does for link
    events (a soak that pulls the simulated cable says ``LinkDown`` and ``LinkUp``)."""

    def __init__(self, config: ControllerConfig, rig: InProcessRig,
                 mission: MissionPlan | None = None, *, operator: AutoOperator | None = None,
                 site_rules: SiteRules | None = None, period_s: float | None = None) -> None:
        self.config = config
        self.rig = rig
        self.core = ControlCore(config, mission, site_rules)
        self.operator = operator if operator is not None else AutoOperator()
        self.period = period_s if period_s is not None else config.control_period_s
        self.feed = SensorFeed(rig.info, {0: config.filters.fast, 1: config.filters.nav}, 1.0)
        self.events: list[ControlEvent | ModeChanged] = []
        self.observers: list[Callable[[LockstepRunner], None]] = []
        self.telemetry: Callable[[SensorFeed], None] | None = None
        self.last_measurements = Measurements()
        self.last_output: StepOutput | None = None
        self.mission_started: float | None = None
        self._notices: list[Notice] = [LinkUp(rig.info.firmware_id,
                                              capabilities=rig.info.capabilities)]
        self._waiting: dict[int, FirmwareRequest] = {}
        self._since_drain = 0.0

    @property
    def now(self) -> float:
        return self.rig.time

    def notify(self, notice: Notice) -> None:
        """For the core's next step."""
        self._notices.append(notice)

    def step(self) -> StepOutput:
        """One control period: advance the rig, filter, decide, command."""
        rig, core = self.rig, self.core
        for msg in rig.advance(self.period):
            self._receive(msg)
        self._drain_telemetry()
        now = rig.time
        m = self.last_measurements = self.feed.measurements(now)
        cmd = self.operator.decide(core, now)
        if cmd is not None:
            core.handle_command(cmd, now, now)
        notices, self._notices = tuple(self._notices), []
        out = core.step(now, self.period, StepInputs(m, rig.status, True, notices))
        self.last_output = out
        self._send(out, now)
        for ev in out.events:
            self.events.append(ev)
            if self.mission_started is None and isinstance(ev, ControlEvent) \
                    and ev.kind == "mission_started":
                self.mission_started = ev.time
        if self.mission_started is None and core.mission_running:
            self.mission_started = now
        for observer in self.observers:
            observer(self)
        return out

    def run(self, *, max_s: float, until_complete: bool = True) -> LockstepResult:
        """Step until the mission is complete and the rig idle (or *max_s* plant s)."""
        start = self.rig.time
        while self.rig.time - start < max_s:
            self.step()
            if until_complete and self.done:
                break
        began = self.mission_started if self.mission_started is not None else start
        return LockstepResult(self.done, began, self.rig.time, self.events)

    @property
    def done(self) -> bool:
        core = self.core
        return (core.mission is not None and core.mission.complete
                and core.mode is Mode.IDLE and not core.busy)

    # --- plumbing -----------------------------------------------------------------------
    def _drain_telemetry(self) -> None:
        """Take the feed's downlink rows about once a second, as the app's telemetry
        task does (published through ``telemetry`` if set: the buffer must not fill)."""
        self._since_drain += self.period
        if self._since_drain >= 1.0:
            self._since_drain = 0.0
            if self.telemetry is not None:
                self.telemetry(self.feed)
            else:
                self.feed.take_telemetry()

    def _receive(self, msg: Message) -> None:
        if isinstance(msg, SampleBatch):
            self.feed.add_batch(msg, self.rig.time)
        elif isinstance(msg, Event):
            self._notices.append(FirmwareEventSeen(msg.code, msg.value, msg.text))
        elif isinstance(msg, CommandResult):
            req = self._waiting.get(msg.command_seq)
            if req is None:
                return
            if msg.status in (ResultStatus.REJECTED, ResultStatus.FAILED):
                reason = f"{msg.reason.name}: {msg.detail}" if msg.detail else msg.reason.name
                self._finish(req, False, reason)
            elif msg.status is ResultStatus.DONE or (
                    msg.status is ResultStatus.ACCEPTED and not req.waits_for_done):
                self._finish(req, True, "")

    def _finish(self, req: FirmwareRequest, ok: bool, reason: str) -> None:
        del self._waiting[req.request_id]
        self._notices.append(RequestFinished(req.request_id, ok, reason))

    def _send(self, out: StepOutput, now: float) -> None:
        rig = self.rig
        link = self.config.link
        fw_us = round(now * 1e6)
        for req in out.requests:
            if isinstance(req, EstopRequest):
                rig.deliver(EStop(0, req.reason[:200]))
        for req in out.requests:
            if isinstance(req, FirmwareRequest):
                self._waiting[req.request_id] = req
                args = (*(float(a) for a in req.args), 0.0, 0.0, 0.0, 0.0)[:4]
                rig.deliver(Command(req.code, fw_us + round(link.command_ttl_wall_s * 1e6),
                                    args), req.request_id)  # type: ignore[arg-type]
        sp = out.setpoints
        if sp is not None and math.isfinite(sp.drum_speed) and math.isfinite(sp.cut_depth):
            rig.deliver(Setpoints(fw_us + round(link.setpoint_ttl_wall_s * 1e6),
                                  sp.drum_speed, sp.cut_depth, sp.enable))
        else:
            rig.heard()
