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
disabled; the watchdog does the same and needs a new ENABLE; an e-stop
switches the motors off at once and latches until an accepted RESET_ESTOP,
which never restarts motion.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from enum import Enum

from firmware_bridge.messages import (
    Command,
    CommandCode,
    CommandResult,
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

from .channels import CHANNELS
from .plant import Actuation, RigPlant

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


# param id -> (attribute, min, max, writable)
PARAMS: dict[int, tuple[str, float, float, bool]] = {
    Param.WATCHDOG_MS: ("watchdog_ms", 20, 10_000, True),
    Param.DRUM_CURRENT_LIMIT_A: ("current_limit", 0.5, 40.0, True),
    Param.ARM_RATE_LIMIT_M_S: ("arm_rate_limit", 0.001, 0.2, True),
    Param.SAMPLE_RATE_HZ: ("sample_rate_hz", 0, 0, False),
    Param.BATCH_SAMPLES: ("batch_samples", 0, 0, False),
    Param.DRUM_SPEED_KP: ("speed_kp", 0.0, 200.0, True),
    Param.DRUM_SPEED_KI: ("speed_ki", 0.0, 2000.0, True),
    Param.MAX_DRUM_SPEED_RAD_S: ("max_drum_speed", 0.1, 10.0, True),
}


class Power(Enum):
    OFF = "off"
    ON = "on"
    STOPPING = "stopping"  # controlled stop in progress, then OFF


@dataclass(slots=True)
class Action:
    code: CommandCode
    seq: int
    session: int
    started: float  # firmware sim time
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)
    start_mass: float = 0.0


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


