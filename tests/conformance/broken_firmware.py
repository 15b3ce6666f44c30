"""Deliberately broken firmware for the conformance tests: each breaks one rule.

Test-only subclasses of the loopback firmware (and one link setting), so the
harness is seen to fail the matching check. Never use outside tests.
"""

from __future__ import annotations

import asyncio
import math

from firmware_bridge.codec import HEADER, FrameDecoder, message_type
from firmware_bridge.codec import encode_frame as encode_msg
from firmware_bridge.firmware_core import Action, FirmwareCore, Power
from firmware_bridge.framing import cobs_decode, encode_frame
from firmware_bridge.link import LinkConfig, LinkEvent, MessageReceived
from firmware_bridge.loopback import DrumOnly, LoopbackFirmware
from firmware_bridge.messages import (
    Command,
    CommandCode,
    CommandResult,
    Event,
    EventCode,
    FirmwareSeverity,
    Flags,
    Hello,
    Message,
    MsgType,
    Nack,
    Param,
    ParamGet,
    ParamSet,
    ParamValue,
    Reason,
    ResetNotice,
    ResetReason,
    ResultStatus,
    SampleBatch,
    Setpoints,
)


class _NoExpiryCore(FirmwareCore):
    def command_expired(self, cmd: Command, fw_time_us: int) -> bool:
        return False


class IgnoresExpiry(LoopbackFirmware):
    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _NoExpiryCore(params)


class AcceptsBadCrc(LoopbackFirmware):
    """Re-computes the CRC of every frame before its link checks it."""

    def incoming(self, data: bytes, now: float) -> bytes:
        out = []
        for block in data.split(b"\x00"):
            body = cobs_decode(block) if block else None
            if body is None or len(body) < HEADER.size + 4:
                out.append(block)
            else:
                out.append(encode_frame(body[:-4])[:-1])
        return b"\x00".join(out)


class _NeverTripsCore(FirmwareCore):
    def trip(self, silent: float, text: str) -> None:
        return


class NeverTripsWatchdog(LoopbackFirmware):
    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _NeverTripsCore(params)


class FloodsNacks(LoopbackFirmware):
    def __init__(self, link_path: str) -> None:
        super().__init__(link_path, link_config=LinkConfig(nack_interval=0.0))


class ReExecutesDuplicates(LoopbackFirmware):
    """Hands a duplicate reliable frame to the firmware logic a second time."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._spy = FrameDecoder()
        self._seen: set[int] = set()

    def incoming(self, data: bytes, now: float) -> bytes:
        for frame in self._spy.feed(data):
            if not frame.flags & Flags.RELIABLE:
                continue
            if frame.seq in self._seen:
                self.on_event(MessageReceived(frame.message, frame.seq))
            self._seen.add(frame.seq)
        return data




# --- 1.2: one variant per decided item, each making the other choice -------------------

def _rewrite_frames(data: bytes, edit) -> bytes:
    """Apply *edit(body)* to every frame in *data*: None keeps it, an empty body drops
    it, another body replaces it (with a new CRC)."""
    out = []
    for block in data.split(b"\x00"):
        body = cobs_decode(block) if block else None
        if body is None or len(body) < HEADER.size + 4:
            out.append(block)
            continue
        new = edit(bytearray(body[:-4]))
        if new is None:
            out.append(block)
        elif new:
            out.append(encode_frame(bytes(new))[:-1])
    return b"\x00".join(out)


class StaleAcks(LoopbackFirmware):
    """Item 1: acks only by piggy-backing on its own reliable frames: no ACK frame, and
    best-effort frames carry the ack of the last reliable frame it sent."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._last_ack = 0

    def outgoing(self, data: bytes) -> bytes:
        def edit(body: bytearray) -> bytearray | None:
            _v, t, flags, _r, seq, ack = HEADER.unpack_from(body, 0)
            if t == MsgType.ACK:
                body[:] = b""
                return body
            if flags & Flags.RELIABLE:
                self._last_ack = ack
                return None
            HEADER.pack_into(body, 0, _v, t, flags, _r, seq, self._last_ack)
            return body
        return _rewrite_frames(data, edit)


class _EventEveryEStopCore(FirmwareCore):
    def latch_estop(self, text: str) -> None:
        self.estop_latched = False
        super().latch_estop(text)


class EventEveryEStop(LoopbackFirmware):
    """Item 2: raises ESTOP_LATCHED again for a second ESTOP while latched."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _EventEveryEStopCore(params)


class _TripsWhenOffCore(FirmwareCore):
    def link_lost(self, why: str, now: float, waited: float | None = None) -> None:
        if not self.watchdog_tripped:
            self.trip(0.0 if waited is None else waited, f"link lost: {why}")


class TripsWhenOff(LoopbackFirmware):
    """Item 3: a link loss with the motors off still sets WATCHDOG_TRIPPED."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _TripsWhenOffCore(params)


