"""The simulated microcontroller's behaviour: inner loops, commands, protections.

Theory of operation. ``Firmware`` is sans-I/O like the link it sits on:

* ``on_message(msg, seq, session, now, fw_time_us)`` handles what the link
  delivered; ``controller_heard(now)`` is called for every valid frame.
* ``control(dt, now)`` runs once per plant step in SIMULATED time (``dt``)
  and returns the ``Actuation`` for the plant: drum speed PI loop with a hard
  current limit, arm position loop with a rate limit, drive guidance.
* ``check_watchdog(now)``: ``now`` is WALL time (loop.time()), like every
  link-related timing (command and setpoint deadlines, watchdog), because the
  controller's link runs on wall time. Only physics runs on simulated time.
* Whatever the firmware wants to say goes to ``outbox`` as (message,
  session) pairs: command results and parameter values belong to the
  session that asked (``session`` id) and are dropped if that session is
  gone; events (session None) wait for the next session.

Rules (the controller depends on them): motion needs an accepted ENABLE; setpoints move the drum
and the arm only while fresh (deadline not passed); STOP and ENABLE(0) are a
controlled stop (drum ramps to 0, arm holds) after which the motors are
disabled (active braking at up to the current limit, EVENT(STANDSTILL) at
rest); the watchdog, a declared link loss in either direction and a new
session replacing a live one do the same and need a new ENABLE; an e-stop
switches the motors off at once and latches until an accepted RESET_ESTOP,
which never restarts motion.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

from firmware_bridge.messages import (
    Capability,
    Command,
    CommandCode,
    EStop,
    Event,
    EventCode,
    FirmwareSeverity,
    Hello,
    Message,
    Param,
    ParamGet,
    ParamSet,
    ParamStatus,
    ParamValue,
    Reason,
    ResultStatus,
    Setpoints,
    Status,
)
from firmware_bridge.params import STANDARD_PARAMS, in_range_f32

from .channels import CHANNELS
from .drum_loop import DrumSpeedLoop
from .firmware_commands import Action, CommandHandlers, Power
from .plant import Actuation, RigPlant

#: what the simulated firmware implements beyond the base protocol (FIRMWARE_INFO)
CAPABILITIES = int(Capability.DRIVE_ARM_FOLLOW)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FirmwareConfig:
    sample_rate_hz: int = 1000
    batch_samples: int = 5
    watchdog_ms: int = 250
    watchdog_fixed: bool = False  # True: a HELLO's watchdog_ms does not override it
    current_limit: float = 20.0  # A
    arm_rate_limit: float = 0.05  # m/s
    max_drum_speed: float = 6.0  # rad/s
    speed_kp: float = 8.0  # A per rad/s
    speed_ki: float = 40.0  # A per rad
    drum_accel: float = 4.0  # rad/s^2 ramp of the speed reference
    arm_kp: float = 2.0  # 1/s
    dump_speed: float = 3.0  # rad/s (reverse)
    dump_timeout: float = 30.0  # s
    temp_limit: float = 120.0  # degC: over-temperature trip
    temp_clear: float = 100.0  # degC: trip clears below
    low_soc: float = 20.0  # %: LOW_BATTERY warning
    critical_soc: float = 5.0  # %: motors refused
    max_drive_speed: float = 0.3  # m/s
    arrive_tolerance: float = 0.05  # m
    stow_tolerance: float = 0.005  # m
    dig_depth_for_busy: float = 0.005  # m: deeper than this, DRIVE_TO is refused
    # DRIVE_TO with arg3 = 1 (the arm follows the set-points while driving, section 4.8)
    drive_arm_clearance: float = 0.03  # m: the drum never lower than this while driving
    drive_low_arm_height: float = 0.10  # m: below this the drive is slowed ...
    drive_low_arm_speed: float = 0.10  # m/s: ... to this
    drive_low_arm_ramp: float = 0.03  # m: from max_drive_speed over this much more height
    dump_arrival_m: float = 0.3  # m: DUMP ends an arm-follow DRIVE_TO this close to its target


# param id -> FirmwareConfig attribute; ranges and access in firmware_bridge.params
PARAM_ATTRS: dict[int, str] = {
    Param.WATCHDOG_MS: "watchdog_ms",
    Param.DRUM_CURRENT_LIMIT_A: "current_limit",
    Param.ARM_RATE_LIMIT_M_S: "arm_rate_limit",
    Param.SAMPLE_RATE_HZ: "sample_rate_hz",
    Param.BATCH_SAMPLES: "batch_samples",
    Param.DRUM_SPEED_KP: "speed_kp",
    Param.DRUM_SPEED_KI: "speed_ki",
    Param.MAX_DRUM_SPEED_RAD_S: "max_drum_speed",
}
STANDSTILL_SPEED = 0.05  # rad/s: below this the drum is at standstill (section 6)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


class Firmware(CommandHandlers):
    """The rig's firmware logic over one boot (a reset makes a new one)."""

    def __init__(self, config: FirmwareConfig, plant: RigPlant) -> None:
        self.config = config
        self.plant = plant
        self.params: dict[str, float] = {name: float(getattr(config, name))
                                         for name in PARAM_ATTRS.values()}
        self.power = Power.OFF
        self.estop_latched = False
        self.estop_cause = False  # panel button still pressed
        self.watchdog_tripped = False
        self.overtemp = False
        self.sensor_faults: set[int] = set()
        self.action: Action | None = None
        self.setpoint: Setpoints | None = None
        self.setpoint_until = -math.inf  # wall time
        self.last_heard: float | None = None
        self.time = 0.0  # simulated seconds since boot
        self.outbox: deque[tuple[Message, int | None]] = deque()
        self.counters = {"setpoints": 0, "setpoints_expired": 0, "commands": 0,
                         "commands_rejected": 0}
        self._act = Actuation()
        self.drum = DrumSpeedLoop(config.drum_accel)
        self._stop_started = 0.0  # simulated time the running controlled stop began
        self._stop_cause = ""
        self._end_stop_reported = False
        self._low_batt_warned = False
        self._critical_reported = False
        self._arm_hold = plant.state.arm_pos
        self._rules = self._command_rules()

    # --- state --------------------------------------------------------------------

    @property
    def motors_enabled(self) -> bool:
        return self.power is Power.ON

    @property
    def status(self) -> int:
        st = 0
        if self.estop_latched:
            st |= Status.ESTOP
        if self.power is Power.ON:
            st |= Status.MOTORS_ENABLED
        if self.watchdog_tripped:
            st |= Status.WATCHDOG_TRIPPED
        if self.overtemp or self.sensor_faults:
            st |= Status.FAULT
        if self.action is not None:
            st |= {CommandCode.DRIVE_TO: Status.DRIVING, CommandCode.DUMP: Status.DUMPING,
                   CommandCode.STOW: Status.STOWING}.get(self.action.code, 0)
        return st

    @property
    def watchdog_s(self) -> float:
        return self.params["watchdog_ms"] / 1000.0

    def time_us(self) -> int:
        return int(self.time * 1e6)

    # --- inputs from the link -----------------------------------------------------------

    def on_session(self, hello: Hello | None, now: float) -> None:
        if hello is not None and hello.watchdog_ms and not self.config.watchdog_fixed:
            spec = STANDARD_PARAMS[Param.WATCHDOG_MS]
            self.params["watchdog_ms"] = _clamp(float(hello.watchdog_ms), spec.lo, spec.hi)
        if self.power is not Power.OFF:
            # a new session means the old host is gone: the link-loss stop (section 6)
            self.link_lost("a new session started", now)
        self.last_heard = now

    def controller_heard(self, now: float) -> None:
        self.last_heard = now

    def on_message(self, msg: Message, seq: int, session: int, now: float,
                   fw_time_us: int) -> None:
        if isinstance(msg, Setpoints):
            self.counters["setpoints"] += 1
            if fw_time_us > msg.deadline_us:
                self.counters["setpoints_expired"] += 1
                return
            self.setpoint = msg
            self.setpoint_until = now + (msg.deadline_us - fw_time_us) / 1e6
        elif isinstance(msg, Command):
            self.counters["commands"] += 1
            self._command(msg, seq, session, fw_time_us)
        elif isinstance(msg, EStop):
            src = {0: "controller", 1: "ground", 2: "operator panel"}.get(msg.source, "?")
            self.latch_estop(f"e-stop from {src}" + (f": {msg.reason}" if msg.reason else ""))
        elif isinstance(msg, ParamGet | ParamSet):
            self._param(msg, seq, session)

    # --- parameters -------------------------------------------------------------------

    def _param(self, msg: ParamGet | ParamSet, seq: int, session: int) -> None:
        pid = msg.param_id
        name = PARAM_ATTRS.get(pid)
        if name is None:
            self.outbox.append((ParamValue(seq, pid, ParamStatus.UNKNOWN_PARAM, 0.0), session))
            return
        spec = STANDARD_PARAMS[pid]
        status = ParamStatus.OK
        if isinstance(msg, ParamSet):
            if not spec.writable:
                status = ParamStatus.READ_ONLY
            elif not in_range_f32(msg.value, spec.lo, spec.hi):
                status = ParamStatus.OUT_OF_RANGE
            else:
                value = float(round(msg.value)) if spec.whole else msg.value
                self.params[name] = value
                log.info("parameter %s set to %s", name, value)
        self.outbox.append((ParamValue(seq, pid, status, self.params[name]), session))

    # --- safety ---------------------------------------------------------------------

    def event(self, code: EventCode, severity: FirmwareSeverity, value: float = 0.0,
              text: str = "") -> None:
        log.info("event %s (%s) %s %s", code.name, severity.name, value, text)
        self.outbox.append((Event(self.time_us(), code, severity, float(value), text), None))

    def latch_estop(self, text: str) -> None:
        self._abort(ResultStatus.FAILED, Reason.ESTOP_LATCHED, text)
        self.power = Power.OFF
        self.drum.reset(0.0)
        if not self.estop_latched:
            self.estop_latched = True
            self.event(EventCode.ESTOP_LATCHED, FirmwareSeverity.CRITICAL, 0.0, text)

    def panel_estop(self, pressed: bool) -> None:
        """The operator panel's mushroom button (fault injection)."""
        self.estop_cause = pressed
        if pressed:
            self.latch_estop("e-stop from operator panel")

    def controlled_stop(self, why: str, reason: Reason = Reason.INTERRUPTED) -> None:
        self._abort(ResultStatus.FAILED, reason, why)
        self._begin_stop(why)

    def _begin_stop(self, cause: str) -> None:
        """Category 1 stop: brake actively, then power off (section 6, "Stopping")."""
        if self.power is Power.ON:
            self.power = Power.STOPPING
            self._stop_started = self.time
            self._stop_cause = cause

    @property
    def watchdog_deadline(self) -> float | None:
        """Wall time at which the watchdog trips unless the controller is heard, or None."""
        if self.power is Power.OFF or self.watchdog_tripped or self.last_heard is None:
            return None
        return self.last_heard + self.watchdog_s

    def check_watchdog(self, now: float) -> None:
        deadline = self.watchdog_deadline
        if deadline is None or now < deadline:
            return
        assert self.last_heard is not None
        silent = now - self.last_heard
        log.warning("watchdog: nothing from the controller for %.0f ms", silent * 1000)
        self._trip(silent, f"no message from the controller for {silent * 1000:.0f} ms")

    def link_lost(self, why: str, now: float, waited: float | None = None) -> None:
        """The link was declared lost (either direction): stop as the watchdog does.

        *waited*: how long the failing direction was silent (s); default: since the
        controller was last heard."""
        if self.power is Power.OFF or self.watchdog_tripped:
            return
        silent = now - self.last_heard if self.last_heard is not None else 0.0
        if waited is not None:
            silent = waited
        log.warning("link lost (%s): stopping the motors", why)
        self._trip(silent, f"link lost: {why}")

    def _trip(self, silent: float, text: str) -> None:
        self.watchdog_tripped = True
        self.controlled_stop("watchdog")
        self.event(EventCode.WATCHDOG_STOP, FirmwareSeverity.FAULT, silent * 1000, text)

    def sensor_fault(self, channel: int, active: bool) -> None:
        name = CHANNELS[channel].name
        if active and channel not in self.sensor_faults:
            self.sensor_faults.add(channel)
            self.event(EventCode.SENSOR_FAULT, FirmwareSeverity.FAULT, channel,
                       f"{name}: no signal")
        elif not active and channel in self.sensor_faults:
            self.sensor_faults.discard(channel)
            self.event(EventCode.SENSOR_FAULT, FirmwareSeverity.INFO, channel, f"{name}: restored")

    # --- the control step (simulated time) ---------------------------------------------

    def control(self, dt: float, now: float) -> Actuation:
        """One inner-loop step: drum speed loop, arm position loop, drive guidance."""
        self.time += dt
        p = self.plant.state
        self._protections(p.motor_temp, p.soc)
        if self.power is Power.OFF:
            return self._outputs_off()
        sp = self.setpoint
        fresh = sp is not None and sp.enable and now <= self.setpoint_until
        self._drum_step(dt, sp if fresh else None)
        if self._stop_complete():
            return self._act
        self._arm_step(sp if fresh else None)
        self._end_stop_watch()
        self._guidance_step()
        return self._act

    def _outputs_off(self) -> Actuation:
        a = self._act
        a.drum_on = False
        a.drum_current = a.arm_velocity = a.drive_speed = a.yaw_rate = 0.0
        self.drum.idle(self.plant.state.omega)
        return a

    def _drum_target(self, sp: Setpoints | None) -> float:
        if self._busy() is CommandCode.DUMP:
            return -self.config.dump_speed
        if self.power is Power.ON and sp is not None:
            vmax = self.params["max_drum_speed"]
            return _clamp(sp.drum_speed, -vmax, vmax)
        return 0.0

    def _drum_step(self, dt: float, sp: Setpoints | None) -> None:
        prm = self.params
        omega = self.plant.state.omega
        limit = prm["current_limit"]
        if self.power is Power.STOPPING:
            current, saturated = self.drum.brake(omega, limit=limit, kp=prm["speed_kp"])
        else:
            current, saturated = self.drum.step(self._drum_target(sp), omega, dt, limit=limit,
                                                kp=prm["speed_kp"], ki=prm["speed_ki"])
        self._act.drum_on = True
        self._act.drum_current = current
        for alarm in self.drum.watch(dt, saturated, limit, omega):
            self.event(alarm.code, alarm.severity, alarm.value, alarm.text)

    def _stop_complete(self) -> bool:
        """A controlled stop ends at rest: motors off, a STOP command done."""
        if not (self.power is Power.STOPPING and self.drum.w_ref == 0.0
                and abs(self.plant.state.omega) < STANDSTILL_SPEED):
            return False
        self.power = Power.OFF
        took = (self.time - self._stop_started) * 1000
        self.event(EventCode.STANDSTILL, FirmwareSeverity.INFO, took,
                   f"standstill {took:.0f} ms after the stop ({self._stop_cause})")
        a = self._act
        a.drum_on = False
        a.drum_current = a.arm_velocity = a.drive_speed = a.yaw_rate = 0.0
        if self._busy() is CommandCode.STOP:
            self._finish(text="stopped")
        return True

    def _arm_step(self, sp: Setpoints | None) -> None:
        p = self.plant.state
        pc = self.plant.config
        code = self._busy()
        arm_target: float | None = None
        if code in (CommandCode.STOW, CommandCode.DUMP):
            arm_target = pc.arm_stow
        elif code is CommandCode.DRIVE_TO:
            arm_target = self._drive_arm_target(sp)
        elif self.power is Power.ON and sp is not None:
            arm_target = _clamp(-sp.cut_depth, pc.arm_min - 0.01, pc.arm_max + 0.01)
        rate = self.params["arm_rate_limit"]
        if arm_target is None:
            self._act.arm_velocity = 0.0
            self._arm_hold = p.arm_pos
        else:
            self._act.arm_velocity = _clamp(self.config.arm_kp * (arm_target - p.arm_pos),
                                            -rate, rate)

    def _drive_arm_target(self, sp: Setpoints | None) -> float | None:
        """DRIVE_TO holds the arm (arg3 = 0) or moves it to the set-point, never lower
        than ``drive_arm_clearance`` above the ground (arg3 = 1; stale: hold)."""
        action = self.action
        if action is None or not action.arm_follow:
            return self._arm_hold
        if self.power is not Power.ON or sp is None:
            return None
        return _clamp(-sp.cut_depth, self.config.drive_arm_clearance,
                      self.plant.config.arm_max + 0.01)

    def _end_stop_watch(self) -> None:
        p = self.plant.state
        pushing = p.at_end_stop and self._act.arm_velocity * p.at_end_stop > 1e-4
        if pushing and not self._end_stop_reported:
            self._end_stop_reported = True
            self.event(EventCode.END_STOP, FirmwareSeverity.WARNING, p.arm_pos,
                       "arm at lower end stop" if p.at_end_stop < 0 else "arm at upper end stop")
        elif not p.at_end_stop:
            self._end_stop_reported = False

    def _guidance_step(self) -> None:
        a = self._act
        a.drive_speed = a.yaw_rate = 0.0
        action = self.action
        if action is None:
            return
        if action.code is CommandCode.DRIVE_TO and self.power is Power.ON:
            self._drive_guidance(action)
        elif action.code is CommandCode.STOW:
            p = self.plant.state
            if abs(p.arm_pos - self.plant.config.arm_stow) < self.config.stow_tolerance:
                self._finish(EventCode.STOW_DONE, p.arm_pos, "arm stowed")
        elif action.code is CommandCode.DUMP:
            self._dump_progress(action)

    def _drive_guidance(self, action: Action) -> None:
        p = self.plant.state
        a = self._act
        tx, ty, speed = action.target
        dx, dy = tx - p.x, ty - p.y
        dist = math.hypot(dx, dy)
        if dist < self.config.arrive_tolerance:
            self._finish(EventCode.DRIVE_DONE, dist, f"arrived at ({tx:.2f}, {ty:.2f})")
            return
        cfg = self.config
        if action.arm_follow:
            # the drum must be clear of the ground before the rig moves, and the rig slow
            # while the drum is low (section 4.8, DRIVE_TO arg3)
            if p.arm_pos < cfg.drive_arm_clearance - cfg.stow_tolerance:
                return
            # the limit ramps in over the last few cm above the low height, so the rig has
            # slowed (at its acceleration limit) by the time the drum is that low
            above = (p.arm_pos - cfg.drive_low_arm_height) / cfg.drive_low_arm_ramp
            if above < 1.0:
                low = cfg.drive_low_arm_speed
                speed = min(speed, low + (cfg.max_drive_speed - low) * max(0.0, above))
        err_h = _wrap(math.atan2(dy, dx) - p.heading)
        a.yaw_rate = _clamp(1.5 * err_h, -0.5, 0.5)
        a.drive_speed = min(speed, 0.8 * dist) if abs(err_h) < 0.3 else 0.0

    def _dump_progress(self, action: Action) -> None:
        p = self.plant.state
        elapsed = self.time - action.started
        if p.bucket_mass < 0.2 and elapsed > 1.0:
            dumped = action.start_mass - p.bucket_mass
            self._finish(EventCode.DUMP_DONE, dumped, f"dumped {dumped:.1f} kg")
        elif elapsed > self.config.dump_timeout:
            self._abort(ResultStatus.FAILED, Reason.LIMIT,
                        f"bucket still holds {p.bucket_mass:.1f} kg")

    def _protections(self, temp: float, soc: float) -> None:
        cfg = self.config
        if not self.overtemp and temp >= cfg.temp_limit:
            self.overtemp = True
            self.controlled_stop("motor over temperature", Reason.LIMIT)
            self.event(EventCode.OVER_TEMPERATURE, FirmwareSeverity.FAULT, temp,
                       f"motor at {temp:.0f} degC (limit {cfg.temp_limit:.0f})")
        elif self.overtemp and temp < cfg.temp_clear:
            self.overtemp = False
            self.event(EventCode.OVER_TEMPERATURE, FirmwareSeverity.INFO, temp,
                       "motor temperature normal")
        if soc < cfg.low_soc and not self._low_batt_warned:
            self._low_batt_warned = True
            self.event(EventCode.LOW_BATTERY, FirmwareSeverity.WARNING, soc,
                       f"battery at {soc:.1f} %")
        elif soc > cfg.low_soc + 5:
            self._low_batt_warned = False
        if soc < cfg.critical_soc and not self._critical_reported:
            self._critical_reported = True
            self.controlled_stop("battery critical", Reason.LIMIT)
            self.event(EventCode.LOW_BATTERY, FirmwareSeverity.CRITICAL, soc,
                       f"battery critical at {soc:.1f} %: motors stopped")
        elif soc > cfg.critical_soc + 2:
            self._critical_reported = False
