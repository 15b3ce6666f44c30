"""The fault injector: applies scenario faults to the rig at their simulated time.

``FaultInjector.update(t)`` starts every fault whose time has come and ends
every fault whose duration is over, acting on a ``FaultTargets`` (the rig):
rocks and temperature/charge jumps go to the plant, stuck/dropout/spike
overlays to the sensor synthesiser, corruption and loss to the line, panel
e-stop, reset and disconnect to the rig, a lifted current clamp (``overcurrent``)
to the firmware. Each start is logged (in memory and
optionally as JSON lines) with its simulated and wall time. ``next_due`` is
the simulated time of the next thing to do, so the caller can check cheaply
at every plant step.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from typing import IO, Protocol

from firmware_bridge.messages import Param, ResetReason

from .channels import CHANNEL_IDS, CHANNELS
from .firmware import Firmware
from .line import LineFaults
from .plant import RigPlant
from .scenario import Fault
from .sensors import Overlay, SensorSynth

log = logging.getLogger(__name__)


class FaultTargets(Protocol):
    plant: RigPlant
    sensors: SensorSynth
    line: LineFaults

    @property
    def firmware(self) -> Firmware: ...

    def reset_firmware(self, reason: ResetReason) -> None: ...

    def disconnect(self, duration: float) -> None: ...


class FaultInjector:
    def __init__(self, targets: FaultTargets, faults: Iterable[Fault] = (), *,
                 wall_clock: Callable[[], float], log_file: IO[str] | None = None) -> None:
        self.targets = targets
        self.wall_clock = wall_clock
        self.log_file = log_file
        self.log: list[dict[str, object]] = []
        self._pending: list[tuple[float, int, Fault]] = []
        self._ending: list[tuple[float, int, Fault]] = []
        self._n = 0
        self._rated_limit: dict[int, float] = {}  # overcurrent fault -> clamp to restore
        for f in faults:
            self.add(f, 0.0)

    @property
    def next_due(self) -> float:
        t = self._pending[0][0] if self._pending else math.inf
        if self._ending:
            t = min(t, self._ending[0][0])
        return t

    def add(self, fault: Fault, now: float) -> None:
        """Schedule *fault* at its time, or at *now* if it has none or it has passed."""
        at = now if fault.at is None else max(fault.at, 0.0)
        self._n += 1
        self._pending.append((at, self._n, fault))
        self._pending.sort(key=lambda e: (e[0], e[1]))

    def update(self, t: float) -> None:
        while self._ending and self._ending[0][0] <= t:
            _, _, fault = self._ending.pop(0)
            self._end(fault)
        while self._pending and self._pending[0][0] <= t:
            at, n, fault = self._pending.pop(0)
            self._start(fault, at, t)
            d = fault.duration
            if d > 0 and math.isfinite(d):
                self._ending.append((at + d, n, fault))
                self._ending.sort(key=lambda e: (e[0], e[1]))

    # --- effects ------------------------------------------------------------------

    def _start(self, f: Fault, at: float, t: float) -> None:
        tg = self.targets
        k = f.kind
        entry = {"kind": k, "sim_time": round(t, 6), "scheduled": round(at, 6),
                 "wall_time": self.wall_clock(), "source": f.source,
                 "params": {k: v if not isinstance(v, float) or math.isfinite(v) else None
                            for k, v in f.params}}
        self.log.append(entry)
        if self.log_file is not None:
            self.log_file.write(json.dumps(entry) + "\n")
            self.log_file.flush()
        log.warning("fault injected at %.3f s: %s %s", t, k, dict(f.params))
        if k == "rock":
            tg.plant.add_rock(float(f["torque"]), angle=float(f["angle"]),
                              duration=float(f["duration"]) or math.inf)
        elif k == "stall":
            tg.plant.add_rock(1e5, angle=math.inf, duration=float(f["duration"]) or math.inf)
        elif k in ("stuck", "dropout", "spikes"):
            ch = CHANNEL_IDS[str(f["channel"])]
            amp = float(f.get("amplitude", 0.0))  # type: ignore[arg-type]
            if math.isnan(amp):
                amp = 0.1 * 32767 * CHANNELS[ch].scale
            tg.sensors.overlays.append(Overlay(
                k, ch, at, at + f.duration, value=float(f.get("value", math.nan)),  # type: ignore[arg-type]
                rate=float(f.get("rate", 0.0)), amplitude=amp))  # type: ignore[arg-type]
            if k == "dropout":
                tg.firmware.sensor_fault(ch, True)
        elif k in ("corrupt", "drop"):
            tg.line.set(k, str(f["direction"]), float(f["rate"]))
        elif k == "disconnect":
            tg.disconnect(float(f["duration"]))
        elif k == "reset":
            tg.reset_firmware(ResetReason[str(f["reason"]).upper()])
        elif k == "overtemp":
            tg.plant.set_motor_temp(float(f["temp"]))
        elif k == "lowbatt":
            tg.plant.set_soc(float(f["soc"]))
        elif k == "overcurrent":
            # the rated clamp is kept to restore it when the fault ends
            self._rated_limit.setdefault(id(f), tg.firmware.params[Param.DRUM_CURRENT_LIMIT_A])
            tg.firmware.params[Param.DRUM_CURRENT_LIMIT_A] = float(f["limit"])
            tg.plant.add_rock(float(f["torque"]), angle=math.inf,
                              duration=f.duration or math.inf)
        elif k == "estop":
            tg.firmware.panel_estop(True)
            if f.duration == 0:
                tg.firmware.panel_estop(False)

    def _end(self, f: Fault) -> None:
        tg = self.targets
        k = f.kind
        log.info("fault ended: %s %s", k, dict(f.params))
        if k == "dropout":
            tg.firmware.sensor_fault(CHANNEL_IDS[str(f["channel"])], False)
        elif k in ("corrupt", "drop"):
            tg.line.set(k, str(f["direction"]), 0.0)
        elif k == "estop":
            tg.firmware.panel_estop(False)
        elif k == "overcurrent" and id(f) in self._rated_limit:
            tg.firmware.params[Param.DRUM_CURRENT_LIMIT_A] = self._rated_limit.pop(id(f))
