"""The simulated microcontroller's behaviour: inner loops, long actions, protections.

Theory of operation. ``Firmware`` is sans-I/O like the link it sits on. It
is the one firmware model (``firmware_bridge.firmware_core.FirmwareCore``:
sessions, watchdog, set-points, command preconditions, ENABLE / STOP /
RESET_ESTOP, e-stop, parameters, results) configured with the simulated
rig: it adds the plant-side hooks (``RigModel``: CAUSE_PRESENT causes, the
drum loop reset, the long actions of ``firmware_commands.MotionCommands``)
and the control step:

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

from firmware_bridge.firmware_core import Action, FirmwareCore, MotionHandler, Power
from firmware_bridge.messages import (
    Capability,
    CommandCode,
    EventCode,
    FirmwareSeverity,
    Param,
    Reason,
    ResultStatus,
    Setpoints,
    Status,
)

from .channels import CHANNELS, SLOW_RATE_HZ
from .drum_loop import DrumSpeedLoop
from .firmware_commands import ArmHold, MotionCommands
from .firmware_config import PARAM_ATTRS, FirmwareConfig, initial_params
from .plant import Actuation, RigPlant

#: what the simulated firmware implements beyond the base protocol (FIRMWARE_INFO)
CAPABILITIES = int(Capability.DRIVE_ARM_FOLLOW)

__all__ = ["CAPABILITIES", "PARAM_ATTRS", "Firmware", "FirmwareConfig", "Power"]

log = logging.getLogger(__name__)

STANDSTILL_SPEED = 0.05  # rad/s: below this the drum is at standstill (section 6)


def _wrap(a: float) -> float:
    return (a + math.pi) % (2 * math.pi) - math.pi


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


class Firmware(FirmwareCore):
    """The rig's firmware logic over one boot (a reset makes a new one)."""

    def __init__(self, config: FirmwareConfig, plant: RigPlant) -> None:
        super().__init__(initial_params(config, site_half_size=plant.site.half_size,
                                        slow_rate_hz=SLOW_RATE_HZ),
                         watchdog_fixed=config.watchdog_fixed)
        self.config = config
        self.plant = plant
        self.overtemp = False
        self.sensor_faults: set[int] = set()
        self._act = Actuation()
        self.drum = DrumSpeedLoop(config.drum_accel)
        self._end_stop_reported = False
        self._low_batt_warned = False
        self._critical_reported = False
        self.hold = ArmHold(plant.state.arm_pos)
        self.motion = MotionCommands(self, plant, config, self.hold)
        self.attach(self)

    # --- the plant side of the core (RigModel) -----------------------------------------
    def enable_refusal(self) -> str | None:
        p = self.plant.state
        if self.overtemp:
            return f"motor over temperature ({p.motor_temp:.0f} degC)"
        if p.soc < self.config.critical_soc:
            return f"battery critical ({p.soc:.1f} %)"
        return None

    def power_enabled(self) -> None:
        p = self.plant.state
        self.drum.reset(p.omega)
        self.hold.position = p.arm_pos

    def power_cut(self) -> None:
        self.drum.reset(0.0)

    def motion_handlers(self) -> dict[CommandCode, MotionHandler]:
        return self.motion.handlers()

    @property
    def status(self) -> int:
        st = super().status
        if self.overtemp or self.sensor_faults:
            st |= Status.FAULT
        return st

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
        fresh = self.fresh_setpoint(now)
        self._drum_step(dt, fresh)
        if self._stop_complete():
            return self._act
        self._arm_step(fresh)
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
        if self.busy() is CommandCode.DUMP:
            return -self.config.dump_speed
        if self.power is Power.ON and sp is not None:
            vmax = self.params[Param.MAX_DRUM_SPEED_RAD_S]
            return _clamp(sp.drum_speed, -vmax, vmax)
        return 0.0

    def _drum_step(self, dt: float, sp: Setpoints | None) -> None:
        prm = self.params
        omega = self.plant.state.omega
        limit = prm[Param.DRUM_CURRENT_LIMIT_A]
        if self.power is Power.STOPPING:
            current, saturated = self.drum.brake(omega, limit=limit, kp=prm[Param.DRUM_SPEED_KP])
        else:
            current, saturated = self.drum.step(
                self._drum_target(sp), omega, dt, limit=limit, kp=prm[Param.DRUM_SPEED_KP],
                ki=prm[Param.DRUM_SPEED_KI])
        self._act.drum_on = True
        self._act.drum_current = current
        for alarm in self.drum.watch(dt, saturated, limit, omega):
            self.event(alarm.code, alarm.severity, alarm.value, alarm.text)

    def _stop_complete(self) -> bool:
        """A controlled stop ends at rest: motors off, a STOP command done."""
        if not (self.power is Power.STOPPING and self.drum.w_ref == 0.0
                and abs(self.plant.state.omega) < STANDSTILL_SPEED):
            return False
        self.standstill_reached()  # power off, STANDSTILL, then STOP's DONE (4.9)
        a = self._act
        a.drum_on = False
        a.drum_current = a.arm_velocity = a.drive_speed = a.yaw_rate = 0.0
        return True

    def _arm_step(self, sp: Setpoints | None) -> None:
        p = self.plant.state
        pc = self.plant.config
        code = self.busy()
        arm_target: float | None = None
        if code in (CommandCode.STOW, CommandCode.DUMP):
            arm_target = pc.arm_stow
        elif code is CommandCode.DRIVE_TO:
            arm_target = self._drive_arm_target(sp)
        elif self.power is Power.ON and sp is not None:
            arm_target = _clamp(-sp.cut_depth, pc.arm_min - 0.01, pc.arm_max + 0.01)
        rate = self.params[Param.ARM_RATE_LIMIT_M_S]
        if arm_target is None:
            self._act.arm_velocity = 0.0
            self.hold.position = p.arm_pos
        else:
            self._act.arm_velocity = _clamp(self.config.arm_kp * (arm_target - p.arm_pos),
                                            -rate, rate)

    def _drive_arm_target(self, sp: Setpoints | None) -> float | None:
        """DRIVE_TO holds the arm (arg3 = 0) or moves it to the set-point, never lower
        than ``drive_arm_clearance`` above the ground (arg3 = 1; stale: hold)."""
        action = self.action
        if action is None or not action.arm_follow:
            return self.hold.position
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
                self.finish(EventCode.STOW_DONE, p.arm_pos, "arm stowed")
        elif action.code is CommandCode.DUMP:
            self._dump_progress(action)

    def _drive_guidance(self, action: Action) -> None:
        p = self.plant.state
        a = self._act
        tx, ty, speed = action.target
        dx, dy = tx - p.x, ty - p.y
        dist = math.hypot(dx, dy)
        if dist < self.config.arrive_tolerance:
            self.finish(EventCode.DRIVE_DONE, dist, f"arrived at ({tx:.2f}, {ty:.2f})")
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
            self.finish(EventCode.DUMP_DONE, dumped, f"dumped {dumped:.1f} kg")
        elif elapsed > self.config.dump_timeout:
            self.abort(ResultStatus.FAILED, Reason.LIMIT,
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
