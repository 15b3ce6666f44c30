"""The rig's physics: ``RigPlant.step(dt, actuation)`` advances the true state.

Theory of operation. The plant knows nothing of the protocol, of wall time or
of sensors: it takes actuator demands (drum motor current, arm velocity,
drive speed and yaw rate, as the firmware's inner loops output them) and a
time step, and integrates:

* Drum: DC motor with torque constant ``k`` (== back-EMF constant), winding
  resistance ``R``; the current loop is ideal inside the voltage the battery
  can give (``|R i + k w| <= V_bus``). Mechanics ``J dw/dt = k i - T_res - b w``
  where the resisting torque ``T_res`` (coulomb friction + regolith cutting +
  rocks) acts like stiction: a drum at rest stays at rest until the motor
  torque exceeds it. That is what a stall is.
* Cutting torque ``r * w_d * d * (c Nc + rho g d Ng) * (1 + ks v_tip)`` at cut
  depth ``d``; mass flows into the bucket at ``rho * w_d * d * v_tip * eta``
  until the capacity (the rest is spilled); reverse rotation releases
  ``dump_per_rad`` kg per rad (into the hopper when stowed, else back on the
  ground). Excavated = in bucket + dumped + spilled, exactly.
* Rocks are met as a Poisson process in excavated volume (seeded); each adds
  a torque (log-normal), scaled by how deep the drum still is compared with
  where it met the rock, until the drum has turned ``rock_angle`` through it.
  A rock also gives way by itself after ``rock_shift_time`` (+-50 %) s;
  injected rocks after their duration.
* Arm: first-order velocity response, hard end stops. Drive: acceleration
  limited speed and yaw rate on the site map; the terrain slope and the dig
  reaction torque give pitch and roll (first-order lag).
* Motor temperature: copper losses in, radiation out (vacuum: no convection).
  Battery: open-circuit voltage linear in SoC, internal resistance; the bus
  current solves ``P = (OCV - R I) I`` exactly.
* Energy is booked in ``energy`` (J) so tests can check conservation: the
  Euler step is arranged so that the drum's kinetic energy change equals
  motor work minus friction and soil work exactly, except when the drum
  is clamped to rest.

Deterministic: all randomness comes from a ``random.Random`` seeded at
construction.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .plant_config import PlantConfig, SoilConfig
from .terrain import SiteMap

_SIGMA_SB = 5.670374419e-8
_K0 = 273.15

# columns of the per-step record used by the sensor synthesiser
REC_FIELDS = 15
COL_THETA = 12  # drum angle, rad
COL_RIPPLE = 13  # drum current PWM ripple amplitude, A (half peak-to-peak)
COL_MESH = 14  # gear mesh vibration amplitude, m/s^2


@dataclass(slots=True)
class Actuation:
    """What the firmware's inner loops drive the hardware with."""

    drum_on: bool = False  # H-bridge enabled; off means the drum coasts
    drum_current: float = 0.0  # A, demanded of the current loop
    arm_velocity: float = 0.0  # m/s demanded of the arm actuator (0 = hold, self-locking)
    drive_speed: float = 0.0  # m/s
    yaw_rate: float = 0.0  # rad/s


@dataclass(slots=True)
class Rock:
    torque: float  # N m at the depth it was met
    depth: float  # m, cut depth when met (0: a jam that does not depend on depth)
    angle_left: float  # rad of drum rotation until it breaks out
    time_left: float = math.inf  # s, injected rocks expire


@dataclass(slots=True)
class Energy:
    """Energy ledger, J."""

    chemical: float = 0.0  # integral of OCV * I drawn from the cells
    battery_loss: float = 0.0
    copper: float = 0.0
    friction: float = 0.0
    soil: float = 0.0  # work done cutting (and on rocks)
    arm: float = 0.0
    drive: float = 0.0
    avionics: float = 0.0


@dataclass(slots=True)
class PlantState:
    time: float = 0.0  # s of simulated time since the plant was made
    omega: float = 0.0  # drum speed rad/s
    theta: float = 0.0  # drum angle rad
    drum_current: float = 0.0
    motor_voltage: float = 0.0
    stalled: bool = False
    arm_pos: float = 0.3
    arm_vel: float = 0.0
    arm_current: float = 0.3
    at_end_stop: int = 0  # -1 lower, +1 upper, 0 none
    bucket_mass: float = 0.0
    excavated: float = 0.0
    dumped: float = 0.0
    spilled: float = 0.0
    x: float = 0.0
    y: float = 0.0
    heading: float = 0.0
    speed: float = 0.0
    yaw_rate: float = 0.0
    pitch: float = 0.0  # deg
    roll: float = 0.0
    motor_temp: float = 20.0  # degC
    soc: float = 90.0  # %
    bus_voltage: float = 48.0
    battery_current: float = 0.0
    cut_torque: float = 0.0  # soil + rock torque resisting the drum, N m
    vibration: float = 0.0  # envelope, m/s^2
    rocks_met: int = 0
    rocks: list[Rock] = field(default_factory=list)


