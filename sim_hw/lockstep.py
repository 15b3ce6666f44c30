"""The simulated rig without a port or a clock, stepped by its caller (tests of the parts).

Benchmarks and the controller's loop tests use the whole ``Rig`` instead, over the
in-memory link (``rig_bench.lockstep``).

``LockstepRig`` holds the same parts as ``Rig`` (``RigPlant``, ``Firmware``,
``SensorSynth``, seeded the same way, so a seed gives the same soil, rocks and
sensor noise) but no link: the caller hands it firmware-protocol messages
(``deliver``) and advances simulated time (``advance``), which returns what
the firmware would have sent: sample batches of both streams, events and
command results, in order. One clock: simulated seconds, used for the
physics and for everything the firmware times (set-point deadlines, the
watchdog).

What this leaves out, on purpose: framing, CRCs, retransmission, line faults
and wall-time jitter (the pty tests cover those). What it keeps: the
firmware's inner loops and protections, the plant, and the raw int16 samples
with their noise, ripple, vibration and spikes.

``truth`` (``sim_hw.truth.TruthRecorder``) books what really happened; only
the benchmark reads it, never the controller.
"""

from __future__ import annotations

import numpy as np

from firmware_bridge.messages import (
    PROTOCOL_VERSION,
    FirmwareInfo,
    Message,
    SampleBatch,
)

from .channels import FAST_STREAM, SLOW_RATE_HZ, SLOW_STREAM, channel_table
from .errors import SimUsageError
from .firmware import CAPABILITIES, Firmware, FirmwareConfig
from .plant import RigPlant
from .plant_config import PlantConfig, SoilConfig
from .sensors import SensorSynth
from .truth import TruthRecorder

__all__ = ["LockstepRig"]

_SESSION = 1


class LockstepRig:
    """Plant + firmware + sensors in simulated time; see the module docstring."""

    def __init__(self, *, seed: int = 0, soil: SoilConfig | None = None,
                 plant: PlantConfig | None = None, sample_rate_hz: int = 1000,
                 batch_samples: int = 5, plant_rate_hz: int = 1000,
                 sensors: str = "noisy") -> None:
        if plant_rate_hz % sample_rate_hz and sample_rate_hz % plant_rate_hz:
            raise SimUsageError(f"sample_rate_hz {sample_rate_hz} and plant_rate_hz "
                                f"{plant_rate_hz}: one must divide the other")
        pc = plant or PlantConfig()
        seeds = np.random.SeedSequence(seed).spawn(3)  # as Rig does: same seed, same rig
        self.plant = RigPlant(pc, soil, seed=int(seeds[0].generate_state(1)[0]))
        self.sensors = SensorSynth(sample_rate_hz, np.random.default_rng(seeds[1]), pc, sensors)
        self.firmware = Firmware(FirmwareConfig(sample_rate_hz=sample_rate_hz,
                                                batch_samples=batch_samples), self.plant)
        self.truth = TruthRecorder()
        self.info = FirmwareInfo(
            protocol_version=PROTOCOL_VERSION, firmware_id="regolith-rig-lockstep",
            version=(0, 1, 0), session_id=_SESSION, boot_id=1, capabilities=CAPABILITIES,
            sample_rate_hz=sample_rate_hz, batch_samples=batch_samples,
            channels=channel_table(sensors))
        self._rate = sample_rate_hz
        self._batch = batch_samples
        self._dtp = 1.0 / plant_rate_hz
        self._j = 0  # plant steps done
        self._k = 0  # fast samples emitted
        self._m = 0  # slow samples emitted
        self._rows: list[tuple[float, ...]] = [self.plant.record()]
        self._rows_j0 = 0
        self._seq = [0, 0]
        self._out: list[Message] = []

    @property
    def time(self) -> float:
        """Simulated seconds since the rig was made."""
        return self._j * self._dtp

    @property
    def status(self) -> int:
        """The firmware's status bits (what its heartbeats carry)."""
        return self.firmware.status

    def deliver(self, msg: Message, seq: int = 0) -> None:
        """A message from the controller arrives now (``seq``: its frame sequence number,
        which command results echo)."""
        fw = self.firmware
        now = self.time
        fw.controller_heard(now)
        fw.on_message(msg, seq, _SESSION, now, fw.time_us())

    def heard(self) -> None:
        """The controller's heartbeat arrived now (keeps the firmware watchdog fed)."""
        self.firmware.controller_heard(self.time)

    def advance(self, seconds: float) -> list[Message]:
        """Run the physics for *seconds*; returns what the firmware sent meanwhile."""
        dtp = self._dtp
        j = self._j
        end = round((j * dtp + seconds) / dtp)
        plant, fw, truth = self.plant, self.firmware, self.truth
        step, record, control = plant.step, plant.record, fw.control
        watchdog, booked = fw.check_watchdog, truth.update
        add_row = self._rows.append
        while j < end:
            now = j * dtp
            watchdog(now)
            step(dtp, control(dtp, now))
            j += 1
            add_row(record())
            booked(j * dtp, plant, fw)
        self._j = j
        self._emit_fast()
        self._emit_slow()
        out = self._out
        out.extend(msg for msg, _session in fw.outbox)
        fw.outbox.clear()
        self._out = []
        return out

    def _emit_fast(self) -> None:
        rate, b = self._rate, self._batch
        k_avail = int(self.time * rate + 1e-6) + 1  # samples with time <= now
        k_end = (k_avail // b) * b
        k0 = self._k
        if k_end <= k0:
            return
        ts = np.arange(k0, k_end, dtype=np.float64) / rate
        counts = self.sensors.fast(np.array(self._rows), self._rows_j0 * self._dtp, self._dtp,
                                   ts)
        period_ns = round(1e9 / rate)
        for i in range(0, k_end - k0, b):
            self._out.append(SampleBatch(FAST_STREAM, self._seq[FAST_STREAM],
                                         round((k0 + i) / rate * 1e6), period_ns,
                                         counts[i:i + b]))
            self._seq[FAST_STREAM] += 1
        self._k = k_end
        j_next = int((k_end / rate) / self._dtp)
        drop = min(max(0, j_next - self._rows_j0), len(self._rows) - 1)
        if drop:
            del self._rows[:drop]
            self._rows_j0 += drop

    def _emit_slow(self) -> None:
        while self._m / SLOW_RATE_HZ <= self.time + 1e-9:
            t = self._m / SLOW_RATE_HZ
            self._m += 1
            counts = self.sensors.slow(self.plant.slow_record(), t)
            self._out.append(SampleBatch(SLOW_STREAM, self._seq[SLOW_STREAM], round(t * 1e6),
                                         round(1e9 / SLOW_RATE_HZ), counts))
            self._seq[SLOW_STREAM] += 1

    def __repr__(self) -> str:
        return f"LockstepRig(t={self.time:.3f} s, rocks met {self.plant.state.rocks_met})"
