"""The rig's sensor channels as announced in the handshake (``FirmwareInfo.channels``).

Stream 0 is the fast stream (raw rate, batched), stream 1 the slow navigation
stream (20 Hz). Physical value = offset + scale * count; scales are chosen so
that each channel's range fits int16 with margin. The count ``-32768``
(``firmware_bridge.messages.NO_READING``) is never produced by quantisation: it
is the "no reading" marker a dropped-out sensor reports.
"""

from __future__ import annotations

from firmware_bridge.messages import ChannelInfo

FAST_STREAM = 0
SLOW_STREAM = 1
SLOW_RATE_HZ = 20

# (name, unit, scale, offset, stream) -- the order is the contract, do not reorder
_TABLE: tuple[tuple[str, str, float, float, int], ...] = (
    ("drum_current", "A", 0.002, 0.0, FAST_STREAM),  # +-65.5 A
    ("drum_speed", "rad/s", 0.0005, 0.0, FAST_STREAM),  # +-16.4 rad/s
    ("cut_depth", "m", 1.25e-5, 0.0, FAST_STREAM),  # +-0.41 m
    ("arm_current", "A", 0.001, 0.0, FAST_STREAM),  # +-32.8 A
    ("bucket_load", "kg", 0.002, 0.0, FAST_STREAM),  # +-65.5 kg
    ("pitch", "deg", 0.002, 0.0, FAST_STREAM),  # +-65.5 deg
    ("roll", "deg", 0.002, 0.0, FAST_STREAM),
    ("motor_temp", "degC", 0.01, 0.0, FAST_STREAM),  # +-327 degC
    ("battery_voltage", "V", 0.002, 0.0, FAST_STREAM),  # +-65.5 V
    ("battery_current", "A", 0.002, 0.0, FAST_STREAM),
    ("vibration", "m/s^2", 0.002, 0.0, FAST_STREAM),
    ("arm_position", "m", 1.25e-5, 0.0, FAST_STREAM),
    ("x", "m", 0.01, 0.0, SLOW_STREAM),  # +-327 m
    ("y", "m", 0.01, 0.0, SLOW_STREAM),
    ("heading", "rad", 1e-4, 0.0, SLOW_STREAM),  # +-3.28 rad
    ("battery_soc", "%", 0.005, 0.0, SLOW_STREAM),  # +-164 %
)

CHANNELS: tuple[ChannelInfo, ...] = tuple(
    ChannelInfo(i, name, unit, scale, offset, stream)
    for i, (name, unit, scale, offset, stream) in enumerate(_TABLE)
)
CHANNEL_IDS: dict[str, int] = {ch.name: ch.channel_id for ch in CHANNELS}
FAST_CHANNELS: tuple[ChannelInfo, ...] = tuple(c for c in CHANNELS if c.stream_id == FAST_STREAM)
SLOW_CHANNELS: tuple[ChannelInfo, ...] = tuple(c for c in CHANNELS if c.stream_id == SLOW_STREAM)
N_FAST = len(FAST_CHANNELS)
N_SLOW = len(SLOW_CHANNELS)
