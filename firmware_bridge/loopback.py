"""A minimal firmware end on a pseudo-terminal: the bridge's self-test peer.

``LoopbackFirmware`` answers the handshake, sends heartbeats, streams a
synthetic sample batch stream, executes commands (ACCEPTED then DONE, or
REJECTED with a reason: expired, e-stop latched), keeps parameters and
latches e-stops. It is what ``rig-bridge selftest`` talks to and what the
bridge's own tests run against; ``sim_hw`` is the full rig.

Faults for tests: ``drop_rx`` (drop the next N reads from the controller),
``mute`` (stop transmitting, the link dies in one direction) and
``pull_cable()`` (close the pty; ``plug_cable()`` opens a new one behind the
same symlink).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field, replace

import numpy as np

from .codec import encode_frame
from .fdtransport import FdTransport
from .link import HandshakeCompleted, Link, LinkConfig, LinkEvent, MessageReceived, Role
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
from .pty import PtyPort
from .transport import LinkProtocol


def default_channels(n: int = 4) -> tuple[ChannelInfo, ...]:
    return tuple(ChannelInfo(i, f"ch{i}", "V", 10.0 / 32767, 0.0) for i in range(n))


@dataclass
class LoopbackFirmware:
    link_path: str
    sample_rate_hz: int = 1000
    batch_samples: int = 10
    channels: tuple[ChannelInfo, ...] = field(default_factory=default_channels)
    link_config: LinkConfig = field(default_factory=LinkConfig)
    boot_id: int = 1

    def __post_init__(self) -> None:
        self.port = PtyPort(self.link_path)
        self.info = FirmwareInfo(
            protocol_version=PROTOCOL_VERSION, firmware_id="loopback", version=(1, 0, 0),
            session_id=0, boot_id=self.boot_id, capabilities=0,
            sample_rate_hz=self.sample_rate_hz, batch_samples=self.batch_samples,
            channels=self.channels,
        )
        self.link = self._new_link()
        self.params: dict[int, float] = {1: 250.0, 2: 20.0}
        self.commands: list[Command] = []
        self.setpoints: list[Setpoints] = []
        self.estop_latched = False
        self.drop_rx = 0
        self.mute = False
        self._proto: LinkProtocol | None = None
        self._transport: FdTransport | None = None
        self._stream_seq = 0
        self._sample_index = 0
        self._batch_timer: asyncio.TimerHandle | None = None

    def _new_link(self) -> Link:
        return Link(Role.FIRMWARE, self.link_config, firmware_info=self.info)

    # --- wiring -------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self.port.path

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
        if self._batch_timer is not None:
            self._batch_timer.cancel()

    def reboot(self) -> None:
        """Firmware reset: new boot id, all session state gone, RESET_NOTICE sent."""
        loop = asyncio.get_running_loop()
        self.boot_id += 1
        self.info = replace(self.info, boot_id=self.boot_id)
        self.link = self._new_link()
        self.link.set_clock_origin(loop.time())
        if self._proto is not None:
            self._proto.link = self.link
            self._proto.transport_write(
                _encode_unreliable(ResetNotice(self.boot_id, ResetReason.COMMANDED)))

    async def stop(self) -> None:
        self.pull_cable()

    # --- behaviour ----------------------------------------------------------------
    def on_event(self, event: LinkEvent) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if isinstance(event, HandshakeCompleted):
            self._stream_seq = 0
            return
        if not isinstance(event, MessageReceived):
            return
        msg = event.message
        link = self.link
        if isinstance(msg, Command):
            self.commands.append(msg)
            fw_now = link.local_time_us(now)
            if fw_now > msg.deadline_us:
                link.send(CommandResult(event.seq, msg.code, ResultStatus.REJECTED,
                                        Reason.EXPIRED, "deadline passed"), now)
            elif self.estop_latched and msg.code is not CommandCode.RESET_ESTOP:
                link.send(CommandResult(event.seq, msg.code, ResultStatus.REJECTED,
                                        Reason.ESTOP_LATCHED), now)
            else:
                if msg.code is CommandCode.RESET_ESTOP:
                    self.estop_latched = False
                    link.status &= ~Status.ESTOP
                link.send(CommandResult(event.seq, msg.code, ResultStatus.ACCEPTED), now)
                link.send(CommandResult(event.seq, msg.code, ResultStatus.DONE), now)
        elif isinstance(msg, Setpoints):
            if link.local_time_us(now) <= msg.deadline_us:
                self.setpoints.append(msg)
        elif isinstance(msg, EStop):
            self.estop_latched = True
            link.status |= Status.ESTOP
            link.send(Event(link.local_time_us(now), EventCode.ESTOP_LATCHED,
                            FirmwareSeverity.CRITICAL, 0.0, msg.reason), now)
        elif isinstance(msg, ParamGet | ParamSet):
            pid = msg.param_id
            if pid not in self.params:
                link.send(ParamValue(event.seq, pid, ParamStatus.UNKNOWN_PARAM, 0.0), now)
            else:
                if isinstance(msg, ParamSet):
                    self.params[pid] = msg.value
                link.send(ParamValue(event.seq, pid, ParamStatus.OK, self.params[pid]), now)

    def _schedule_batch(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.batch_samples / self.sample_rate_hz
        self._batch_timer = loop.call_later(period, self._send_batch)

    def _send_batch(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
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
            self._proto.pump()
        if self._proto is not None:
            self._schedule_batch()


def _encode_unreliable(msg: ResetNotice) -> bytes:
    return encode_frame(msg, seq=0)


class _FirmwareProtocol(LinkProtocol):
    def __init__(self, fw: LoopbackFirmware) -> None:
        super().__init__(fw.link, fw.on_event)
        self.fw = fw

    def data_received(self, data: bytes) -> None:
        if self.fw.drop_rx > 0:
            self.fw.drop_rx -= 1
            return
        super().data_received(data)

    def pump(self) -> None:
        if self.fw.mute:
            self.link.data_to_send()  # discard: the firmware's transmitter is dead
            while (event := self.link.next_event()) is not None:
                self.on_event(event)
            self._arm()
            return
        super().pump()

    def transport_write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)