class Firmware:
    """The rig's firmware logic over one boot (a reset makes a new one)."""

    def __init__(self, config: FirmwareConfig, plant: RigPlant) -> None:
        self.config = config
        self.plant = plant
        self.params: dict[str, float] = {name: float(getattr(config, name))
                                         for name, *_ in PARAMS.values()}
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
        self._w_ref = 0.0
        self._integ = 0.0
        self._limit_time = 0.0
        self._limit_clear_time = 0.0
        self._limit_reported = False
        self._stall_time = 0.0
        self._stall_reported = False
        self._end_stop_reported = False
        self._low_batt_warned = False
        self._critical_reported = False
        self._arm_hold = plant.state.arm_pos

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
            lo, hi = PARAMS[Param.WATCHDOG_MS][1:3]
            self.params["watchdog_ms"] = _clamp(float(hello.watchdog_ms), lo, hi)
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

    # --- commands ------------------------------------------------------------------

    def _result(self, seq: int, session: int, code: int, status: ResultStatus,
                reason: Reason = Reason.NONE, detail: str = "") -> None:
        if status is ResultStatus.REJECTED:
            self.counters["commands_rejected"] += 1
        self.outbox.append((CommandResult(seq, code, status, reason, detail), session))

    def _reject(self, cmd: Command, seq: int, session: int, reason: Reason,
                detail: str = "") -> None:
        log.info("command %s rejected: %s %s", cmd.code.name, reason.name, detail)
        self._result(seq, session, cmd.code, ResultStatus.REJECTED, reason, detail)

    def _command(self, cmd: Command, seq: int, session: int, fw_time_us: int) -> None:
        code = cmd.code
        p = self.plant.state
        cfg = self.config
        if fw_time_us > cmd.deadline_us:
            self._reject(cmd, seq, session, Reason.EXPIRED,
                         f"deadline passed {(fw_time_us - cmd.deadline_us) / 1000:.1f} ms ago")
            return
        if code is CommandCode.RESET_ESTOP:
            if self.estop_latched and self.estop_cause:
                self._reject(cmd, seq, session, Reason.CAUSE_PRESENT, "panel e-stop still pressed")
                return
            if self.estop_latched:
                self.estop_latched = False
                self.event(EventCode.ESTOP_RESET, FirmwareSeverity.INFO, 0.0, "e-stop reset")
            self._accept_done(seq, session, code)
            return
        if self.estop_latched:
            self._reject(cmd, seq, session, Reason.ESTOP_LATCHED)
            return
        if code is CommandCode.ENABLE:
            if cmd.args[0] >= 0.5:
                if self.overtemp:
                    self._reject(cmd, seq, session, Reason.CAUSE_PRESENT,
                                 f"motor over temperature ({p.motor_temp:.0f} degC)")
                    return
                if p.soc < cfg.critical_soc:
                    self._reject(cmd, seq, session, Reason.CAUSE_PRESENT,
                                 f"battery critical ({p.soc:.1f} %)")
                    return
                if self.power is not Power.ON:
                    self._w_ref = p.omega
                    self._integ = 0.0
                    self._arm_hold = p.arm_pos
                self.power = Power.ON
                self.watchdog_tripped = False
            else:
                self.controlled_stop("disabled by controller")
            self._accept_done(seq, session, code)
            return
        if code is CommandCode.STOP:
            self._abort(ResultStatus.FAILED, Reason.INTERRUPTED, "STOP")
            self._result(seq, session, code, ResultStatus.ACCEPTED)
            if self.power is Power.OFF:
                self._result(seq, session, code, ResultStatus.DONE)
            else:
                self.power = Power.STOPPING
                self.action = Action(code, seq, session, self.time)
            return
        if self.power is not Power.ON:
            self._reject(cmd, seq, session, Reason.NOT_ENABLED)
            return
        busy = self.action.code if self.action is not None else None
        if code is CommandCode.DRIVE_TO:
            x, y, speed = cmd.args[:3]
            if not all(map(math.isfinite, (x, y, speed))) or not 0 < speed <= cfg.max_drive_speed:
                self._reject(cmd, seq, session, Reason.BAD_VALUE,
                             f"speed must be in (0, {cfg.max_drive_speed}] m/s, got {speed}")
                return
            if not self.plant.site.contains(x, y):
                self._reject(cmd, seq, session, Reason.BAD_VALUE,
                             f"({x:.2f}, {y:.2f}) is outside the site")
                return
            if self.plant.cut_depth > cfg.dig_depth_for_busy:
                self._reject(cmd, seq, session, Reason.BUSY,
                             f"digging at {self.plant.cut_depth * 100:.1f} cm")
                return
            if busy in (CommandCode.DUMP, CommandCode.STOW):
                self._reject(cmd, seq, session, Reason.BUSY, f"{busy.name} in progress")
                return
            if busy is CommandCode.DRIVE_TO:
                self._abort(ResultStatus.FAILED, Reason.INTERRUPTED, "superseded by DRIVE_TO")
            self._arm_hold = p.arm_pos
            self._start(Action(code, seq, session, self.time, (x, y, speed)))
        elif code is CommandCode.DUMP:
            if p.arm_pos < self.plant.config.arm_stow - 0.01:
                self._reject(cmd, seq, session, Reason.BUSY,
                             f"arm not stowed ({p.arm_pos:.3f} m)")
                return
            if busy is not None and busy is not CommandCode.DUMP:
                self._reject(cmd, seq, session, Reason.BUSY, f"{busy.name} in progress")
                return
            if busy is CommandCode.DUMP:
                self._abort(ResultStatus.FAILED, Reason.INTERRUPTED, "superseded by DUMP")
            self._start(Action(code, seq, session, self.time, start_mass=p.bucket_mass))
        elif code is CommandCode.STOW:
            if busy is not None and busy is not CommandCode.STOW:
                self._reject(cmd, seq, session, Reason.BUSY, f"{busy.name} in progress")
                return
            if busy is CommandCode.STOW:
                self._abort(ResultStatus.FAILED, Reason.INTERRUPTED, "superseded by STOW")
            self._start(Action(code, seq, session, self.time))
        else:  # pragma: no cover - the codec only decodes known codes
            self._reject(cmd, seq, session, Reason.UNKNOWN_COMMAND)

    def _accept_done(self, seq: int, session: int, code: int) -> None:
        self._result(seq, session, code, ResultStatus.ACCEPTED)
        self._result(seq, session, code, ResultStatus.DONE)

    def _start(self, action: Action) -> None:
        self.action = action
        self._result(action.seq, action.session, action.code, ResultStatus.ACCEPTED)

    def _finish(self, event: EventCode | None = None, value: float = 0.0, text: str = "") -> None:
        a = self.action
        assert a is not None
        self.action = None
        self._result(a.seq, a.session, a.code, ResultStatus.DONE, detail=text)
        if event is not None:
            self.event(event, FirmwareSeverity.INFO, value, text)

    def _abort(self, status: ResultStatus, reason: Reason, detail: str) -> None:
        a = self.action
        if a is None:
            return
        self.action = None
        self._result(a.seq, a.session, a.code, status, reason, detail)

    # --- parameters -------------------------------------------------------------------

    def _param(self, msg: ParamGet | ParamSet, seq: int, session: int) -> None:
        pid = msg.param_id
        entry = PARAMS.get(pid)
        if entry is None:
            self.outbox.append((ParamValue(seq, pid, ParamStatus.UNKNOWN_PARAM, 0.0), session))
            return
        name, lo, hi, writable = entry
        status = ParamStatus.OK
        if isinstance(msg, ParamSet):
            if not writable:
                status = ParamStatus.READ_ONLY
            elif not (math.isfinite(msg.value) and lo <= msg.value <= hi):
                status = ParamStatus.OUT_OF_RANGE
            else:
                value = float(round(msg.value)) if pid == Param.WATCHDOG_MS else msg.value
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
        self._w_ref = 0.0
        self._integ = 0.0
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
        if self.power is Power.ON:
            self.power = Power.STOPPING

    def check_watchdog(self, now: float) -> None:
        if self.power is Power.OFF or self.watchdog_tripped or self.last_heard is None:
            return
        silent = now - self.last_heard
        if silent > self.watchdog_s:
            self.watchdog_tripped = True
            log.warning("watchdog: nothing from the controller for %.0f ms", silent * 1000)
            self.controlled_stop("watchdog")
            self.event(EventCode.WATCHDOG_STOP, FirmwareSeverity.FAULT, silent * 1000,
                       f"no message from the controller for {silent * 1000:.0f} ms")

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
        cfg, prm = self.config, self.params
        plant = self.plant
        p = plant.state
        pc = plant.config
        a = self._act
        self.time += dt
        self._protections(p.motor_temp, p.soc)
        sp = self.setpoint
        fresh = sp is not None and sp.enable and now <= self.setpoint_until
        action = self.action
        code = action.code if action is not None else None

        if self.power is Power.OFF:
            a.drum_on = False
            a.drum_current = a.arm_velocity = a.drive_speed = a.yaw_rate = 0.0
            self._w_ref = p.omega
            self._integ = 0.0
            self._stall_time = self._limit_time = 0.0
            return a

        # -- drum speed loop --------------------------------------------------------------
        vmax = prm["max_drum_speed"]
        if code is CommandCode.DUMP:
            target = -cfg.dump_speed
        elif self.power is Power.ON and fresh:
            assert sp is not None
            target = _clamp(sp.drum_speed, -vmax, vmax)
        else:
            target = 0.0
        step = cfg.drum_accel * dt
        self._w_ref += _clamp(target - self._w_ref, -step, step)
        limit = prm["current_limit"]
        err = self._w_ref - p.omega
        i_cmd = prm["speed_kp"] * err + self._integ
        saturated = abs(i_cmd) >= limit
        if not saturated or (i_cmd > 0) != (err > 0):  # conditional integration
            self._integ = _clamp(self._integ + prm["speed_ki"] * err * dt, -limit, limit)
        a.drum_on = True
        a.drum_current = _clamp(i_cmd, -limit, limit)
        self._current_watch(dt, saturated, limit, p.omega)

        if self.power is Power.STOPPING and self._w_ref == 0.0 and abs(p.omega) < 0.05:
            self.power = Power.OFF
            a.drum_on = False
            a.drum_current = a.arm_velocity = a.drive_speed = a.yaw_rate = 0.0
            if action is not None and code is CommandCode.STOP:
                self._finish(text="stopped")
            return a

        # -- arm position loop -----------------------------------------------------------
        arm_target: float | None = None
        if code in (CommandCode.STOW, CommandCode.DUMP):
            arm_target = pc.arm_stow
        elif code is CommandCode.DRIVE_TO or self.power is not Power.ON:
            arm_target = self._arm_hold if code is CommandCode.DRIVE_TO else None
        elif fresh:
            assert sp is not None
            arm_target = _clamp(-sp.cut_depth, pc.arm_min - 0.01, pc.arm_max + 0.01)
        rate = prm["arm_rate_limit"]
        if arm_target is None:
            a.arm_velocity = 0.0
            self._arm_hold = p.arm_pos
        else:
            a.arm_velocity = _clamp(cfg.arm_kp * (arm_target - p.arm_pos), -rate, rate)
        pushing = p.at_end_stop and a.arm_velocity * p.at_end_stop > 1e-4
        if pushing and not self._end_stop_reported:
            self._end_stop_reported = True
            self.event(EventCode.END_STOP, FirmwareSeverity.WARNING, p.arm_pos,
                       "arm at lower end stop" if p.at_end_stop < 0 else "arm at upper end stop")
        elif not p.at_end_stop:
            self._end_stop_reported = False

        # -- drive guidance --------------------------------------------------------------
        a.drive_speed = a.yaw_rate = 0.0
        if code is CommandCode.DRIVE_TO and self.power is Power.ON:
            assert action is not None
            tx, ty, speed = action.target
            dx, dy = tx - p.x, ty - p.y
            dist = math.hypot(dx, dy)
            if dist < cfg.arrive_tolerance:
                self._finish(EventCode.DRIVE_DONE, dist, f"arrived at ({tx:.2f}, {ty:.2f})")
            else:
                err_h = _wrap(math.atan2(dy, dx) - p.heading)
                a.yaw_rate = _clamp(1.5 * err_h, -0.5, 0.5)
                a.drive_speed = min(speed, 0.8 * dist) if abs(err_h) < 0.3 else 0.0
        elif code is CommandCode.STOW:
            if abs(p.arm_pos - pc.arm_stow) < cfg.stow_tolerance:
                self._finish(EventCode.STOW_DONE, p.arm_pos, "arm stowed")
        elif code is CommandCode.DUMP:
            assert action is not None
            elapsed = self.time - action.started
            if p.bucket_mass < 0.2 and elapsed > 1.0:
                dumped = action.start_mass - p.bucket_mass
                self._finish(EventCode.DUMP_DONE, dumped, f"dumped {dumped:.1f} kg")
            elif elapsed > cfg.dump_timeout:
                self._abort(ResultStatus.FAILED, Reason.LIMIT,
                            f"bucket still holds {p.bucket_mass:.1f} kg")
        return a

    def _current_watch(self, dt: float, saturated: bool, limit: float, omega: float) -> None:
        if saturated:
            self._limit_time += dt
            self._limit_clear_time = 0.0
            if self._limit_time >= 0.1 and not self._limit_reported:
                self._limit_reported = True
                self.event(EventCode.CURRENT_LIMIT, FirmwareSeverity.WARNING, limit,
                           f"drum current at its {limit:.1f} A limit")
        else:
            self._limit_time = 0.0
            self._limit_clear_time += dt
            if self._limit_clear_time > 0.5:
                self._limit_reported = False
        if saturated and abs(omega) < 0.2 and abs(self._w_ref) > 0.5:
            self._stall_time += dt
            if self._stall_time >= 0.2 and not self._stall_reported:
                self._stall_reported = True
                self.event(EventCode.STALL, FirmwareSeverity.FAULT, limit,
                           f"drum stalled at {limit:.1f} A")
        elif abs(omega) > 1.0 or abs(self._w_ref) < 0.1:
            self._stall_time = 0.0
            self._stall_reported = False

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