class VendorCodeBadValue(LoopbackFirmware):
    """Item 4: treats an unimplemented code >= 0x100 as an undefined one (BAD_VALUE)."""

    def incoming(self, data: bytes, now: float) -> bytes:
        def edit(body: bytearray) -> bytearray | None:
            if body[1] != MsgType.COMMAND or len(body) < HEADER.size + 10:
                return None
            off = HEADER.size + 8
            if int.from_bytes(body[off:off + 2], "little") < 0x100:
                return None
            body[off:off + 2] = (99).to_bytes(2, "little")
            return body
        return _rewrite_frames(data, edit)


class DropsHeldEvents(LoopbackFirmware):
    """Item 5: events raised without a session are lost (WATCHDOG_STOP never arrives)."""

    def hold(self, msg: Message) -> None:
        return


class NacksFirmwareTypes(LoopbackFirmware):
    """Item 6: NACKs host frames of firmware-only types as UNKNOWN_TYPE."""

    def on_event(self, event: LinkEvent) -> None:
        if isinstance(event, MessageReceived) and isinstance(
                event.message, Event | CommandResult | ParamValue | SampleBatch):
            now = asyncio.get_running_loop().time()
            self.link.send(Nack(event.seq, message_type(event.message), Reason.UNKNOWN_TYPE), now)
        super().on_event(event)


class IgnoresHeaderVersion(LoopbackFirmware):
    """Item 7: executes a frame whatever its header version."""

    def incoming(self, data: bytes, now: float) -> bytes:
        def edit(body: bytearray) -> bytearray | None:
            if body[0] == 1:
                return None
            body[0] = 1
            return body
        return _rewrite_frames(data, edit)


class NacksHeartbeatsBeforeSession(LoopbackFirmware):
    """Item 8: answers every frame before a session, best-effort ones included."""

    def incoming(self, data: bytes, now: float) -> bytes:
        if not self.link.is_up and self._proto is not None:
            for frame in FrameDecoder().feed(data):
                if frame.msg_type is MsgType.HEARTBEAT:
                    self._proto.transport_write(encode_msg(
                        Nack(frame.seq, MsgType.HEARTBEAT, Reason.NOT_HANDSHAKEN), seq=0))
        return data


class AcceptsSessionZero(LoopbackFirmware):
    """Item 9: opens a session for a HELLO with session_id 0."""

    def incoming(self, data: bytes, now: float) -> bytes:
        def edit(body: bytearray) -> bytearray | None:
            if body[1] != MsgType.HELLO or body[HEADER.size + 4:HEADER.size + 8] != bytes(4):
                return None
            body[HEADER.size + 4] = 1
            return body
        return _rewrite_frames(data, edit)


class LacksSiteParam(LoopbackFirmware):
    """Item 12: a 1.1 firmware without SITE_HALF_SIZE_M."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        params.pop(Param.SITE_HALF_SIZE_M)
        return FirmwareCore(params)


class _AllArgsFiniteCore(FirmwareCore):
    def refusal(self, cmd: Command, fw_time_us: int) -> tuple[Reason, str] | None:
        if not all(math.isfinite(a) for a in cmd.args):
            return Reason.BAD_VALUE, "every argument must be finite"
        return super().refusal(cmd, fw_time_us)


class RejectsUnusedNaN(LoopbackFirmware):
    """Item 13: checks all four arguments for finiteness, first."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _AllArgsFiniteCore(params)


class _StopWhileLatchedCore(FirmwareCore):
    def refusal(self, cmd: Command, fw_time_us: int) -> tuple[Reason, str] | None:
        stopping = cmd.code is CommandCode.STOP or (
            cmd.code is CommandCode.ENABLE and cmd.args[0] < 0.5)
        if stopping and self.estop_latched:
            return None
        return super().refusal(cmd, fw_time_us)


class AcceptsStopWhileLatched(LoopbackFirmware):
    """Item 14: accepts STOP and ENABLE(0) while the e-stop is latched."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _StopWhileLatchedCore(params)


class _DisableDoneAtRestCore(FirmwareCore):
    def accept_done(self, seq: int, session: int, code: int) -> None:
        if code == CommandCode.ENABLE and self.power is Power.STOPPING:
            self.result(seq, session, code, ResultStatus.ACCEPTED)
            self.action = Action(CommandCode.ENABLE, seq, session, self.time)
            return
        super().accept_done(seq, session, code)

    def standstill_reached(self) -> None:
        pending = self.action if self.busy() is CommandCode.ENABLE else None
        super().standstill_reached()
        if pending is not None:
            self.action = None
            self.result(pending.seq, pending.session, pending.code, ResultStatus.DONE)


class DisableDoneAtStandstill(LoopbackFirmware):
    """Item 15: ENABLE(0)'s DONE waits for standstill."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _DisableDoneAtRestCore(params)


class _StopKeepsPowerCore(FirmwareCore):
    def standstill_reached(self) -> None:
        was_stop = self.busy() is CommandCode.STOP
        super().standstill_reached()
        if was_stop:
            self.power = Power.ON


