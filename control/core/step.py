"""The control step: (state, filtered inputs, now) -> (set-points, requests, events).

Theory of operation
-------------------
``ControlCore`` holds the controller's whole state (supervisor, strategy,
interlocks, mass estimator, mission progress) and is advanced only by

* ``step(now, dt, inputs)`` once per control period, with the filtered
  ``Measurements``, the firmware status bits, whether the ground link is
  healthy, and the ``Notice``s that arrived since the previous step (link up
  or down, firmware events, results of requests it made);
* ``apply_command(cmd, now)`` for a ground command the command gate admitted
  (``control.security.command_intake``: decoded, authenticated, on time), which returns
  the ``CommandAck`` at once; ``handle_command(cmd, now, now_wall)`` checks the
  timing first (the local operator's commands); ``command_refused(...)`` counts
  and reports a command the gate rejected.

It never does I/O and never reads a clock. What it wants done comes out of ``step`` as a
``StepOutput``: the set-points to send now (or ``None``: send nothing), ``FirmwareRequest``s
(commands for the firmware, each with an id the app echoes back in ``RequestFinished``), an
``EstopRequest`` (sent ahead of everything) and ``ControlEvent``s for the ground and the operator.

Order inside a step: notices -> interlocks (always win) -> mission executor and strategy ->
set-points. Set-points are produced only while the mode is powered *and* the firmware has accepted
ENABLE *and* the sensor data is fresh: nothing stale ever moves the rig. ``now`` and ``dt`` are
plant seconds (``control.runtime.timebase``); ``now_wall`` (command expiry) is the wall clock.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Mapping
from dataclasses import replace

from firmware_bridge.messages import CommandCode, EventCode, Status
from telemetry.contract.json_fields import JsonValue
from telemetry.contract.rig_state import RigState

from .command_timing import timing_verdict
from .commands import (
    CommandAck,
    CommandContext,
    CommandName,
    GroundCommand,
    check_command,
    check_param,
)
from .config import ControllerConfig
from .drive_overlap import Leg, leg_setpoint
from .events import ControlEvent, EventKind, Severity
from .interlocks import Interlocks, Reaction
from .mass_estimator import MassEstimator
from .measurements import Measurements
from .mission import MissionPlan, MissionProgress
from .overlap_sequence import OverlapSteps
from .policy import NoSiteRules, SiteRules
from .power_strategy import PowerLimitedStrategy
from .resume_steps import ResumeSteps
from .run_stats import RunStats, count_cause
from .state_message import command_context, state_message
from .state_message import rounded as _r
from .step_messages import (
    EstopRequest,
    FirmwareEventSeen,
    FirmwareRequest,
    LinkDown,
    LinkOpened,
    LinkUp,
    Notice,
    RequestFinished,
    RequestPurpose,
    SetpointCommand,
    StepInputs,
    StepOutput,
)
from .strategy import DigPhase, make_strategy
from .supervisor import POWERED, Mode, ModeChanged, Supervisor, Trigger

log = logging.getLogger(__name__)

#: Requests that move the rig: a failure is a fault while powered.
# plain ints: IntFlag arithmetic costs a call per tick
_ESTOP_BIT, _MOTORS_BIT = int(Status.ESTOP), int(Status.MOTORS_ENABLED)
_MOTION_PURPOSES = frozenset({RequestPurpose.DRIVE, RequestPurpose.STOW, RequestPurpose.DUMP})

__all__ = [
    "ControlCore", "ControlEvent", "EstopRequest", "FirmwareEventSeen", "FirmwareRequest",
    "LinkDown", "LinkOpened", "LinkUp", "Notice", "RequestFinished", "RequestPurpose",
    "RunStats", "SetpointCommand", "StepInputs", "StepOutput",
]


class ControlCore(OverlapSteps, ResumeSteps):
    def __init__(self, config: ControllerConfig, mission: MissionPlan | None = None,
                 site_rules: SiteRules | None = None) -> None:
        self.config = config
        self.supervisor = Supervisor()
        self.strategy = make_strategy(config.strategy)
        self.interlocks = Interlocks(config.interlocks)
        self.mass = MassEstimator(config.mass)
        self.mission = MissionProgress(mission) if mission is not None else None
        self.site_rules: SiteRules = site_rules or NoSiteRules()
        self.stats = RunStats()
        self.mission_running = False
        self.firmware_capabilities = 0  # from the last LinkUp (FIRMWARE_INFO)
        self.mission_declared = False  # MISSION_COMPLETED sent (once)
        self.motors_enabled = False
        self.stowed = False
        self.carrying = False
        self.manual_dump = False
        self.last = Measurements()
        self.last_setpoints: SetpointCommand | None = None
        self.firmware_status = 0
        self._ids = itertools.count(1)
        self._pending: dict[int, RequestPurpose] = {}  # request id -> why it was sent
        self._queued: list[FirmwareRequest | EstopRequest] = []
        self._events: list[ControlEvent | ModeChanged] = []
        self._firmware_stall = False
        self._now = 0.0
        self._dig_site: int | None = None
        self._estop_reset_at = -math.inf
        self._hold_depth = config.strategy.stow_depth_m
        self._cell_told = False
        self._leg: Leg | None = None  # the running drive moves the arm (drive_overlap)

    # --- queries ------------------------------------------------------------------------
    @property
    def mode(self) -> Mode:
        return self.supervisor.mode

    def view(self) -> CommandContext:
        return command_context(self.mode, self.last.cut_depth, self.interlocks.active,
                               self.mission, self.mission_running)

    def snapshot(self) -> RigState:
        """The state message for the ground and the terminal (``control.core.state_message``)."""
        return state_message(self.mode, self.supervisor.since, self.strategy.phase,
                             mission_running=self.mission_running,
                             motors_enabled=self.motors_enabled, m=self.last,
                             est=self.mass.last, active=self.interlocks.active, stats=self.stats,
                             mission=self.mission, resumed=self.resumed, config=self.config)

    # --- ground commands -------------------------------------------------------------------
    def handle_command(self, cmd: GroundCommand, now: float, now_wall: float) -> CommandAck:
        """Check the timing of a command that no gate checked (the local operator's), then
        ``apply_command``; the ack says accepted or why not."""
        verdict = timing_verdict(cmd.issued_at, cmd.expires_at, now_wall,
                                 self.config.ground.command_timing)
        if verdict is not None:
            return self._reject(cmd, now, verdict[1])
        return self.apply_command(cmd, now)

    def command_refused(self, command_id: str, reason: str, now: float,
                        data: Mapping[str, JsonValue] | None = None) -> CommandAck:
        """Count and report a ground command the gate refused; ``data`` (the rejection's
        fields) goes with the ``command_rejected`` event, ``reason`` into the ack."""
        self.stats.commands_rejected += 1
        self._events.append(ControlEvent(
            now, EventKind.COMMAND_REJECTED, Severity.WARNING,
            f"command {command_id} rejected: {reason}",
            {**(data or {}), "command_id": command_id}))
        log.info("command_rejected: %s (%s)", command_id, reason)
        return CommandAck(command_id, False, reason)

    def take_events(self) -> tuple[ControlEvent | ModeChanged, ...]:
        """Events raised between steps (a command refused or applied), for the app to
        publish at once instead of with the next step's output."""
        out = tuple(self._events)
        self._events.clear()
        return out

    def apply_command(self, cmd: GroundCommand, now: float) -> CommandAck:
        """Validate an admitted command against the rig's state and apply it."""
        reason = check_command(cmd, self.view())
        if reason is None and cmd.name in (CommandName.ARM, CommandName.START):
            reason = self.site_rules.refuse_arm(self.last.x, self.last.y)
        if reason is not None:
            return self._reject(cmd, now, reason)
        self.stats.commands_accepted += 1
        why = f"{cmd.source} command {cmd.command_id}"
        n = cmd.name
        if n is CommandName.ARM:
            self._arm(now, why)
        elif n is CommandName.DISARM:
            self._fire(Trigger.DISARM, now, why)
            self._request(CommandCode.ENABLE, (0.0,), RequestPurpose.DISABLE)
            self.motors_enabled = False
        elif n is CommandName.START:
            self.mission_running = True
            self._event(now, EventKind.MISSION_STARTED, Severity.INFO,
                        f"mission started by {why}")
        elif n is CommandName.STOP:
            self.mission_running = False
            self.manual_dump = False
            if self.mode in POWERED:
                self._stop(Trigger.STOP, now, why)
        elif n is CommandName.DUMP:
            self.manual_dump = True
            self.carrying = True
        elif n is CommandName.ESTOP:
            self._estop(now, f"e-stop by {why}")
        elif n is CommandName.RESET_ESTOP:
            self._request(CommandCode.RESET_ESTOP, (), RequestPurpose.RESET_ESTOP)
        elif n is CommandName.CLEAR_FAULT:
            self._fire(Trigger.CLEAR_FAULT, now, why)
        elif n is CommandName.SET_PARAM:
            self._set_param(cmd, now, why)
        elif n is CommandName.NEW_MISSION:
            self._new_mission(now, why)
        return CommandAck(cmd.command_id, True, "")

    def _reject(self, cmd: GroundCommand, now: float, reason: str) -> CommandAck:
        self.stats.commands_rejected += 1
        self._event(now, EventKind.COMMAND_REJECTED, Severity.WARNING,
                    f"{cmd.name.value} ({cmd.command_id}) rejected: {reason}",
                    command_id=cmd.command_id)
        return CommandAck(cmd.command_id, False, reason)

    def _set_param(self, cmd: GroundCommand, now: float, why: str) -> None:
        checked = check_param(cmd.args)
        assert not isinstance(checked, str)  # check_command refused it otherwise
        spec, value = checked
        section = getattr(self.config, spec.section)
        value_t: float | int = int(value) if isinstance(getattr(section, spec.key), int) \
            else value
        self.config = replace(self.config, **{spec.section: replace(section,
                                                                    **{spec.key: value_t})})
        self.strategy.config = self.config.strategy
        self._event(now, EventKind.PARAM_CHANGED, Severity.INFO,
                    f"{spec.key} = {value_t} ({why})")

    # --- the step ---------------------------------------------------------------------------
    def step(self, now: float, dt: float, inputs: StepInputs) -> StepOutput:
        self._now = now
        m = inputs.measurements
        self.last = m
        for notice in inputs.notices:
            self._on_notice(now, notice)
        if inputs.firmware_status is not None:
            self.firmware_status = inputs.firmware_status
            # a heartbeat sent before an e-stop reset may arrive after its result
            settled = now - self._estop_reset_at > 0.3 * self.config.loop.time_scale
            if inputs.firmware_status & _ESTOP_BIT and settled and self.mode not in (
                    Mode.ESTOP, Mode.DISCONNECTED, Mode.HANDSHAKING):
                self._estop(now, "firmware reports its e-stop latched", tell_firmware=False)

        cutting = self.mode is Mode.DIGGING and self.strategy.phase is DigPhase.CUTTING
        est = self.mass.update(now, dt, m, cutting)
        if not self.recovered:  # after a start: read the rig before the mission goes on
            self._recover_when_settled(now, m, est)
        if not est.load_cell_ok and not self._cell_told:
            self._cell_told = True
            self.stats.faults_handled += 1
            self._event(now, EventKind.LOAD_CELL_DISTRUSTED, Severity.WARNING,
                        f"{self.mass.fault_reason}; using the energy model")

        driven = self.last_setpoints if self.firmware_status & _MOTORS_BIT else None  # reached
        report = self.interlocks.update(now, dt, m, inputs.ground_link_ok, driven)
        for trip in report.asserted:
            if self.mode in POWERED:
                self.stats.interlock_trips += 1
                count_cause(self.stats.trips_by_cause, trip.name)
            self._event(now, EventKind.INTERLOCK_TRIPPED, Severity.CRITICAL if trip.reaction is
                        Reaction.IMMEDIATE_STOP else Severity.ALARM, trip.reason, name=trip.name,
                        reaction=trip.reaction.value, value=_r(trip.value),
                        threshold=trip.threshold)
        for name in report.cleared:
            self._event(now, EventKind.INTERLOCK_CLEARED, Severity.INFO, f"{name}: cause gone",
                        name=name)
        escalate = (self.mode is not Mode.ESTOP and self.supervisor.can(Trigger.ESTOP)
                    and any(t.reaction is Reaction.IMMEDIATE_STOP for t in report.asserted))
        if escalate and self.mode not in POWERED:
            # the strongest reaction wins: an immediate-stop cause appearing after a
            # controlled stop (a tilt still growing, say) still latches the e-stop
            self.stats.faults_handled += 1
            self._estop(now, report.summary())
        elif self.mode in POWERED and report.reaction is not None:
            self.stats.faults_handled += 1
            if report.reaction is Reaction.IMMEDIATE_STOP:
                self._estop(now, report.summary())
            else:
                self._stop(Trigger.FAULT, now, report.summary())

        setpoints: SetpointCommand | None = None
        if self.mode in POWERED:
            setpoints = self._run_mode(now, dt, m)
        fresh = m.age <= self.config.interlocks.sensor_stale_s
        if setpoints is not None and not (self.motors_enabled and fresh
                                          and self.mode in POWERED):
            setpoints = None
        self.last_setpoints = setpoints
        out = StepOutput(setpoints, tuple(self._queued), tuple(self._events))
        self._queued.clear()
        self._events.clear()
        self._firmware_stall = False
        return out

    # --- mode behaviour ----------------------------------------------------------------------
    def _run_mode(self, now: float, dt: float, m: Measurements) -> SetpointCommand | None:
        hold = SetpointCommand(0.0, self._hold_depth)
        mode = self.mode
        if mode is Mode.DIGGING:
            return self._dig(now, dt, m)
        if mode is Mode.DRIVING and self._leg is not None:
            if self._dump_on_arrival(now, m):
                return SetpointCommand(0.0, self.config.strategy.stow_depth_m)
            return leg_setpoint(self.config.strategy, self._leg, m)
        if mode is Mode.FULL:
            if self._drive_off_loaded(now, m):
                return SetpointCommand(0.0, self.config.strategy.stow_depth_m)
            self._fire(Trigger.STOW, now, "stow the arm to carry the load")
            self._request(CommandCode.STOW, (), RequestPurpose.STOW)
            return hold
        if mode is Mode.ARMED and self.motors_enabled and not self.busy and self.recovered:
            self._next_action(now, m)
        return hold

    @property
    def busy(self) -> bool:
        """A firmware request is in flight."""
        return bool(self._pending)

    def _next_action(self, now: float, m: Measurements) -> None:
        """ARMED and nothing in flight: decide what the rig does next."""
        plan = self.mission.plan if self.mission else None
        if self.carrying:
            if not self.stowed:
                self._fire(Trigger.STOW, now, "stow the arm before dumping")
                self._request(CommandCode.STOW, (), RequestPurpose.STOW)
                return
            if self.manual_dump or plan is None or self._at(m, plan.dump_x, plan.dump_y,
                                                            plan.arrive_tolerance_m):
                self._fire(Trigger.DUMP, now, "empty the bucket" + (
                    " (ground request)" if self.manual_dump else " at the dump site"))
                self._request(CommandCode.DUMP, (), RequestPurpose.DUMP)
                self.mass.dump_started()
                return
            if self.mission_running:
                self._drive(now, plan.dump_x, plan.dump_y, plan.drive_speed_m_s, "dump site",
                            to_dig=False)
            return
        if self.mission is None or plan is None:
            return
        site = self.mission.current
        if site is None or not self.mission_running:
            if site is None and not self.mission_declared:  # even if a stop cleared running
                self._complete(now)
            return
        if site.cycles >= site.site.max_cycles:
            site.abandoned = f"cycle budget of {site.site.max_cycles} digs exhausted"
            self._event(now, EventKind.SITE_ABANDONED, Severity.WARNING, f"site {site.site.name}: "
                        f"{site.abandoned}", site=site.site.name)
            return
        if not self._at(m, site.site.x, site.site.y, plan.arrive_tolerance_m):
            if not self.stowed and not m.cut_depth <= 0.0:
                # a dig cut short leaves the drum in the soil: the firmware refuses to drive
                self._fire(Trigger.STOW, now, f"lift the drum out of the soil "
                                              f"({_r(m.cut_depth)} m) before driving")
                self._request(CommandCode.STOW, (), RequestPurpose.STOW)
                return
            self._drive(now, site.site.x, site.site.y, plan.drive_speed_m_s,
                        f"site {site.site.name}", to_dig=True)
            return
        refusal = self.site_rules.refuse_dig(m.x, m.y, self.stats.dumped_kg)
        if refusal is not None:
            site.abandoned = refusal
            self._event(now, EventKind.SITE_ABANDONED, Severity.WARNING,
                        f"site {site.site.name}: {refusal}", site=site.site.name)
            return
        site.cycles += 1
        self._dig_site = self.mission.sites.index(site)
        self.stowed = False
        self.strategy.reset(now, m.cut_depth)
        self._fire(Trigger.DIG, now, f"dig cycle {site.cycles} at site {site.site.name} "
                                     f"({site.delivered_kg:.1f}/{site.site.target_kg} kg)")

    def _dig(self, now: float, dt: float, m: Measurements) -> SetpointCommand:
        load = self.mass.last.estimate_kg
        site = self.mission.sites[self._dig_site] if (self.mission is not None and
                                                      self._dig_site is not None) else None
        lifter = self.strategy if self.overlap and isinstance(
            self.strategy, PowerLimitedStrategy) else None
        out = self.strategy.update(now, dt, m, load, self._firmware_stall)
        if out.stalled:
            self.stats.stalls += 1
            count_cause(self.stats.stalls_by_cause,
                        "firmware" if self._firmware_stall else "speed_drop")
            self.stats.faults_handled += 1
            self._event(now, EventKind.STALL_DETECTED, Severity.WARNING, out.note or "drum stall",
                        stalls=self.strategy.stalls)
        finished = ""
        if out.obstacle:
            self.stats.obstacles += 1
            finished = out.note
            if site is not None:
                site.abandoned = out.note
            self._event(now, EventKind.OBSTACLE_REPORTED, Severity.ALARM, out.note,
                        site=site.site.name if site else "", x=_r(m.x), y=_r(m.y))
        elif out.bucket_full:
            finished = f"bucket full ({load:.1f} kg)"
        elif site is not None and (site.delivered_kg + load >= site.site.target_kg
                                   or (lifter is not None and lifter.stopping)):
            # overlap: out of the cut first (drum stopped), so the drive can start at once
            if lifter is None or lifter.stop_and_lift(m):
                finished = f"site {site.site.name} target reached " \
                           f"({site.delivered_kg + load:.1f} kg)"
        speed = out.drum_speed
        if not finished:
            # the permit quota counts the bucket (with a margin): slow down, stop at it
            decision = self.site_rules.dig_decision(
                m.x, m.y, max(load, 0.0) * (1.0 + self.config.mass.quota_margin_fraction))
            if not decision.allowed:
                finished = f"quota: {decision.reason}"
                if site is not None:  # dug to the permit: do not come back
                    site.abandoned = decision.reason
                    self._event(now, EventKind.SITE_ABANDONED, Severity.WARNING,
                                f"site {site.site.name}: {decision.reason}", site=site.site.name)
                self._event(now, EventKind.QUOTA_REACHED, Severity.WARNING, finished,
                            site=decision.site or "", x=_r(m.x), y=_r(m.y))
            else:
                speed *= decision.speed_factor
        if finished:
            self.carrying = load > 0.2
            self._fire(Trigger.BUCKET_FULL, now, finished)
            return SetpointCommand(0.0, self._hold_depth)
        return SetpointCommand(speed, out.cut_depth)

    def _at(self, m: Measurements, x: float, y: float, tol: float) -> bool:
        return math.hypot(m.x - x, m.y - y) <= tol

    def _drive(self, now: float, x: float, y: float, speed: float, what: str,
               to_dig: bool) -> None:
        self._fire(Trigger.DRIVE, now, f"drive to {what} ({x:.1f}, {y:.1f})")
        # arg3 = 1: the arm follows the set-points while driving (docs/protocol.md 4.8)
        follow = (1.0,) if self.overlap else ()
        self._leg = Leg(x, y, to_dig) if self.overlap else None
        self._request(CommandCode.DRIVE_TO, (x, y, speed, *follow), RequestPurpose.DRIVE)

    # --- notices -----------------------------------------------------------------------------
    def _on_notice(self, now: float, n: Notice) -> None:
        if isinstance(n, LinkOpened):
            if self.supervisor.can(Trigger.PORT_OPENED):
                self._fire(Trigger.PORT_OPENED, now, "port open, handshaking")
        elif isinstance(n, LinkUp):
            self.firmware_capabilities = n.capabilities
            self.motors_enabled = False
            self._pending.clear()
            self._fire(Trigger.HANDSHAKEN, now, f"handshake with {n.firmware_id or 'firmware'}"
                       + (" (reconnect: motion needs an explicit re-arm)" if n.reconnect else ""))
            if self.mode is Mode.ESTOP:
                self._queued.append(EstopRequest("re-assert e-stop after reconnect"))
            self._link_up_seen(now, n)
        elif isinstance(n, LinkDown):
            self.stats.link_losses += 1
            if self.mode in POWERED:
                self.stats.faults_handled += 1
            self.motors_enabled = False
            self.mission_running = False
            self._pending.clear()
            if self.supervisor.can(Trigger.LINK_LOST):
                self._fire(Trigger.LINK_LOST, now, f"firmware link lost: {n.reason}")
        elif isinstance(n, RequestFinished):
            self._on_result(now, n)
        elif isinstance(n, FirmwareEventSeen):
            self._on_firmware_event(now, n)

    def _on_result(self, now: float, r: RequestFinished) -> None:
        purpose = self._pending.pop(r.request_id, None)
        if purpose is None:
            return  # superseded (link loss, stop): nothing to do
        if not r.ok:
            self._event(now, EventKind.REQUEST_FAILED, Severity.WARNING,
                        f"{purpose} failed: {r.reason}")
            if purpose is RequestPurpose.ENABLE and self.mode is Mode.ARMED:
                self._fire(Trigger.DISARM, now, f"firmware refused to enable: {r.reason}")
            elif purpose in _MOTION_PURPOSES and self.mode in POWERED:
                if purpose is RequestPurpose.DUMP:
                    self.stowed = False  # stow again before the next attempt
                self.stats.faults_handled += 1
                self._stop(Trigger.FAULT, now, f"{purpose} failed: {r.reason}")
            return
        if purpose is RequestPurpose.ENABLE:
            self.motors_enabled = True
        elif purpose is RequestPurpose.DRIVE and self.mode is Mode.DRIVING:
            self._fire(Trigger.ARRIVED, now, "arrived")
        elif purpose is RequestPurpose.STOW and self.mode is Mode.STOWING:
            self.stowed = True
            self._fire(Trigger.STOWED, now, "arm stowed")
        elif purpose is RequestPurpose.DUMP and self.mode is Mode.DUMPING:
            self._dumped(now)
        elif purpose is RequestPurpose.RESET_ESTOP and self.mode is Mode.ESTOP:
            self._estop_reset_at = now
            self._fire(Trigger.RESET_ESTOP, now, "e-stop reset (motion needs an explicit arm)")

    def _dumped(self, now: float) -> None:
        mass = self.mass.emptied()
        self.carrying = False
        self.manual_dump = False
        self.stats.cycles += 1
        self.stats.dumped_kg += mass
        site_name = ""
        dug_at = (self.last.x, self.last.y)
        site = self.mission.credit(self._dig_site, mass) if self.mission is not None else None
        if site is not None:
            site_name = site.site.name
            dug_at = (site.site.x, site.site.y)
            if site.done and not site.abandoned:
                self._event(now, EventKind.SITE_COMPLETED, Severity.INFO,
                            f"site {site_name}: {site.delivered_kg:.1f} kg in {site.cycles} "
                            f"cycles", site=site_name)
        self._event(now, EventKind.BUCKET_DUMPED, Severity.INFO, f"dumped {mass:.1f} kg"
                    + (f" from site {site_name}" if site_name else ""),
                    mass_kg=round(mass, 3), site=site_name, cycle=self.stats.cycles,
                    x=_r(dug_at[0], 3), y=_r(dug_at[1], 3))
        self._fire(Trigger.DUMPED, now, f"bucket empty ({mass:.1f} kg dumped)")
        if self.mission_running:
            # The operator's arm authorises the whole mission; re-arming here is not a
            # restart after a stop (any stop, fault or link loss clears mission_running).
            self._fire(Trigger.ARM, now, "mission continues")
        elif self.mission is not None and self.mission.complete and not self.mission_declared:
            # a stop (link loss) cleared running while carrying the last load: declare it here
            self._complete(now)

    def _complete(self, now: float) -> None:
        m = self.mission
        assert m is not None
        self.mission_declared = True
        self._event(now, EventKind.MISSION_COMPLETED, Severity.INFO, f"mission {m.plan.name} "
                    f"complete: {m.delivered_kg:.1f} kg in {m.cycles} cycles", **m.as_dict())
        self._stop(Trigger.STOP, now, "mission complete")

    def _on_firmware_event(self, now: float, e: FirmwareEventSeen) -> None:
        try:
            code = EventCode(e.code)
        except ValueError:
            return
        if code is EventCode.STALL and self.mode is Mode.DIGGING:
            self._firmware_stall = True
        elif code is EventCode.ESTOP_LATCHED and self.mode is not Mode.ESTOP \
                and self.supervisor.can(Trigger.ESTOP):
            self._estop(now, f"firmware e-stop: {e.text or 'latched'}", tell_firmware=False)
        elif code is EventCode.WATCHDOG_STOP and self.mode in POWERED:
            self.stats.faults_handled += 1
            self._stop(Trigger.FAULT, now, "firmware watchdog stopped the motors")
        elif code in (EventCode.OVER_TEMPERATURE, EventCode.CURRENT_LIMIT, EventCode.LOW_BATTERY,
                      EventCode.SENSOR_FAULT) and self.mode in POWERED:
            self._event(now, EventKind.FIRMWARE_WARNING, Severity.WARNING,
                        f"firmware warning: {code.name.lower().replace('_', ' ')}"
                        + (f": {e.text}" if e.text else f" (value {e.value:.1f})"))

    # --- actions -------------------------------------------------------------------------------
    def _arm(self, now: float, why: str) -> None:
        self._fire(Trigger.ARM, now, why)
        self._request(CommandCode.ENABLE, (1.0,), RequestPurpose.ENABLE)

    def _stop(self, trigger: Trigger, now: float, reason: str) -> None:
        """Category 1: controlled stop (firmware STOP ramps down), then disable."""
        self.mission_running = False
        self._pending.clear()
        self._fire(trigger, now, reason)
        self._request(CommandCode.STOP, (), RequestPurpose.STOP)
        self._request(CommandCode.ENABLE, (0.0,), RequestPurpose.DISABLE)
        self.motors_enabled = False

    def _estop(self, now: float, reason: str, tell_firmware: bool = True) -> None:
        """Category 0: the firmware e-stop cuts motor power at once."""
        self.stats.estops += 1
        self.mission_running = False
        self.motors_enabled = False
        self._pending.clear()
        if tell_firmware:
            self._queued.insert(0, EstopRequest(reason))
        self._fire(Trigger.ESTOP, now, reason)

    def _request(self, code: CommandCode, args: tuple[float, ...],
                 purpose: RequestPurpose) -> None:
        rid = next(self._ids)
        self._pending[rid] = purpose
        self._queued.append(FirmwareRequest(rid, code, args, purpose))

    def _fire(self, trigger: Trigger, now: float, reason: str) -> None:
        self._events.append(self.supervisor.fire(trigger, now, reason))
        if self.mode is not Mode.DRIVING:
            self._leg = None
        if self.stowed:
            # hold the stow height itself: the filtered depth lags the arm, and holding that
            # lagging value would lower the arm again before the dump
            self._hold_depth = self.config.strategy.stow_depth_m
        elif self.mode is not Mode.DIGGING and not math.isnan(self.last.cut_depth):
            # outside a dig the arm holds where it is (the firmware moves it for
            # STOW/DUMP and holds it while driving)
            self._hold_depth = self.last.cut_depth

    def _event(self, now: float, kind: EventKind, severity: Severity, text: str,
               **data: JsonValue) -> None:
        log.info("%s: %s", kind, text)
        self._events.append(ControlEvent(now, kind, severity, text, data))

