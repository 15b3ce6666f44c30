"""Builders for the pure controller tests (plain numbers for time)."""

from __future__ import annotations

from dataclasses import replace

from control.core.config import ControllerConfig, load_config
from control.core.measurements import Measurements
from control.core.step import (
    ControlCore,
    FirmwareRequest,
    LinkUp,
    RequestFinished,
    StepInputs,
    StepOutput,
)
from sim_hw.firmware import CAPABILITIES as SIM_CAPABILITIES

NOMINAL = Measurements(
    drum_current=2.0, drum_speed=0.0, cut_depth=-0.3, arm_current=0.4, bucket_load=0.0,
    pitch=1.0, roll=0.5, motor_temp=20.0, battery_voltage=48.0, battery_current=2.0,
    vibration=0.1, arm_position=0.3, x=0.0, y=0.0, heading=0.0, battery_soc=90.0,
    age=0.01, nav_age=0.05)


def config(**sections: dict) -> ControllerConfig:
    return load_config(None, **sections)


def meas(**kw: float) -> Measurements:
    return replace(NOMINAL, **kw)


class Driver:
    """Steps a ControlCore at 100 Hz of plant time and plays the firmware's answers."""

    def __init__(self, core: ControlCore, dt: float = 0.01) -> None:
        self.core = core
        self.dt = dt
        self.now = 0.0
        self.outputs: list[StepOutput] = []
        self.pending: list = []

    def step(self, m: Measurements = NOMINAL, notices: tuple = (), status: int | None = 0,
             auto_ok: bool = True) -> StepOutput:
        self.now += self.dt
        answers: tuple = ()
        if auto_ok:
            answers = tuple(RequestFinished(r.request_id, True) for r in self.pending)
            self.pending = []
        out = self.core.step(self.now, self.dt, StepInputs(m, status, True,
                                                           answers + tuple(notices)))
        self.pending += [r for r in out.requests if isinstance(r, FirmwareRequest)]
        self.outputs.append(out)
        return out

    def connect(self, capabilities: int = SIM_CAPABILITIES) -> StepOutput:
        """The link comes up with a firmware that has *capabilities* (the simulator's)."""
        return self.step(notices=(LinkUp("sim", capabilities=capabilities),))
