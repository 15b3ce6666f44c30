"""The lockstep rig of the soak (bench_soak.py), with faults and a cable that can be pulled.

``SoakRig`` wraps a ``sim_hw.lockstep.LockstepRig`` for ``rig_bench.lockstep.LockstepRunner``
and is the ``FaultTargets`` of a ``sim_hw.injector.FaultInjector``: rocks go to
the plant, stuck and spike overlays to the sensor synthesiser (the injector's
own code), a firmware reset replaces the firmware (state lost, motors off) and
tells the controller the link went down and came back, as the app's bridge
would; a pulled cable loses everything both ways for its duration (the
firmware's watchdog stops the motors, the controller's sensors go stale) and
ends with ``LinkUp(reconnect=True)``.

``FaultClock`` holds the soak's fault schedule in soak time (simulated seconds
since the soak began, across missions) and hands each due fault to the
mission that is flying then.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from control.core.step_messages import LinkDown, LinkUp
from firmware_bridge.messages import FirmwareInfo, Message, ResetReason
from rig_bench.lockstep import LockstepRunner
from sim_hw.firmware import Firmware
from sim_hw.injector import FaultInjector
from sim_hw.line import LineFaults
from sim_hw.lockstep import LockstepRig
from sim_hw.plant import RigPlant
from sim_hw.scenario import Fault, parse_fault
from sim_hw.sensors import SensorSynth

__all__ = ["FaultClock", "SoakRig", "fault_kinds"]

# what the soak injects, in turn (the simulator's --fault grammar, without a time:
# each is injected when it falls due)
FAULTS = ("rock:torque=250", "spikes:channel=drum_current,duration=5", "disconnect:duration=3",
          "reset:reason=watchdog", "stuck:channel=vibration,duration=120")


def fault_kinds() -> tuple[str, ...]:
    return tuple(f.split(":")[0] for f in FAULTS)


class SoakRig:
    """A ``LockstepRig`` with faults (see the module docstring)."""

    def __init__(self, rig: LockstepRig) -> None:
        self.rig = rig
        self.runner: LockstepRunner | None = None  # set once the runner is made
        self.line = LineFaults(np.random.default_rng(0))  # no line faults in lockstep
        self.injector = FaultInjector(self, wall_clock=lambda: 0.0)
        self._unplugged_until = -1.0
        self.resets = self.disconnects = 0

    # --- FaultTargets -------------------------------------------------------------------
    @property
    def plant(self) -> RigPlant:
        return self.rig.plant

    @property
    def sensors(self) -> SensorSynth:
        return self.rig.sensors

    @property
    def firmware(self) -> Firmware:
        return self.rig.firmware

    def reset_firmware(self, reason: ResetReason) -> None:
        old = self.rig.firmware
        self.rig.firmware = Firmware(old.config, self.rig.plant)
        self.resets += 1
        self._tell(LinkDown(f"firmware reset ({reason.name})"),
                   LinkUp(self.info.firmware_id, True, self.info.capabilities))

    def disconnect(self, duration: float) -> None:
        self.disconnects += 1
        self._unplugged_until = self.rig.time + duration
        self._tell(LinkDown("cable pulled"))

    def _tell(self, *notices: LinkDown | LinkUp) -> None:
        if self.runner is not None:
            for n in notices:
                self.runner.notify(n)
            if isinstance(notices[0], LinkDown):
                self.runner.feed.reset_streams()

    # --- InProcessRig ---------------------------------------------------------------------
    @property
    def info(self) -> FirmwareInfo:
        return self.rig.info

    @property
    def status(self) -> int:
        return self.rig.status

    @property
    def time(self) -> float:
        return self.rig.time

    @property
    def unplugged(self) -> bool:
        return self.rig.time < self._unplugged_until

    def deliver(self, msg: Message, seq: int = 0) -> None:
        if not self.unplugged:
            self.rig.deliver(msg, seq)

    def heard(self) -> None:
        if not self.unplugged:
            self.rig.heard()

    def advance(self, seconds: float) -> list[Message]:
        was_unplugged = self.unplugged
        self.injector.update(self.rig.time)
        out = self.rig.advance(seconds)
        if was_unplugged or self.unplugged:
            if was_unplugged and not self.unplugged:
                self._tell(LinkUp(self.info.firmware_id, True, self.info.capabilities))
            return []
        return out


class FaultClock:
    """The soak's faults: one every *every_s* soak seconds from *first_s*, in turn."""

    def __init__(self, first_s: float, every_s: float) -> None:
        self.next_at = first_s
        self.every = every_s
        self.injected: dict[str, int] = {}
        self._i = 0

    def due(self, soak_t: float) -> list[Fault]:
        out = []
        while soak_t >= self.next_at:
            spec = FAULTS[self._i % len(FAULTS)]
            self._i += 1
            self.next_at += self.every
            fault = parse_fault(spec)
            self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
            out.append(fault)
        return out
