"""The running rig: plant + firmware + sensors + faults behind a real port.

Theory of operation. ``Rig`` is the only place with I/O and a clock. One
asyncio timer (``_tick``, period ``max(2 ms, batch / time_scale)`` of wall
time) does, in order: the firmware watchdog check (wall time), then steps
the plant at ``plant_rate_hz`` of SIMULATED time up to ``time_scale`` x the
wall time elapsed (the firmware's ``control`` runs before every step and
the injector applies faults exactly at their simulated time), then
synthesises every whole batch of raw samples that is now due and sends it,
then the slow stream, then flushes the firmware's outbox and the link.

Two clocks, on purpose:

* simulated time: physics, sample generation, sample and event timestamps
  (``t0_us`` of each batch, ``Event.time_us``; microseconds since firmware
  boot) and fault times. It runs ``time_scale`` times faster than wall time.
* wall time (``loop.time()``): everything on the link: heartbeats, the
  heartbeat clock, command and setpoint deadlines, the firmware watchdog,
  because the controller's link runs on wall time.

The watchdog has its own timer at its exact deadline and is checked again before any
received byte is processed; on a declared link loss the firmware stops, then the link sends
one last heartbeat with the new status (docs/protocol.md section 6). Events that could not be
delivered are held and sent first in the next session. ``sensors`` picks the sensor profile.

If the process falls more than ``max_lag`` simulated seconds behind (the machine is too slow
for the rate asked), simulated time slips (counted in ``stats.slips``) instead of bursting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import IO

import numpy as np

from firmware_bridge.codec import encode_frame
from firmware_bridge.errors import BridgeUsageError, LinkDownError
from firmware_bridge.link import (
    DeliveryFailed,
    HandshakeCompleted,
    Link,
    LinkConfig,
    LinkEvent,
    LinkLost,
    MessageReceived,
    Role,
)
from firmware_bridge.messages import (
    PROTOCOL_VERSION,
    Event,
    FirmwareInfo,
    Message,
    ResetNotice,
    ResetReason,
    SampleBatch,
)
from firmware_bridge.transport import LinkProtocol

from .batch_sizer import BatchSizer, BatchSizingConfig
from .channels import FAST_STREAM, N_FAST, SLOW_RATE_HZ, SLOW_STREAM, channel_table
from .errors import SimUsageError
from .firmware import CAPABILITIES, Firmware, FirmwareConfig
from .injector import FaultInjector
from .line import LineFaults
from .plant import RigPlant
from .plant_config import PlantConfig, SoilConfig
from .ports import Exposure, PortSpec, PtySpec, make_exposure
from .scenario import Fault
from .sensors import SensorSynth
from .truth import TruthRecorder

log = logging.getLogger(__name__)

FIRMWARE_ID = "regolith-rig-sim"
FIRMWARE_VERSION = (0, 1, 0)
_MAX_BATCH_BYTES = 4096 - 20  # payload limit minus the batch header


@dataclass(frozen=True, slots=True)
class RigConfig:
    port: PortSpec = field(default_factory=PtySpec)
    seed: int = 0
    sample_rate_hz: int = 1000  # raw rate of the fast stream (simulated Hz)
    batch_ms: float = 5.0  # simulated ms of samples per SAMPLE_BATCH
    time_scale: float = 1.0
    watchdog_ms: int | None = None  # None: 250 ms, and the HELLO's watchdog_ms applies
    plant_rate_hz: int = 1000
    faults: tuple[Fault, ...] = ()
    fault_log: str | None = None  # JSON-lines file
    truth_log: str | None = None  # JSON-lines file of true dumps and totals (sim_hw.truth)
    soil: SoilConfig = field(default_factory=SoilConfig)
    sensors: str = "noisy"  # sensor profile (sim_hw.channels.SENSOR_PROFILES)
    plant: PlantConfig = field(default_factory=PlantConfig)
    link: LinkConfig = field(default_factory=LinkConfig)
    max_lag: float = 0.5  # simulated s of backlog before time slips
    # shorter batches on a noisy line (docs/protocol.md 4.6.1); None: always batch_ms
    batch_sizing: BatchSizingConfig | None = field(default_factory=BatchSizingConfig)

    def __post_init__(self) -> None:
        if not 1 <= self.sample_rate_hz <= 10_000_000:
            raise SimUsageError(f"sample_rate_hz must be 1 .. 1e7, got {self.sample_rate_hz}")
        if not (math.isfinite(self.time_scale) and 0 < self.time_scale <= 1000):
            raise SimUsageError(f"time_scale must be in (0, 1000], got {self.time_scale}")
        if not 10 <= self.plant_rate_hz <= 100_000:
            raise SimUsageError(f"plant_rate_hz must be 10 .. 1e5, got {self.plant_rate_hz}")
        if self.watchdog_ms is not None and not 20 <= self.watchdog_ms <= 10_000:
            raise SimUsageError(f"watchdog_ms must be 20 .. 10000, got {self.watchdog_ms}")
        exact = self.sample_rate_hz * self.batch_ms / 1000.0
        n = round(exact)
        if n < 1 or abs(exact - n) > 1e-6:
            raise SimUsageError(
                f"batch_ms {self.batch_ms} at {self.sample_rate_hz} Hz gives {exact:g} samples "
                "per batch; it must be a whole number >= 1")
        if n * N_FAST * 2 > _MAX_BATCH_BYTES:
            raise SimUsageError(f"batch_ms {self.batch_ms} at {self.sample_rate_hz} Hz gives {n}"
                                f" samples x {N_FAST} channels = {n * N_FAST * 2} bytes, more "
                                f"than one frame carries ({_MAX_BATCH_BYTES}); use a smaller "
                                "batch_ms")

    @property
    def batch_samples(self) -> int:
        return round(self.sample_rate_hz * self.batch_ms / 1000.0)


@dataclass(slots=True)
class RigStats:
    ticks: int = 0
    plant_steps: int = 0
    batches_sent: int = 0
    samples_sent: int = 0
    samples_unsent: int = 0  # generated while no session was up
    slips: int = 0
    slipped_s: float = 0.0
    max_lag_s: float = 0.0
    resets: int = 0
    disconnects: int = 0
    messages_dropped: int = 0


class _RigProtocol(LinkProtocol):
    """LinkProtocol with line faults on both directions and the firmware's ear."""

    def __init__(self, rig: Rig) -> None:
        super().__init__(rig.link, rig.on_link_event)
        self.rig = rig

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.rig.attach_port(self)
        self.pump()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.rig.detach_port(self, exc)

    def data_received(self, data: bytes) -> None:
        rig = self.rig
        if rig.line.active:
            data = rig.line.mangle(data, "rx")
        link = self.link
        now = self.loop.time()
        rig.check_watchdog(now)  # a frame arriving after the deadline cannot undo a due trip
        before = link.stats.frames_rx
        link.receive_data(data, now)
        if link.is_up and link.stats.frames_rx != before:
            rig.firmware.controller_heard(now)
        self.pump()

    def pump(self) -> None:
        link = self.link
        while (event := link.next_event()) is not None:
            self.on_event(event)
        self.rig.flush_outbox()
        self.write(link.data_to_send())
        self.arm_timer()

    def write(self, out: bytes) -> None:
        if out and self.transport is not None and not self.transport.is_closing():
            if self.rig.line.active:
                out = self.rig.line.mangle(out, "tx")
            self.transport.write(out)


