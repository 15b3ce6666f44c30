"""A minimal firmware end on a pseudo-terminal: the bridge's self-test peer.

``LoopbackFirmware`` is the one firmware model (``firmware_core.FirmwareCore``,
the same rules as ``sim_hw``'s simulated rig) configured with a trivial
machine, ``DrumOnly``: a one-number drum and no drive or arm. Speed follows
fresh set-points at ``drum_accel`` while the motors are on; a controlled
stop brakes at ``brake_decel`` and the core reports EVENT(STANDSTILL) when
|speed| < 0.05 rad/s; DRIVE_TO, DUMP and STOW pass the core's preconditions
and are DONE at once. Around it: the handshake, heartbeats and a synthetic
sample stream, the watchdog timer (section 6: at exactly ``watchdog_ms``
after the last valid frame, checked again before any new input), the last
heartbeat after a declared loss, and events held for the next session. It
is what ``rig-bridge selftest`` talks to and what the bridge's and the
conformance harness's tests run against.

Faults for tests: ``drop_rx`` (drop the next N reads from the controller),
``mute`` (stop transmitting, the link dies in one direction) and
``pull_cable()`` (close the pty; ``plug_cable()`` opens a new one behind the
same symlink). A test-only subclass may break a rule on purpose through
``incoming`` / ``outgoing`` (bytes before the link / on the wire),
``make_core`` (a core subclass) and ``hold``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np

from .codec import encode_frame
from .fdtransport import FdTransport
from .firmware_core import FirmwareCore, MotionHandler, Power
from .link import (
    DeliveryFailed,
    HandshakeCompleted,
    Link,
    LinkConfig,
    LinkEvent,
    LinkLost,
    MessageReceived,
    Role,
)
from .messages import (
    PROTOCOL_VERSION,
    ChannelInfo,
    Command,
    CommandCode,
    Event,
    FirmwareInfo,
    Message,
    Param,
    ResetNotice,
    ResetReason,
    SampleBatch,
    Setpoints,
)
from .params import STANDARD_PARAMS
from .pty import PtyPort
from .transport import LinkProtocol

STANDSTILL_SPEED = 0.05  # rad/s

__all__ = ["DrumOnly", "LoopbackFirmware", "default_channels"]


def default_channels(n: int = 4) -> tuple[ChannelInfo, ...]:
    return tuple(ChannelInfo(i, f"ch{i}", "V", 10.0 / 32767, 0.0) for i in range(n))


class DrumOnly:
    """The loopback's machine (a ``RigModel``): one drum speed, nothing else."""

    def __init__(self, accel: float, brake_decel: float) -> None:
        self.accel = accel
        self.brake_decel = brake_decel
        self.speed = 0.0

    def enable_refusal(self) -> str | None:
        return None

    def power_enabled(self) -> None:
        pass

    def power_cut(self) -> None:
        self.speed = 0.0

    def motion_handlers(self) -> dict[CommandCode, MotionHandler]:
        return {}  # DRIVE_TO, DUMP, STOW: DONE at once once the preconditions pass

    def step(self, core: FirmwareCore, dt: float, now: float) -> None:
        if core.power is Power.ON:
            sp = core.fresh_setpoint(now)
            vmax = core.params[Param.MAX_DRUM_SPEED_RAD_S]
            target = min(max(sp.drum_speed, -vmax), vmax) if sp is not None else 0.0
            step = self.accel * dt
            self.speed += min(max(target - self.speed, -step), step)
        elif core.power is Power.STOPPING:
            slower = max(0.0, abs(self.speed) - self.brake_decel * dt)
            self.speed = math.copysign(slower, self.speed)
            if slower < STANDSTILL_SPEED:
                self.speed = 0.0
                core.standstill_reached()
        else:
            self.speed = 0.0


