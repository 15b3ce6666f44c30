"""The rig's sensor channels as announced in the handshake (``FirmwareInfo.channels``).

Stream 0 is the fast stream (raw rate, batched), stream 1 the slow navigation
stream (20 Hz). Physical value = offset + scale * count; scales are chosen so
that each channel's range fits int16 with margin. The count ``-32768``
(``firmware_bridge.messages.NO_READING``) is never produced by quantisation: it
is the "no reading" marker a dropped-out sensor reports.

Each channel also says the least noise its sensor always shows, in counts
(``noise_floor_counts``, protocol 1.2): the default "noisy" sensors add
Gaussian noise of a known sigma, so they announce ``sigma / scale``; the
"realistic" profile (quantisation only, ``sim_hw.sensors``) announces 0
(unknown: the counts may sit still while nothing moves).
"""

from __future__ import annotations

from firmware_bridge.messages import ChannelInfo

from .errors import SimUsageError

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

#: one-sigma noise of the "noisy" profile, physical units, in channel order (the
#: fast stream's are sim_hw.sensors' noise; x, y, heading, battery_soc its slow noise)
NOISE_SIGMA: tuple[float, ...] = (0.05, 0.01, 5e-4, 0.02, 0.1, 0.05, 0.05, 0.1, 0.02, 0.05,
                                  0.05, 2e-4, 0.01, 0.01, 0.001, 0.01)

#: the sensor profiles: "noisy" (Gaussian noise, spikes and ripple on every channel; the
#: default) and "realistic" (quantisation only: bit-identical counts while nothing moves)
SENSOR_PROFILES = ("noisy", "realistic")


def channel_table(profile: str = "noisy") -> tuple[ChannelInfo, ...]:
    """The handshake's channel table of a sensor profile (its noise floors)."""
    if profile not in SENSOR_PROFILES:
        raise SimUsageError(f"sensor profile: expected one of {SENSOR_PROFILES}, got {profile!r}")
    noisy = profile == "noisy"
    return tuple(
        ChannelInfo(i, name, unit, scale, offset, stream,
                    int(NOISE_SIGMA[i] / scale + 1e-9) if noisy else 0)
        for i, (name, unit, scale, offset, stream) in enumerate(_TABLE))


CHANNELS: tuple[ChannelInfo, ...] = channel_table("noisy")
CHANNEL_IDS: dict[str, int] = {ch.name: ch.channel_id for ch in CHANNELS}
FAST_CHANNELS: tuple[ChannelInfo, ...] = tuple(c for c in CHANNELS if c.stream_id == FAST_STREAM)
SLOW_CHANNELS: tuple[ChannelInfo, ...] = tuple(c for c in CHANNELS if c.stream_id == SLOW_STREAM)
N_FAST = len(FAST_CHANNELS)
N_SLOW = len(SLOW_CHANNELS)