class StopKeepsMotorsOn(LoopbackFirmware):
    """Item 16: STOP brings the drum to rest but leaves the motors enabled."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _StopKeepsPowerCore(params)


class _DoneFirstCore(FirmwareCore):
    def standstill_reached(self) -> None:
        if self.power is Power.STOPPING and self.busy() is CommandCode.STOP:
            self.finish(text="stopped")
        super().standstill_reached()


class DoneBeforeStandstill(LoopbackFirmware):
    """Item 18: STOP's DONE before EVENT(STANDSTILL)."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _DoneFirstCore(params)


class _RoundFirstCore(FirmwareCore):
    def param(self, msg: ParamGet | ParamSet, seq: int) -> ParamValue:
        if isinstance(msg, ParamSet) and msg.param_id == Param.WATCHDOG_MS:
            msg = ParamSet(msg.param_id, float(round(msg.value)))
        return super().param(msg, seq)


class RoundsBeforeRangeCheck(LoopbackFirmware):
    """Item 20: rounds a whole-number parameter before its range check (19.6 -> 20)."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _RoundFirstCore(params)


class LacksSlowRateParam(LoopbackFirmware):
    """Item 22: a 1.1 firmware without SLOW_STREAM_RATE_HZ."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        params.pop(Param.SLOW_STREAM_RATE_HZ)
        return FirmwareCore(params)


class _SourceCheckingCore(FirmwareCore):
    def latch_estop(self, text: str) -> None:
        if "unknown source" in text:
            return  # refuses an e-stop over a detail
        super().latch_estop(text)


class IgnoresUnknownEStopSource(LoopbackFirmware):
    """Item 23: does not latch for an ESTOP whose source is not 0, 1 or 2."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _SourceCheckingCore(params)


class _BootEventCore(FirmwareCore):
    booted = False

    def on_session(self, hello: Hello | None, now: float) -> None:
        if not self.booted:
            self.booted = True
            self.event(EventCode.BOOT, FirmwareSeverity.INFO, 0.0, "boot")
        super().on_session(hello, now)


class SendsBootEvent(LoopbackFirmware):
    """Item 11: raises EVENT(BOOT), delivered in the first session."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _BootEventCore(params)


class _SilentFromRestCore(FirmwareCore):
    from_rest = False

    def begin_stop(self, cause: str) -> None:
        drum = self.rig
        self.from_rest = isinstance(drum, DrumOnly) and abs(drum.speed) < 0.05
        super().begin_stop(cause)

    def event(self, code: EventCode, severity: FirmwareSeverity, value: float = 0.0,
              text: str = "") -> None:
        if code is EventCode.STANDSTILL and self.from_rest:
            return
        super().event(code, severity, value, text)


class NoStandstillFromRest(LoopbackFirmware):
    """Item 17: sends no EVENT(STANDSTILL) when the drum was already still."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _SilentFromRestCore(params)


class _ClampsNonFiniteCore(FirmwareCore):
    def _setpoints(self, msg: Setpoints, now: float, fw_time_us: int) -> None:
        def finite(v: float) -> float:
            return 0.0 if math.isnan(v) else max(min(v, 1e9), -1e9)
        msg = Setpoints(msg.deadline_us, finite(msg.drum_speed), finite(msg.cut_depth),
                        msg.enable)
        super()._setpoints(msg, now, fw_time_us)


class ClampsNonFiniteSetpoints(LoopbackFirmware):
    """Item 19: clamps a non-finite set-point (inf -> the speed limit) instead of ignoring it."""

    def make_core(self, params: dict[Param, float]) -> FirmwareCore:
        return _ClampsNonFiniteCore(params)


class EchoesHighestSeq(LoopbackFirmware):
    """Item 21: echoes the highest best-effort seq received, not the last to arrive."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._spy = FrameDecoder()
        self._highest: int | None = None

    def incoming(self, data: bytes, now: float) -> bytes:
        for frame in self._spy.feed(data):
            if frame.flags & Flags.RELIABLE or frame.msg_type is MsgType.HELLO:
                continue
            if self._highest is None or 0 < (frame.seq - self._highest) % (1 << 32) < (1 << 31):
                self._highest = frame.seq
        return data

    def outgoing(self, data: bytes) -> bytes:
        def edit(body: bytearray) -> bytearray | None:
            if body[1] != MsgType.HEARTBEAT or self._highest is None:
                return None
            off = HEADER.size + 12
            body[off:off + 4] = self._highest.to_bytes(4, "little")
            return body
        return _rewrite_frames(data, edit)


class ResetNoticeToEveryHost(LoopbackFirmware):
    """Item 10: announces its boot to every host that handshakes (RESET_NOTICE after each
    FIRMWARE_INFO) instead of once, when its UART comes up."""

    def outgoing(self, data: bytes) -> bytes:
        if any(f.msg_type is MsgType.FIRMWARE_INFO for f in FrameDecoder().feed(data)):
            data += encode_msg(ResetNotice(self.boot_id, ResetReason.POWER_ON), seq=0)
        return data
