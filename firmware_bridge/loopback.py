"""A minimal firmware end on a pseudo-terminal: the bridge's self-test peer.

``LoopbackFirmware`` answers the handshake, sends heartbeats, streams a
synthetic sample batch stream, executes commands (ACCEPTED then DONE, or
REJECTED with a reason: expired, e-stop latched), keeps the standard
parameters (docs/protocol.md section 4.13, ranges compared in float32) and
latches e-stops. It is what ``rig-bridge selftest`` talks to, what the
bridge's own tests run against, and a reference for the firmware rules of
protocol 1.1 that do not need physics (``sim_hw`` is the full rig):

* a one-number drum model (speed follows fresh setpoints at ``drum_accel``
  while the motors are enabled; a controlled stop brakes at ``brake_decel``
  and reports EVENT(STANDSTILL) when |speed| < 0.05 rad/s);
* the watchdog (section 6): a timer at exactly ``watchdog_ms`` after the
  last valid frame, checked again before any new input; a trip, a declared
  link loss in either direction, or a new session while the motors are on
  stops the motors, sets WATCHDOG_TRIPPED and queues EVENT(WATCHDOG_STOP);
  after a declared loss one last HEARTBEAT shows the new status;
* events raised while no session is up, or lost with a session, are held
  and delivered first in the next session.

Faults for tests: ``drop_rx`` (drop the next N reads from the controller),
``mute`` (stop transmitting, the link dies in one direction) and
``pull_cable()`` (close the pty; ``plug_cable()`` opens a new one behind the
same symlink). Hooks a test-only subclass may override to break a rule on
purpose: ``incoming``, ``command_expired``, ``trip``.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from .codec import encode_frame
from .fdtransport import FdTransport
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
    CommandResult,
    EStop,
    Event,
    EventCode,
    FirmwareInfo,
    FirmwareSeverity,
    Hello,
    Message,
    Param,
    ParamGet,
    ParamSet,
    ParamStatus,
    ParamValue,
    Reason,
    ResetNotice,
    ResetReason,
    ResultStatus,
    SampleBatch,
    Setpoints,
    Status,
)
from .params import STANDARD_PARAMS, in_range_f32
from .pty import PtyPort
from .transport import LinkProtocol

STANDSTILL_SPEED = 0.05  # rad/s


def default_channels(n: int = 4) -> tuple[ChannelInfo, ...]:
    return tuple(ChannelInfo(i, f"ch{i}", "V", 10.0 / 32767, 0.0) for i in range(n))


class Motors(Enum):
    OFF = "off"
    ON = "on"
    STOPPING = "stopping"


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
            protocol_version=PROTOCOL_VERSION, firmware_id="loopback", version=(1, 1, 0),
            session_id=0, boot_id=self.boot_id, capabilities=0,
            sample_rate_hz=self.sample_rate_hz, batch_samples=self.batch_samples,
            channels=self.channels,
        )
        self.link = self._new_link()
        self.params: dict[int, float] = {pid: p.default for pid, p in STANDARD_PARAMS.items()}
        self.params[Param.SAMPLE_RATE_HZ] = float(self.sample_rate_hz)
        self.params[Param.BATCH_SAMPLES] = float(self.batch_samples)
        self.commands: list[Command] = []
        self.setpoints: list[Setpoints] = []
        self.estop_latched = False
        self.motors = Motors.OFF
        self.watchdog_tripped = False
        self.drum_speed = 0.0
        self.last_heard: float | None = None
        self.held: deque[Message] = deque(maxlen=64)
        self.drop_rx = 0
        self.mute = False
        self._proto: LinkProtocol | None = None
        self._transport: FdTransport | None = None
        self._stream_seq = 0
        self._sample_index = 0
        self._batch_timer: asyncio.TimerHandle | None = None
        self._watchdog_timer: asyncio.TimerHandle | None = None
        self._setpoint: Setpoints | None = None
        self._setpoint_until = -math.inf
        self._last_tick: float | None = None
        self._stop_started = 0.0
        self._stop_cause = ""
        self._stop_command: tuple[int, int] | None = None  # (seq, session) of a running STOP

    def _new_link(self) -> Link:
        return Link(Role.FIRMWARE, self.link_config, firmware_info=self.info)

    # --- wiring -------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.port.path

    @property
    def watchdog_s(self) -> float:
        return self.params[Param.WATCHDOG_MS] / 1000.0

    @property
    def status(self) -> int:
        st = Status.ESTOP if self.estop_latched else 0
        if self.motors is Motors.ON:
            st |= Status.MOTORS_ENABLED
        if self.watchdog_tripped:
            st |= Status.WATCHDOG_TRIPPED
        return int(st)

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
        self.motors = Motors.OFF
        self.watchdog_tripped = False
        self.drum_speed = 0.0
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

    def command_expired(self, cmd: Command, fw_now_us: int) -> bool:
        return fw_now_us > cmd.deadline_us

    def trip(self, silent_s: float, text: str) -> None:
        """The watchdog / link-loss stop (section 6)."""
        if self.motors is Motors.OFF or self.watchdog_tripped:
            return
        self.watchdog_tripped = True
        self._begin_stop("watchdog")
        self._event(EventCode.WATCHDOG_STOP, FirmwareSeverity.FAULT, silent_s * 1000, text)

    # --- link events ----------------------------------------------------------------
    def check_watchdog(self, now: float) -> None:
        if self.last_heard is not None and now - self.last_heard >= self.watchdog_s:
            silent = now - self.last_heard
            self.trip(silent, f"no message from the controller for {silent * 1000:.0f} ms")
        self.link.status = self.status

    def heard(self, now: float) -> None:
        self.last_heard = now

    def on_event(self, event: LinkEvent) -> None:
        now = asyncio.get_running_loop().time()
        link = self.link
        if isinstance(event, HandshakeCompleted):
            self._on_session(event.hello, now)
        elif isinstance(event, LinkLost):
            silent = now - self.last_heard if self.last_heard is not None else 0.0
            if event.direction == "tx":  # the host stopped showing it hears us that long ago
                silent = link.config.loss_timeout
            self.trip(silent, f"link lost: {event.direction}: {event.reason}")
            link.status = self.status
            link.send_heartbeat(now)  # the last status, for a host that still listens
        elif isinstance(event, DeliveryFailed) and isinstance(event.message, Event):
            self.held.append(event.message)
        elif isinstance(event, MessageReceived):
            self._on_message(event.message, event.seq, now)
        link.status = self.status
        loss = max(self.watchdog_s, 2 * link.config.heartbeat_interval)
        if link.config.loss_timeout != loss:  # link-loss detection follows the watchdog
            link.config = replace(link.config, loss_timeout=loss)
        self._arm_watchdog()

    def _on_session(self, hello: Hello | None, now: float) -> None:
        self._stream_seq = 0
        if hello is not None and hello.watchdog_ms:
            spec = STANDARD_PARAMS[Param.WATCHDOG_MS]
            self.params[Param.WATCHDOG_MS] = float(min(max(hello.watchdog_ms, spec.lo), spec.hi))
        if self.motors is not Motors.OFF:
            self.trip(0.0, "link lost: a new session started")
        self.last_heard = now
        self._stop_command = None
        held = list(self.held)
        self.held.clear()
        for msg in held:
            self.link.send(msg, now)

    def _event(self, code: EventCode, severity: FirmwareSeverity, value: float, text: str) -> None:
        now = asyncio.get_running_loop().time()
        ev = Event(self.link.local_time_us(now), code, severity, float(value), text)
        if self.link.is_up:
            self.link.send(ev, now)
        else:
            self.held.append(ev)

    def _on_message(self, msg: Message, seq: int, now: float) -> None:
        link = self.link
        if isinstance(msg, Command):
            self.commands.append(msg)
            self._on_command(msg, seq, now)
        elif isinstance(msg, Setpoints):
            if link.local_time_us(now) <= msg.deadline_us:
                self.setpoints.append(msg)
                self._setpoint = msg
                self._setpoint_until = now + (msg.deadline_us - link.local_time_us(now)) / 1e6
        elif isinstance(msg, EStop):
            self.motors = Motors.OFF  # category 0: power cut at once
            self._stop_command = None
            if not self.estop_latched:
                self.estop_latched = True
                self._event(EventCode.ESTOP_LATCHED, FirmwareSeverity.CRITICAL, 0.0, msg.reason)
        elif isinstance(msg, ParamGet | ParamSet):
            link.send(self._param(msg, seq), now)

    def _on_command(self, msg: Command, seq: int, now: float) -> None:
        link = self.link

        def result(status: ResultStatus, reason: Reason = Reason.NONE, detail: str = "") -> None:
            link.send(CommandResult(seq, msg.code, status, reason, detail), now)

        if self.command_expired(msg, link.local_time_us(now)):
            result(ResultStatus.REJECTED, Reason.EXPIRED, "deadline passed")
            return
        if self.estop_latched and msg.code is not CommandCode.RESET_ESTOP:
            result(ResultStatus.REJECTED, Reason.ESTOP_LATCHED)
            return
        result(ResultStatus.ACCEPTED)
        if msg.code is CommandCode.RESET_ESTOP and self.estop_latched:
            self.estop_latched = False
            self._event(EventCode.ESTOP_RESET, FirmwareSeverity.INFO, 0.0, "e-stop reset")
        elif msg.code is CommandCode.ENABLE and msg.args[0] >= 0.5:
            self.motors = Motors.ON
            self.watchdog_tripped = False
        elif msg.code is CommandCode.ENABLE or msg.code is CommandCode.STOP:
            self._begin_stop(msg.code.name)
            if msg.code is CommandCode.STOP and self.motors is Motors.STOPPING:
                self._stop_command = (seq, link.session_id)
                return  # DONE at standstill
        result(ResultStatus.DONE)

    def _param(self, msg: ParamGet | ParamSet, seq: int) -> ParamValue:
        pid = msg.param_id
        spec = STANDARD_PARAMS.get(pid)
        if spec is None:
            return ParamValue(seq, pid, ParamStatus.UNKNOWN_PARAM, 0.0)
        status = ParamStatus.OK
        if isinstance(msg, ParamSet):
            if not spec.writable:
                status = ParamStatus.READ_ONLY
            elif not in_range_f32(msg.value, spec.lo, spec.hi):
                status = ParamStatus.OUT_OF_RANGE
            else:
                self.params[pid] = float(round(msg.value)) if spec.whole else msg.value
        return ParamValue(seq, pid, status, self.params[pid])

    # --- the drum and the timers ---------------------------------------------------------
    def _begin_stop(self, cause: str) -> None:
        if self.motors is Motors.ON:
            self.motors = Motors.STOPPING
            self._stop_started = asyncio.get_running_loop().time()
            self._stop_cause = cause

    def _drum_step(self, now: float) -> None:
        dt = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        if self.motors is Motors.ON:
            sp = self._setpoint
            fresh = sp is not None and sp.enable and now <= self._setpoint_until
            target = sp.drum_speed if fresh and sp is not None else 0.0
            step = self.drum_accel * dt
            self.drum_speed += min(max(target - self.drum_speed, -step), step)
        elif self.motors is Motors.STOPPING:
            slower = max(0.0, abs(self.drum_speed) - self.brake_decel * dt)
            self.drum_speed = math.copysign(slower, self.drum_speed)
            if slower < STANDSTILL_SPEED:
                self._standstill(now)
        else:
            self.drum_speed = 0.0

    def _standstill(self, now: float) -> None:
        self.drum_speed = 0.0
        self.motors = Motors.OFF
        took = (now - self._stop_started) * 1000
        self._event(EventCode.STANDSTILL, FirmwareSeverity.INFO, took,
                    f"standstill {took:.0f} ms after the stop ({self._stop_cause})")
        if self._stop_command is not None:
            seq, session = self._stop_command
            self._stop_command = None
            if self.link.is_up and self.link.session_id == session:
                self.link.send(CommandResult(seq, CommandCode.STOP, ResultStatus.DONE), now)

    def _arm_watchdog(self) -> None:
        if self._proto is None or self.last_heard is None or self.motors is Motors.OFF \
                or self.watchdog_tripped:
            return
        deadline = self.last_heard + self.watchdog_s
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
        out = self.link.data_to_send()
        if self.fw.mute:
            out = b""  # discard: the firmware's transmitter is dead
        if out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)
        self.arm_timer()

    def transport_write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)