@dataclass
class LoopbackFirmware:
    link_path: str
    sample_rate_hz: int = 1000
    batch_samples: int = 10
    channels: tuple[ChannelInfo, ...] = field(default_factory=default_channels)
    link_config: LinkConfig = field(default_factory=LinkConfig)
    boot_id: int = 1
    drum_accel: float = 20.0  # rad/s^2 toward the setpoint
    brake_decel: float = 60.0  # rad/s^2 in a controlled stop

    def __post_init__(self) -> None:
        self.port = PtyPort(self.link_path)
        self.info = FirmwareInfo(
            protocol_version=PROTOCOL_VERSION, firmware_id="loopback", version=(1, 2, 0),
            session_id=0, boot_id=self.boot_id, capabilities=0,
            sample_rate_hz=self.sample_rate_hz, batch_samples=self.batch_samples,
            channels=self.channels,
        )
        self.link = self._new_link()
        self.drum = DrumOnly(self.drum_accel, self.brake_decel)
        self.core = self._boot_core()
        self.commands: list[Command] = []
        self.setpoints: list[Setpoints] = []
        self.held: deque[Message] = deque(maxlen=64)
        self.drop_rx = 0
        self.mute = False
        self._proto: LinkProtocol | None = None
        self._transport: FdTransport | None = None
        self._stream_seq = 0
        self._sample_index = 0
        self._batch_timer: asyncio.TimerHandle | None = None
        self._watchdog_timer: asyncio.TimerHandle | None = None
        self._last_tick: float | None = None

    def _new_link(self) -> Link:
        return Link(Role.FIRMWARE, self.link_config, firmware_info=self.info)

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        """The firmware model; a test-only subclass returns a deliberately broken one."""
        return FirmwareCore(params)

    def _boot_core(self) -> FirmwareCore:
        params = {Param(pid): p.default for pid, p in STANDARD_PARAMS.items()}
        params[Param.SAMPLE_RATE_HZ] = float(self.sample_rate_hz)
        params[Param.BATCH_SAMPLES] = float(self.batch_samples)
        params[Param.SLOW_STREAM_RATE_HZ] = 0.0  # no stream 1
        core = self.make_core(params)
        core.attach(self.drum)
        return core

    # --- wiring -------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.port.path

    @property
    def motors(self) -> Power:
        return self.core.power

    @property
    def estop_latched(self) -> bool:
        return self.core.estop_latched

    @property
    def watchdog_tripped(self) -> bool:
        return self.core.watchdog_tripped

    @property
    def drum_speed(self) -> float:
        return self.drum.speed

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.link.set_clock_origin(loop.time())
        self.plug_cable()

    def plug_cable(self) -> None:
        loop = asyncio.get_running_loop()
        fd = self.port.open()
        proto = _FirmwareProtocol(self)
        self._proto = proto
        self._transport = FdTransport(loop, fd, proto)
        self._schedule_batch()

    def pull_cable(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self.port.close()
        self._transport = None
        self._proto = None
        for timer in (self._batch_timer, self._watchdog_timer):
            if timer is not None:
                timer.cancel()
        self._watchdog_timer = None

    def reboot(self) -> None:
        """Firmware reset: new boot id, all session state gone, RESET_NOTICE sent."""
        loop = asyncio.get_running_loop()
        self.boot_id += 1
        self.info = replace(self.info, boot_id=self.boot_id)
        self.link = self._new_link()
        self.link.set_clock_origin(loop.time())
        self.drum = DrumOnly(self.drum_accel, self.brake_decel)
        self.core = self._boot_core()
        self.held.clear()
        if self._proto is not None:
            self._proto.link = self.link
            self._proto.transport_write(
                _encode_unreliable(ResetNotice(self.boot_id, ResetReason.COMMANDED)))

    async def stop(self) -> None:
        self.pull_cable()

    # --- hooks (a test-only subclass may break a rule through these) ----------------
    def incoming(self, data: bytes, now: float) -> bytes:
        """Bytes from the host before the link sees them."""
        return data

    def outgoing(self, data: bytes) -> bytes:
        """Bytes from the link before they go on the wire."""
        return data

    def hold(self, msg: Message) -> None:
        """An event raised without a session: delivered first in the next one (section 6)."""
        self.held.append(msg)

    # --- the core's clock and outbox -------------------------------------------------
    def _sync(self, now: float) -> None:
        self.core.time = self.link.local_time_us(now) / 1e6

    def check_watchdog(self, now: float) -> None:
        self._sync(now)
        self.core.check_watchdog(now)
        self.flush(now)

    def heard(self, now: float) -> None:
        self.core.controller_heard(now)

    def flush(self, now: float) -> None:
        """The core's outbox to the link: results only to the session that asked."""
        link = self.link
        while self.core.outbox:
            msg, session = self.core.outbox.popleft()
            if link.is_up and (session is None or session == link.session_id):
                link.send(msg, now)
            elif session is None:
                self.hold(msg)
        link.status = self.core.status

    # --- link events ----------------------------------------------------------------
    def on_event(self, event: LinkEvent) -> None:
        now = asyncio.get_running_loop().time()
        self._sync(now)
        link = self.link
        core = self.core
        if isinstance(event, HandshakeCompleted):
            self._stream_seq = 0
            core.on_session(event.hello, now)
            held = list(self.held)
            self.held.clear()
            for msg in held:
                link.send(msg, now)
        elif isinstance(event, LinkLost):
            waited = link.config.loss_timeout if event.direction == "tx" else None
            core.link_lost(f"{event.direction}: {event.reason}", now, waited)
            self.flush(now)
            link.send_heartbeat(now)  # the last status, for a host that still listens
        elif isinstance(event, DeliveryFailed) and isinstance(event.message, Event):
            self.hold(event.message)
        elif isinstance(event, MessageReceived):
            if isinstance(event.message, Command):
                self.commands.append(event.message)
            elif isinstance(event.message, Setpoints):
                self.setpoints.append(event.message)
            core.on_message(event.message, event.seq, link.session_id, now,
                            link.local_time_us(now))
        self.flush(now)
        loss = max(core.watchdog_s, 2 * link.config.heartbeat_interval)
        if link.config.loss_timeout != loss:  # link-loss detection follows the watchdog
            link.config = replace(link.config, loss_timeout=loss)
        self._arm_watchdog()

    # --- the drum and the timers ---------------------------------------------------------
    def _drum_step(self, now: float) -> None:
        dt = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        self._sync(now)
        self.drum.step(self.core, dt, now)
        self.flush(now)

    def _arm_watchdog(self) -> None:
        deadline = self.core.watchdog_deadline
        if self._proto is None or deadline is None:
            return
        timer = self._watchdog_timer
        if timer is not None and timer.when() <= deadline:
            return
        if timer is not None:
            timer.cancel()
        self._watchdog_timer = asyncio.get_running_loop().call_at(deadline, self._watchdog_fired)

    def _watchdog_fired(self) -> None:
        self._watchdog_timer = None
        self.check_watchdog(asyncio.get_running_loop().time())
        self._arm_watchdog()
        if self._proto is not None:
            self._proto.pump()

    def _schedule_batch(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.batch_samples / self.sample_rate_hz
        self._batch_timer = loop.call_later(period, self._send_batch)

    def _send_batch(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._drum_step(now)
        self.check_watchdog(now)
        if self.link.is_up and not self.mute and self._proto is not None:
            n, ch = self.batch_samples, len(self.channels)
            idx = self._sample_index + np.arange(n)
            counts = (1000 * np.sin(2 * math.pi * idx[:, None] / 100 + np.arange(ch))).astype(
                np.int16)
            t0 = self.link.local_time_us(now)
            self.link.send(SampleBatch(0, self._stream_seq, t0,
                                       round(1e9 / self.sample_rate_hz), counts), now)
            self._stream_seq += 1
            self._sample_index += n
        if self._proto is not None:
            self._proto.pump()
            self._schedule_batch()


def _encode_unreliable(msg: ResetNotice) -> bytes:
    return encode_frame(msg, seq=0)


class _FirmwareProtocol(LinkProtocol):
    def __init__(self, fw: LoopbackFirmware) -> None:
        super().__init__(fw.link, fw.on_event)
        self.fw = fw

    def data_received(self, data: bytes) -> None:
        fw = self.fw
        if fw.drop_rx > 0:
            fw.drop_rx -= 1
            return
        now = self.loop.time()
        fw.check_watchdog(now)  # a frame arriving after the deadline cannot undo a due trip
        data = fw.incoming(data, now)
        before = self.link.stats.frames_rx
        self.link.receive_data(data, now)
        if self.link.is_up and self.link.stats.frames_rx != before:
            fw.heard(now)
        self.pump()

    def pump(self) -> None:
        """Events first, so what they send (results, the last heartbeat) goes out now."""
        while (event := self.link.next_event()) is not None:
            self.on_event(event)
        out = self.fw.outgoing(self.link.data_to_send())
        if self.fw.mute:
            out = b""  # discard: the firmware's transmitter is dead
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)
        self.arm_timer()

    def transport_write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)