class Rig:
    """The simulated rig behind a real port. ``url = await rig.start()``; ``await rig.stop()``.

    State for assertions: ``plant`` (true physical state in ``plant.state``,
    energy ledger in ``plant.energy``), ``firmware`` (``motors_enabled``,
    ``estop_latched``, ``watchdog_tripped``, ``status``...), ``link`` (the
    firmware side's ``Link``: ``counters()``), ``fault_log``, ``stats``.
    """

    def __init__(self, config: RigConfig | None = None) -> None:
        self.config = cfg = config or RigConfig()
        seeds = np.random.SeedSequence(cfg.seed).spawn(3)
        self.plant = RigPlant(cfg.plant, cfg.soil, seed=int(seeds[0].generate_state(1)[0]))
        self.sensors = SensorSynth(cfg.sample_rate_hz, np.random.default_rng(seeds[1]), cfg.plant,
                                   cfg.sensors)
        self.line = LineFaults(np.random.default_rng(seeds[2]))
        self.boot_id = 1
        self._fw_config = FirmwareConfig(
            sample_rate_hz=cfg.sample_rate_hz, batch_samples=cfg.batch_samples,
            watchdog_ms=cfg.watchdog_ms or 250, watchdog_fixed=cfg.watchdog_ms is not None)
        self.firmware = Firmware(self._fw_config, self.plant)
        self.link = self._new_link()
        self.batch_sizer = BatchSizer(cfg.batch_samples, N_FAST * 2, cfg.batch_sizing,
                                      samples_per_s=cfg.sample_rate_hz * cfg.time_scale,
                                      adaptive=cfg.batch_sizing is not None)
        self.stats = RigStats()
        self._log_file: IO[str] | None = None
        self.injector = FaultInjector(self, cfg.faults, wall_clock=time.time)
        self.truth = TruthRecorder()  # for benchmarks and summaries, never sent on the link
        self._truth_file: IO[str] | None = None
        self._exposure: Exposure | None = None
        self._proto: _RigProtocol | None = None
        self._held: deque[Message] = deque(maxlen=64)
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._watchdog_timer: asyncio.TimerHandle | None = None
        self._replug_timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dtp = 1.0 / cfg.plant_rate_hz
        self._j = 0  # plant steps done
        self._k = 0  # fast samples emitted (or skipped)
        self._m = 0  # slow samples emitted
        self._rows: list[tuple[float, ...]] = [self.plant.record()]
        self._rows_j0 = 0
        self._stream_seq = [0, 0]
        self._boot_sim = 0.0
        self._wall0 = 0.0
        self._sim0 = 0.0
        self._period = max(0.002, cfg.batch_ms / 1000.0 / cfg.time_scale)
        self._next_tick = 0.0
        self._max_steps = max(1, math.ceil(4 * self._period * cfg.time_scale / self._dtp))
        self.url: str | None = None

    # --- lifecycle ---------------------------------------------------------------

    def _info(self) -> FirmwareInfo:
        cfg = self.config
        return FirmwareInfo(
            protocol_version=PROTOCOL_VERSION, firmware_id=FIRMWARE_ID, version=FIRMWARE_VERSION,
            session_id=0, boot_id=self.boot_id, capabilities=CAPABILITIES,
            sample_rate_hz=cfg.sample_rate_hz, batch_samples=cfg.batch_samples,
            channels=channel_table(cfg.sensors))

    def _new_link(self) -> Link:
        link = Link(Role.FIRMWARE, self.config.link, firmware_info=self._info())
        link.status = self.firmware.status
        return link

    async def __aenter__(self) -> Rig:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> str:
        """Open the port and start the rig; returns the URL to give the controller."""
        loop = self._loop = asyncio.get_running_loop()
        if self.config.fault_log:
            self._log_file = open(self.config.fault_log, "a", encoding="utf-8")
            self.injector.log_file = self._log_file
        if self.config.truth_log:
            self._truth_file = open(self.config.truth_log, "a", encoding="utf-8")
            self.truth.log_file = self._truth_file
        now = loop.time()
        self._wall0 = now
        self.link.set_clock_origin(now)
        self._exposure = make_exposure(self.config.port, lambda: _RigProtocol(self))
        self.url = await self._exposure.open()
        self._next_tick = now + self._period
        self._timer = loop.call_at(self._next_tick, self._tick)
        log.info("rig up on %s (%d Hz x %d channels, batches of %d, time scale %g)",
                 self.url, self.config.sample_rate_hz, N_FAST, self.config.batch_samples,
                 self.config.time_scale)
        return self.url

    async def stop(self) -> None:
        for name in ("_timer", "_replug_timer", "_watchdog_timer"):
            handle = getattr(self, name)
            if handle is not None:
                handle.cancel()
                setattr(self, name, None)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._exposure is not None:
            await self._exposure.close()
            self._exposure = None
        await asyncio.sleep(0)  # let connection_lost callbacks run
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._truth_file is not None:
            self.truth.close(self.sim_time, self.plant)
            self._truth_file.close()
            self._truth_file = None

    # --- public helpers ---------------------------------------------------------------

    @property
    def sim_time(self) -> float:
        """Simulated seconds since the rig started."""
        return self._j * self._dtp

    @property
    def fault_log(self) -> list[dict[str, object]]:
        return self.injector.log

    def inject(self, fault: Fault) -> None:
        """Schedule *fault* at its time (or now if it has none or it has passed)."""
        self.injector.add(fault, self.sim_time)

    # --- fault targets --------------------------------------------------------------

    def reset_firmware(self, reason: ResetReason) -> None:
        """Firmware reset: new boot id, firmware state lost, RESET_NOTICE on the line."""
        assert self._loop is not None
        now = self._loop.time()
        old = self.firmware
        self.boot_id += 1
        self.stats.resets += 1
        # the new boot's streams start at the next whole batch (timestamps >= 0)
        rate, b = self.config.sample_rate_hz, self.config.batch_samples
        self._boot_sim = self.sim_time
        self._k = max(self._k, math.ceil(self._boot_sim * rate / b - 1e-9) * b)
        self._m = max(self._m, math.ceil(self._boot_sim * SLOW_RATE_HZ - 1e-9))
        self.firmware = Firmware(self._fw_config, self.plant)
        for o in self.sensors.overlays:
            if o.kind == "dropout" and o.start <= self.sim_time < o.end:
                self.firmware.sensor_fault(o.channel, True)
        if old.estop_cause:
            self.firmware.panel_estop(True)
        self._held.clear()
        self.link = self._new_link()
        self.link.set_clock_origin(now)
        log.warning("firmware reset (%s): boot id %d", reason.name, self.boot_id)
        if self._proto is not None:
            self._proto.link = self.link
            self._proto.write(encode_frame(ResetNotice(self.boot_id, reason), seq=0))
            self._proto.pump()

    def disconnect(self, duration: float) -> None:
        """Pull the cable for *duration* simulated seconds."""
        assert self._loop is not None
        if self._exposure is None:
            return
        self.stats.disconnects += 1
        wall = duration / self.config.time_scale
        log.warning("cable pulled for %.2f s (wall)", wall)
        self._exposure.unplug()
        self.link.connection_lost(self._loop.time(), "cable pulled")
        if self._replug_timer is not None:
            self._replug_timer.cancel()
        self._replug_timer = self._loop.call_later(wall, self._replug)

    def _replug(self) -> None:
        self._replug_timer = None
        if self._exposure is None:
            return
        task = asyncio.get_running_loop().create_task(self._exposure.open(), name="rig:replug")
        self._tasks.add(task)
        task.add_done_callback(self._replugged)

    def _replugged(self, task: asyncio.Task[str]) -> None:  # type: ignore[type-arg]
        self._tasks.discard(task)  # type: ignore[arg-type]
        if task.cancelled():
            return
        if task.exception() is not None:
            log.error("cannot re-open the port: %s", task.exception())
            return
        self.url = task.result()
        log.warning("cable plugged back in: %s", self.url)

    # --- protocol callbacks -----------------------------------------------------------

    def attach_port(self, proto: _RigProtocol) -> None:
        """A connection opened: it drives the firmware's link (one cable, one client)."""
        old = self._proto
        self._proto = proto
        proto.link = self.link
        if old is not None and old is not proto:
            old.close()  # one cable: a new client replaces the old one

    def detach_port(self, proto: _RigProtocol, exc: Exception | None) -> None:
        """A connection closed."""
        if self._proto is proto:
            self._proto = None
            log.info("port closed%s", f": {exc}" if exc else "")

    def on_link_event(self, event: LinkEvent) -> None:
        """What the firmware does with each event of its link."""
        assert self._loop is not None
        now = self._loop.time()
        link = self.link
        fw = self.firmware
        if isinstance(event, MessageReceived):
            fw.on_message(event.message, event.seq, link.session_id, now,
                          link.local_time_us(now))
        elif isinstance(event, HandshakeCompleted):
            log.info("controller session %08x", link.session_id)
            fw.on_session(event.hello, now)
            self._stream_seq = [0, 0]
            held = list(self._held)
            self._held.clear()
            for msg in held:
                self._send(msg)
        elif isinstance(event, LinkLost):
            log.info("link lost: %s", event.reason)
            # stop first, then show the host that still listens the new status (section 6)
            waited = link.config.loss_timeout if event.direction == "tx" else None
            fw.link_lost(f"{event.direction}: {event.reason}", now, waited)
            link.status = fw.status
            link.send_heartbeat(now)
        elif isinstance(event, DeliveryFailed) and isinstance(event.message, Event):
            # an event sent into a session that died (the watchdog's own report, say) is
            # delivered in the next session, like the ones raised while the link was down
            self._held.append(event.message)
        link.status = fw.status

    def _send(self, msg: Message) -> bool:
        assert self._loop is not None
        try:
            self.link.send(msg, self._loop.time())
        except (LinkDownError, BridgeUsageError) as err:
            self.stats.messages_dropped += 1
            log.debug("dropped %s: %s", type(msg).__name__, err)
            return False
        return True

    def flush_outbox(self) -> None:
        """Hand the firmware's outbox to the link (events wait for the next session)."""
        fw = self.firmware
        link = self.link
        while fw.outbox:
            msg, session = fw.outbox.popleft()
            if link.is_up and (session is None or session == link.session_id):
                self._send(msg)
            elif session is None:
                self._held.append(msg)
            else:
                self.stats.messages_dropped += 1
        self._sync_link()

    def check_watchdog(self, now: float) -> None:
        """Trip the firmware watchdog if its deadline has passed (before any new input)."""
        self.firmware.check_watchdog(now)
        self.link.status = self.firmware.status

    def _sync_link(self) -> None:
        """Status bits for heartbeats; the link-loss timeout follows the watchdog (section 6)."""
        fw = self.firmware
        link = self.link
        link.status = fw.status
        loss = max(fw.watchdog_s, 2 * link.config.heartbeat_interval)
        if link.config.loss_timeout != loss:
            link.config = replace(link.config, loss_timeout=loss)
        self._arm_watchdog()

    def _arm_watchdog(self) -> None:
        """One timer no later than the watchdog deadline; it re-arms itself if heard since."""
        deadline = self.firmware.watchdog_deadline
        loop = self._loop
        if deadline is None or loop is None:
            return
        timer = self._watchdog_timer
        if timer is not None and timer.when() <= deadline:
            return
        if timer is not None:
            timer.cancel()
        self._watchdog_timer = loop.call_at(deadline, self._watchdog_fired)

    def _watchdog_fired(self) -> None:
        assert self._loop is not None
        self._watchdog_timer = None
        self.check_watchdog(self._loop.time())
        proto = self._proto
        if proto is not None:
            proto.pump()
        else:
            self.flush_outbox()

    # --- the tick -----------------------------------------------------------------------

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        self._next_tick += self._period
        if self._next_tick <= now:
            self._next_tick = now + self._period
        self._timer = loop.call_at(self._next_tick, self._tick)
        self.stats.ticks += 1
        cfg = self.config
        self.firmware.check_watchdog(now)

        dtp = self._dtp
        target = self._sim0 + (now - self._wall0) * cfg.time_scale
        lag = target - self.sim_time
        self.stats.max_lag_s = max(self.stats.max_lag_s, lag)
        if lag > cfg.max_lag:
            slip = lag - cfg.max_lag
            self._sim0 -= slip
            target -= slip
            self.stats.slips += 1
            self.stats.slipped_s += slip
            log.warning("simulator %.3f s behind: simulated time slips", lag)
        # bounded work per tick: an overloaded simulator lags (and then slips) but keeps
        # the loop, and so the link's heartbeats, responsive
        n_steps = min(int(target / dtp + 1e-9) - self._j, self._max_steps)
        if n_steps > 0:
            self._step_plant(n_steps, now)
        self.batch_sizer.observe_link(now, self.link.counters())  # what the host sends us
        self._emit_fast()
        self._emit_slow()
        proto = self._proto
        if proto is not None:
            proto.pump()
        else:
            self.flush_outbox()

    def _step_plant(self, n: int, now: float) -> None:
        plant = self.plant
        step = plant.step
        record = plant.record
        rows = self._rows
        inj = self.injector
        fw = self.firmware
        control = fw.control
        booked = self.truth.update
        dtp = self._dtp
        j = self._j
        for _ in range(n):
            if j * dtp >= inj.next_due:
                inj.update(j * dtp)
                if self.firmware is not fw:
                    fw = self.firmware
                    control = fw.control
            step(dtp, control(dtp, now))
            j += 1
            rows.append(record())
            booked(j * dtp, plant, fw)
        self._j = j
        self.stats.plant_steps += n

    def _emit_fast(self) -> None:
        rate = self.config.sample_rate_hz
        b = self.batch_sizer.batch_samples()
        k_avail = int(self._j * self._dtp * rate + 1e-6) + 1  # samples up to the plant's time
        k0 = self._k
        k_end = k0 + ((k_avail - k0) // b) * b if k_avail > k0 else k0
        if k_end <= k0:
            return
        if self.link.is_up:
            dtp, ts = self._dtp, np.arange(k0, k_end, dtype=np.float64) / rate
            counts = self.sensors.fast(np.array(self._rows), self._rows_j0 * dtp, dtp, ts)
            period_ns = round(1e9 / rate)
            for i in range(0, k_end - k0, b):
                t0_us = round(((k0 + i) / rate - self._boot_sim) * 1e6)
                seq = self._stream_seq[FAST_STREAM]
                if self._send(SampleBatch(FAST_STREAM, seq, t0_us, period_ns, counts[i:i + b])):
                    self._stream_seq[FAST_STREAM] = (seq + 1) & 0xFFFFFFFF
                    self.stats.batches_sent += 1
                    self.stats.samples_sent += b
        else:
            self.stats.samples_unsent += k_end - k0
        self._k = k_end
        # keep the record rows still needed for the next samples
        j_next = int((k_end / rate) / self._dtp)
        drop = min(max(0, j_next - self._rows_j0), len(self._rows) - 1)
        if drop:
            del self._rows[:drop]
            self._rows_j0 += drop
        self.sensors.prune(self.sim_time)

    def _emit_slow(self) -> None:
        t_plant = self.sim_time
        while self._m / SLOW_RATE_HZ <= t_plant:
            t = self._m / SLOW_RATE_HZ
            self._m += 1
            if not self.link.is_up:
                continue
            counts = self.sensors.slow(self.plant.slow_record(), t)
            seq = self._stream_seq[SLOW_STREAM]
            if self._send(SampleBatch(SLOW_STREAM, seq, round((t - self._boot_sim) * 1e6),
                                      round(1e9 / SLOW_RATE_HZ), counts)):
                self._stream_seq[SLOW_STREAM] = (seq + 1) & 0xFFFFFFFF


__all__ = ["Rig", "RigConfig", "RigStats"]
