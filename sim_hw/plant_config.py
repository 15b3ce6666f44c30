"""Physical parameters of the simulated rig and of the soil it digs.

All SI units (angles in rad unless the name says deg, temperatures in degC).
The defaults describe a ~70 kg RASSOR-style rig on lunar regolith: a full dig
cycle (lower the arm, dig ~30 kg at 4 cm, stow, dump) takes about 45 s.
``SOIL_PRESETS`` names three soils (loose, compacted, rocky) for benchmarks
and ``rig-sim --soil NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from rig_common import finite_in

from .errors import SimUsageError


def _usage_error(key: str, problem: str) -> SimUsageError:
    return SimUsageError(f"{key}: {problem}")


@dataclass(frozen=True, slots=True)
class SoilConfig:
    density: float = 1500.0  # bulk density, kg/m^3
    cohesion: float = 500.0  # Pa
    gravity: float = 1.62  # m/s^2 (Moon)
    cohesion_factor: float = 10.0  # Nc-like cutting factor (dimensionless)
    weight_factor: float = 20.0  # Ngamma-like cutting factor (dimensionless)
    speed_factor: float = 0.2  # cutting force grows by this per m/s of tip speed
    rocks_per_m3: float = 30.0  # buried rocks met per m^3 excavated
    rock_torque: float = 30.0  # median extra drum torque of a rock, N m (log-normal)
    rock_sigma: float = 0.8  # log-normal spread of rock torque
    rock_angle: float = 1.5  # drum rotation (rad) needed to break a rock out
    rock_shift_time: float = 4.0  # s after which a stuck rock gives way by itself

    def __post_init__(self) -> None:
        for f in fields(self):
            finite_in(getattr(self, f.name), f"soil {f.name}", 0, error=_usage_error)
        if self.density <= 0 or self.gravity <= 0:
            raise SimUsageError("soil density and gravity must be > 0")

    @classmethod
    def parse(cls, spec: str, base: SoilConfig | None = None) -> SoilConfig:
        """``"density=1600,cohesion=800"`` -> SoilConfig; names the bad key on error. The
        first item may name a preset (``"rocky"``, ``"compacted,rocks_per_m3=0"``)."""
        items = [p.strip() for p in spec.split(",") if p.strip()]
        if items and "=" not in items[0]:
            preset = SOIL_PRESETS.get(items[0])
            if preset is None:
                raise SimUsageError(f"soil: unknown preset {items[0]!r}; expected one of "
                                    f"{', '.join(SOIL_PRESETS)} or KEY=VALUE")
            base = preset
            items = items[1:]
        base = base or cls()
        names = {f.name for f in fields(cls)}
        changes: dict[str, float] = {}
        for item in items:
            key, sep, value = item.partition("=")
            key = key.strip()
            if not sep:
                raise SimUsageError(f"soil: expected KEY=VALUE, got {item!r}")
            if key not in names:
                raise SimUsageError(
                    f"soil: unknown property {key!r}; expected one of {', '.join(sorted(names))}")
            try:
                changes[key] = float(value)
            except ValueError:
                raise SimUsageError(f"soil {key}: expected a number, got {value!r}") from None
        return replace(base, **changes)


#: Named soils (``--soil NAME``, the mission benchmark). The default ``SoilConfig()`` is
#: a mixed lunar regolith with buried rocks up to several times the drum's torque.
SOIL_PRESETS: dict[str, SoilConfig] = {
    # fine, loose surface regolith with a few pebbles
    "loose": SoilConfig(density=1300.0, cohesion=170.0, rocks_per_m3=5.0, rock_torque=8.0,
                        rock_sigma=0.5),
    # dense, cohesive regolith from below the surface layer, a few pebbles
    "compacted": SoilConfig(density=1800.0, cohesion=2000.0, rocks_per_m3=5.0,
                            rock_torque=10.0, rock_sigma=0.5),
    # a rock field: many buried rocks, the larger ones beyond what the drum can push
    "rocky": SoilConfig(density=1600.0, cohesion=800.0, rocks_per_m3=60.0, rock_torque=35.0,
                        rock_sigma=0.8),
}


@dataclass(frozen=True, slots=True)
class PlantConfig:
    # drum and its motor (constants referred to the drum shaft, 100:1 gearbox included)
    drum_radius: float = 0.2  # m
    drum_width: float = 0.3  # m
    motor_k: float = 4.0  # torque constant N m/A == back-EMF constant V s/rad
    motor_resistance: float = 0.3  # ohm
    motor_inductance: float = 0.5e-3  # H (only for the PWM ripple amplitude)
    pwm_hz: float = 19_531.0
    gear_ratio: float = 100.0
    gear_teeth: int = 17
    drum_inertia: float = 1.0  # kg m^2, motor rotor reflected through the gearbox
    coulomb_friction: float = 2.0  # N m
    viscous_friction: float = 0.5  # N m s/rad
    scoops: int = 8
    bucket_capacity: float = 30.0  # kg
    fill_efficiency: float = 0.1  # share of the swept slab that ends up in the bucket
    dump_per_rad: float = 2.0  # kg released per rad of reverse drum rotation
    # arm actuator (position = drum bottom height above ground, m; cut depth = -position)
    arm_min: float = -0.10  # lower end stop
    arm_max: float = 0.32  # upper end stop
    arm_stow: float = 0.30
    arm_start: float = 0.30
    arm_tau: float = 0.05  # s, velocity response
    arm_idle_current: float = 0.3  # A
    arm_newton_per_amp: float = 150.0
    arm_assembly_mass: float = 15.0  # kg carried by the actuator besides the regolith
    arm_supply_v: float = 12.0
    # chassis and drive
    rig_mass: float = 70.0  # kg without regolith
    rolling_resistance: float = 0.05
    drive_efficiency: float = 0.6
    drive_accel: float = 0.5  # m/s^2
    start_x: float = 0.0
    start_y: float = 0.0
    start_heading: float = 0.0
    # tilt response to dig reaction
    pitch_per_nm: float = 0.04  # deg per N m of cutting torque
    roll_per_nm: float = 0.01
    tilt_tau: float = 0.2  # s
    # thermal (vacuum: radiation only)
    thermal_capacity: float = 800.0  # J/K
    emissive_area: float = 0.068  # emissivity x area, m^2
    sink_temp_c: float = -23.0
    start_temp_c: float = 20.0
    # battery
    capacity_ah: float = 40.0
    battery_resistance: float = 0.08  # ohm
    ocv_empty: float = 42.0  # V at 0 % SoC
    ocv_full: float = 50.4  # V at 100 % SoC
    start_soc: float = 90.0  # %
    avionics_w: float = 30.0

    def __post_init__(self) -> None:
        if not self.arm_min < 0 < self.arm_stow <= self.arm_max:
            raise SimUsageError("PlantConfig needs arm_min < 0 < arm_stow <= arm_max")
        for name in ("drum_inertia", "thermal_capacity", "capacity_ah", "bucket_capacity",
                     "motor_k", "motor_resistance", "battery_resistance"):
            if not getattr(self, name) > 0:
                raise SimUsageError(f"PlantConfig.{name} must be > 0, got {getattr(self, name)}")
