"""A USB-serial adapter's timing as a pure model: packets, a latency timer and jitter.

A full-speed USB-serial chip (FTDI, CP210x, CH340) does not pass bytes from
its UART to the host one by one (docs/protocol.md section 1.1). It collects
them into USB packets of ``packet_bytes`` (64) and sends a packet when it is
full, or when its **latency timer** expires: ``latency_ms`` (1-16, 16 by
default on FTDI chips) after the first byte that is waiting. The host then
reads each packet after its own scheduling delay, ``jitter_ms`` at most
(uniform), in order. The host-to-device direction goes out in the next USB
frame (``out_frame_ms``, 1 ms) plus the same jitter.

``UsbSerialLine`` is sans-I/O with time injected, like the link:
``feed(data, now)`` takes the bytes the chip received, ``next_due()`` says
when a packet is next ready for the host, ``poll(now)`` returns the bytes due
by then. ``UsbSerialConfig.device_to_host`` / ``host_to_device`` build the
two directions; the noise proxy wraps its byte paths in them
(``rig-noise-proxy --usb``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .errors import SimUsageError

__all__ = ["UsbSerialConfig", "UsbSerialLine"]


@dataclass(frozen=True, slots=True)
class UsbSerialConfig:
    packet_bytes: int = 64  # full-speed bulk packet
    latency_ms: float = 16.0  # FTDI default; a deployment sets 1 (docs/protocol.md section 1.1)
    jitter_ms: float = 1.0  # host scheduling delay per packet, uniform in [0, jitter]
    out_frame_ms: float = 1.0  # host to device: the next USB frame

    def __post_init__(self) -> None:
        if not isinstance(self.packet_bytes, int) or not 8 <= self.packet_bytes <= 4096:
            raise SimUsageError(f"usb packet_bytes: expected 8..4096, got {self.packet_bytes!r}")
        if not (math.isfinite(self.latency_ms) and 1.0 <= self.latency_ms <= 255.0):
            raise SimUsageError(f"usb latency_ms: expected 1..255 (chips: 1..16), "
                                f"got {self.latency_ms!r}")
        for name in ("jitter_ms", "out_frame_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 100.0):
                raise SimUsageError(f"usb {name}: expected 0..100 ms, got {value!r}")

    def device_to_host(self, rng: np.random.Generator) -> UsbSerialLine:
        return UsbSerialLine(self.packet_bytes, self.latency_ms / 1000, self.jitter_ms / 1000,
                             rng)

    def host_to_device(self, rng: np.random.Generator) -> UsbSerialLine:
        """USB OUT: any size goes in the next frame, so no packet limit to wait for."""
        return UsbSerialLine(1 << 20, self.out_frame_ms / 1000, self.jitter_ms / 1000, rng)


class UsbSerialLine:
    """One direction of the adapter (see the module docstring). Times in seconds."""

    def __init__(self, packet_bytes: int, latency_s: float, jitter_s: float,
                 rng: np.random.Generator) -> None:
        self.packet_bytes = packet_bytes
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self.rng = rng
        self._buf = bytearray()
        self._timer: float | None = None  # when the latency timer flushes the buffer
        self._ready: deque[tuple[float, bytes]] = deque()  # (due at the host, packet)
        self._last_due = -math.inf
        self._first_at = 0.0  # when the oldest waiting byte came in
        self.packets = 0
        self.full_packets = 0
        # per packet (the latest 10000): oldest byte in to due at the host, s
        self.delays: deque[float] = deque(maxlen=10_000)

    def feed(self, data: bytes, now: float) -> None:
        if not data:
            return
        self._flush_due(now)
        if not self._buf:
            self._timer = now + self.latency_s
            self._first_at = now
        self._buf += data
        while len(self._buf) >= self.packet_bytes:  # a full packet goes out at once
            self._emit(bytes(self._buf[:self.packet_bytes]), now, full=True)
            del self._buf[:self.packet_bytes]
            self._first_at = now
            self._timer = now + self.latency_s if self._buf else None

    def next_due(self) -> float | None:
        """When ``poll`` next has something (a packet due, or the latency timer)."""
        times = [t for t in (self._timer, self._ready[0][0] if self._ready else None)
                 if t is not None]
        return min(times) if times else None

    def poll(self, now: float) -> bytes:
        """The bytes due at the host by *now*, in order."""
        self._flush_due(now)
        out = bytearray()
        while self._ready and self._ready[0][0] <= now:
            out += self._ready.popleft()[1]
        return bytes(out)

    def _flush_due(self, now: float) -> None:
        if self._timer is not None and now >= self._timer and self._buf:
            self._emit(bytes(self._buf), self._timer, full=False)
            self._buf.clear()
            self._timer = None

    def _emit(self, packet: bytes, at: float, *, full: bool) -> None:
        jitter = float(self.rng.uniform(0.0, self.jitter_s)) if self.jitter_s > 0 else 0.0
        due = max(at + jitter, self._last_due)  # packets reach the host in order
        self._last_due = due
        self._ready.append((due, packet))
        self.packets += 1
        self.full_packets += full
        self.delays.append(due - self._first_at)