class RigPlant:
    """The physical rig (see the module docstring). Step it with ``step(dt, act)``."""

    def __init__(self, config: PlantConfig | None = None, soil: SoilConfig | None = None,
                 *, seed: int = 0, site: SiteMap | None = None) -> None:
        self.config = c = config or PlantConfig()
        self.soil = soil or SoilConfig()
        self.site = site if site is not None else SiteMap.generate(seed)
        self.rng = random.Random(seed)
        self.energy = Energy()
        s = self.state = PlantState(
            arm_pos=c.arm_start, x=c.start_x, y=c.start_y, heading=c.start_heading,
            motor_temp=c.start_temp_c, soc=c.start_soc, arm_current=c.arm_idle_current)
        s.bus_voltage = self.ocv()
        s.pitch, s.roll = self.site.tilt_deg(s.x, s.y, s.heading)
        # the ground's tilt under the chassis, recomputed by the drive step when it moves
        self._tilt_pose = (s.x, s.y, s.heading)
        self._terrain_tilt = (s.pitch, s.roll)

    # --- derived quantities ---------------------------------------------------------

    @property
    def cut_depth(self) -> float:
        return max(0.0, -self.state.arm_pos)

    @property
    def total_mass(self) -> float:
        return self.config.rig_mass + self.state.bucket_mass

    @property
    def kinetic_energy(self) -> float:
        s = self.state
        return 0.5 * self.config.drum_inertia * s.omega**2 + 0.5 * self.total_mass * s.speed**2

    def ocv(self) -> float:
        c = self.config
        soc = min(max(self.state.soc, 0.0), 100.0)
        return c.ocv_empty + (c.ocv_full - c.ocv_empty) * soc / 100.0

    def cutting_torque(self, depth: float, omega: float) -> float:
        """Soil resistance (N m) of the drum at *depth* m turning at *omega* rad/s."""
        if depth <= 0.0:
            return 0.0
        c, so = self.config, self.soil
        tip = abs(omega) * c.drum_radius
        per_width = depth * (so.cohesion * so.cohesion_factor
                             + so.density * so.gravity * depth * so.weight_factor)
        return c.drum_radius * c.drum_width * per_width * (1.0 + so.speed_factor * tip)

    def max_motor_torque(self, current_limit: float) -> float:
        return self.config.motor_k * current_limit

    # --- disturbances (used by the fault injector) ----------------------------------

    def add_rock(self, torque: float, *, angle: float, duration: float = math.inf) -> None:
        """A rock (or jam) in the drum now: *torque* N m more resistance."""
        self.state.rocks.append(Rock(torque, self.cut_depth, angle, duration))
        self.state.rocks_met += 1

    def set_motor_temp(self, temp_c: float) -> None:
        self.state.motor_temp = temp_c

    def set_soc(self, soc: float) -> None:
        self.state.soc = soc

    # --- the step ---------------------------------------------------------------------

    def step(self, dt: float, act: Actuation) -> None:
        """Advance the true state by *dt* s under the actuation *act* (order matters:
        each named step reads what the previous ones left in the state)."""
        depth = max(0.0, -self.state.arm_pos)
        t_cut = self._resisting_torque(depth)
        i = self._drum_current(act)
        w_avg, p_drum = self._drum_mechanics(dt, i, t_cut)
        self._wear_rocks(dt, abs(w_avg) * dt)
        self._regolith_flow(dt, depth, w_avg)
        p_arm = self._arm(dt, act, t_cut)
        p_drive = self._drive(dt, act)
        self._tilt(dt, t_cut)
        self._thermal(dt, i)
        self._battery(dt, p_drum + p_arm + p_drive + self.config.avionics_w, p_arm, p_drive)
        s = self.state
        s.vibration = 0.05 + 0.04 * t_cut + 0.05 * abs(s.omega) + 3.0 * abs(s.speed)
        s.time += dt

    def _resisting_torque(self, depth: float) -> float:
        """Soil + rock torque (N m) on the drum at *depth*; forgets rocks lifted off."""
        s = self.state
        t_soil = self.cutting_torque(depth, s.omega)
        t_rock = 0.0
        if s.rocks:
            keep = []
            for r in s.rocks:
                if r.depth > 0.0:
                    scale = min(1.0, depth / r.depth)
                    if scale <= 0.0:
                        continue  # drum lifted off the rock
                    t_rock += r.torque * scale * scale
                else:
                    t_rock += r.torque
                keep.append(r)
            s.rocks = keep
        return t_soil + t_rock

    def _drum_current(self, act: Actuation) -> float:
        """The current loop: ideal inside the voltage the bus can give."""
        if not act.drum_on:
            return 0.0
        c, s = self.config, self.state
        k, R = c.motor_k, c.motor_resistance
        i_hi = (s.bus_voltage - k * s.omega) / R
        i_lo = (-s.bus_voltage - k * s.omega) / R
        return min(max(act.drum_current, i_lo), i_hi)

    def _drum_mechanics(self, dt: float, i: float, t_cut: float) -> tuple[float, float]:
        """Drum speed with stiction; books friction, soil and copper energy. Returns the
        mean speed over the step (rad/s) and the drum's electrical power (W)."""
        c, s, e = self.config, self.state, self.energy
        k, R, J = c.motor_k, c.motor_resistance, c.drum_inertia
        w0 = s.omega
        t_static = c.coulomb_friction + t_cut
        t_m = k * i
        if w0 == 0.0:
            if abs(t_m) <= t_static:
                w1 = 0.0
            else:
                w1 = dt * (t_m - math.copysign(t_static, t_m)) / J
        else:
            sgn = 1.0 if w0 > 0 else -1.0
            w1 = w0 + dt * (t_m - sgn * t_static - c.viscous_friction * w0) / J
            if w1 * sgn < 0.0:
                w1 = 0.0
        w_avg = 0.5 * (w0 + w1)
        s.stalled = w1 == 0.0 and abs(t_m) > 0.0
        s.omega = w1
        s.theta = (s.theta + w_avg * dt) % (2 * math.pi * 64)
        s.drum_current = i
        s.motor_voltage = R * i + k * w_avg
        s.cut_torque = t_cut
        e.copper += R * i * i * dt
        e.friction += (c.coulomb_friction * abs(w_avg) + c.viscous_friction * w0 * w_avg) * dt
        e.soil += t_cut * abs(w_avg) * dt
        return w_avg, R * i * i + k * i * w_avg

    def _wear_rocks(self, dt: float, turned: float) -> None:
        """Rocks wear out with rotation (and injected ones with time)."""
        s = self.state
        if s.rocks:
            for r in s.rocks:
                r.angle_left -= turned
                r.time_left -= dt
            s.rocks = [r for r in s.rocks if r.angle_left > 0.0 and r.time_left > 0.0]

    def _regolith_flow(self, dt: float, depth: float, w_avg: float) -> None:
        """Cutting fills the bucket (spilling over capacity) and meets buried rocks;
        reverse rotation empties it."""
        c, so, s = self.config, self.soil, self.state
        if w_avg > 0.0 and depth > 0.0:
            swept = so.density * c.drum_width * depth * c.drum_radius * w_avg * dt
            dm = swept * c.fill_efficiency
            s.excavated += dm
            room = c.bucket_capacity - s.bucket_mass
            if dm <= room:
                s.bucket_mass += dm
            else:
                s.bucket_mass = c.bucket_capacity
                s.spilled += dm - max(room, 0.0)
            # buried rocks: Poisson in excavated volume
            if so.rocks_per_m3 > 0.0 and self.rng.random() < so.rocks_per_m3 * swept / so.density:
                torque = so.rock_torque * self.rng.lognormvariate(0.0, so.rock_sigma)
                # a rock that the drum cannot break out shifts by itself after a while
                s.rocks.append(Rock(torque, depth, so.rock_angle,
                                    so.rock_shift_time * self.rng.uniform(0.5, 1.5)))
                s.rocks_met += 1
        elif w_avg < 0.0 and s.bucket_mass > 0.0:
            out = min(s.bucket_mass, c.dump_per_rad * abs(w_avg) * dt)
            s.bucket_mass -= out
            if s.arm_pos >= c.arm_stow - 0.02:
                s.dumped += out
            else:
                s.spilled += out

    def _arm(self, dt: float, act: Actuation, t_cut: float) -> float:
        """Arm position between its end stops and the actuator's current; returns its
        power (W)."""
        c, so, s = self.config, self.soil, self.state
        s.arm_vel += (act.arm_velocity - s.arm_vel) * min(1.0, dt / c.arm_tau)
        z = s.arm_pos + s.arm_vel * dt
        s.at_end_stop = 0
        if z <= c.arm_min:
            z, s.arm_vel, s.at_end_stop = c.arm_min, 0.0, -1
        elif z >= c.arm_max:
            z, s.arm_vel, s.at_end_stop = c.arm_max, 0.0, 1
        s.arm_pos = z
        f_arm = ((c.arm_assembly_mass + s.bucket_mass) * so.gravity
                 + 0.5 * t_cut / c.drum_radius)
        s.arm_current = c.arm_idle_current + (f_arm / c.arm_newton_per_amp) * (
            0.3 + 0.7 * min(1.0, abs(s.arm_vel) / 0.05))
        return c.arm_supply_v * s.arm_current

    def _drive(self, dt: float, act: Actuation) -> float:
        """Acceleration-limited speed and yaw on the site map; returns the drive power (W)."""
        c, so, s = self.config, self.soil, self.state
        dv = act.drive_speed - s.speed
        max_dv = c.drive_accel * dt
        s.speed += min(max(dv, -max_dv), max_dv)
        s.yaw_rate = act.yaw_rate
        s.heading = (s.heading + s.yaw_rate * dt + math.pi) % (2 * math.pi) - math.pi
        if s.speed:
            s.x += s.speed * math.cos(s.heading) * dt
            s.y += s.speed * math.sin(s.heading) * dt
        pose = (s.x, s.y, s.heading)
        if pose != self._tilt_pose:  # standing still (most of the time): same ground
            self._tilt_pose = pose
            self._terrain_tilt = self.site.tilt_deg(*pose)
        m = self.total_mass
        f_drive = m * so.gravity * (c.rolling_resistance * (1 if s.speed else 0)
                                    + math.sin(math.radians(self._terrain_tilt[0])))
        return max(0.0, f_drive * s.speed) / c.drive_efficiency + 15.0 * abs(s.yaw_rate)

    def _tilt(self, dt: float, t_cut: float) -> None:
        """Pitch and roll follow the terrain under the chassis plus the dig reaction."""
        c, s = self.config, self.state
        terrain_pitch, terrain_roll = self._terrain_tilt
        a = min(1.0, dt / c.tilt_tau)
        s.pitch += (terrain_pitch + c.pitch_per_nm * t_cut - s.pitch) * a
        s.roll += (terrain_roll + c.roll_per_nm * t_cut - s.roll) * a

    def _thermal(self, dt: float, i: float) -> None:
        """Copper losses in, radiation out (vacuum: no convection)."""
        c, s = self.config, self.state
        tk = s.motor_temp + _K0
        p_rad = _SIGMA_SB * c.emissive_area * (tk**4 - (c.sink_temp_c + _K0) ** 4)
        s.motor_temp += (c.motor_resistance * i * i - p_rad) * dt / c.thermal_capacity

    def _battery(self, dt: float, p_total: float, p_arm: float, p_drive: float) -> None:
        """The bus current that delivers *p_total* W exactly; books the energy ledger."""
        c, s, e = self.config, self.state, self.energy
        ocv = self.ocv()
        rb = c.battery_resistance
        disc = ocv * ocv - 4.0 * rb * p_total
        ib = (ocv - math.sqrt(disc)) / (2.0 * rb) if disc > 0 else ocv / (2.0 * rb)
        s.battery_current = ib
        s.bus_voltage = ocv - rb * ib
        s.soc -= ib * dt / (c.capacity_ah * 36.0)
        e.chemical += ocv * ib * dt
        e.battery_loss += rb * ib * ib * dt
        e.arm += p_arm * dt
        e.drive += p_drive * dt
        e.avionics += c.avionics_w * dt

    def record(self) -> tuple[float, ...]:
        """The true values of the fast channels (plus synthesis extras), one record row."""
        s, c = self.state, self.config
        duty = min(1.0, abs(s.motor_voltage) / max(s.bus_voltage, 1.0))
        ripple = (s.bus_voltage * duty * (1 - duty) / (c.motor_inductance * c.pwm_hz) * 0.5
                  if s.drum_current else 0.0)
        return (s.drum_current, s.omega, -s.arm_pos, s.arm_current, s.bucket_mass, s.pitch,
                s.roll, s.motor_temp, s.bus_voltage, s.battery_current, s.vibration, s.arm_pos,
                s.theta, ripple, 0.02 * abs(s.omega) * c.gear_ratio / 100.0)

    def slow_record(self) -> tuple[float, float, float, float]:
        s = self.state
        return (s.x, s.y, s.heading, s.soc)
