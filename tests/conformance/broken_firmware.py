"""Deliberately broken firmware for the conformance tests: each breaks one rule.

Test-only subclasses of the loopback firmware (and one link setting), so the
harness is seen to fail the matching check. Never use outside tests.
"""

from __future__ import annotations

from firmware_bridge.codec import HEADER, FrameDecoder
from firmware_bridge.firmware_core import FirmwareCore
from firmware_bridge.framing import cobs_decode, encode_frame
from firmware_bridge.link import LinkConfig, MessageReceived
from firmware_bridge.loopback import LoopbackFirmware
from firmware_bridge.messages import Command, Flags, Param


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


__all__ = ["AcceptsBadCrc", "FloodsNacks", "IgnoresExpiry", "NeverTripsWatchdog",
           "ReExecutesDuplicates"]
