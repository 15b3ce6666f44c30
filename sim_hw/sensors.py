"""Sensor sample synthesis: plant records in, int16 counts out, vectorised.

The plant steps at its own rate and leaves one record row per step (true
values, see ``plant.REC_FIELDS``). ``SensorSynth.fast(rec, t_rec0, dt, ts)``
turns the rows into samples at arbitrary times ``ts`` (the raw rate) in one
go: linear interpolation between plant steps, then per-channel Gaussian
noise, PWM ripple on the currents (a triangle at the PWM frequency, sampled,
so it aliases as on the real ADC), drum-rotation and gear-mesh vibration,
rare spikes, then int16 quantisation with the handshake's scale factors.
Sensor faults (stuck, dropout, spike bursts) are overlays with exact time
windows. The "realistic" profile (``profile="realistic"``) leaves out the
noise, the spikes and the ripple: quantisation only, as real encoders, load
cells and inclinometers read bit-identical counts while nothing moves (the
arm's encoder changes only when the arm moves); the scoop and gear-mesh
vibration of a turning drum stays (it is the signal, not noise). Randomness
comes from the ``numpy.random.Generator`` it is given, so a seed gives the
same counts for the same records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from firmware_bridge.messages import COUNT_RAIL, NO_READING

from .channels import FAST_CHANNELS, NOISE_SIGMA, SENSOR_PROFILES, SLOW_CHANNELS
from .errors import SimUsageError
from .plant import COL_MESH, COL_RIPPLE, COL_THETA
from .plant_config import PlantConfig

# per fast channel: noise sigma, spike probability per sample, spike amplitude (physical)
_NOISE = np.array(NOISE_SIGMA[:len(FAST_CHANNELS)])
_SPIKE_P = np.array([2e-4, 0, 0, 1e-4, 1e-4, 0, 0, 0, 5e-5, 2e-4, 2e-4, 0])
_SPIKE_A = np.array([15.0, 0, 0, 3.0, 8.0, 0, 0, 0, 2.0, 10.0, 15.0, 0])
_SLOW_NOISE = np.array(NOISE_SIGMA[len(FAST_CHANNELS):])  # every live channel shows noise


@dataclass(slots=True)
class Overlay:
    """A sensor fault active on ``channel`` during [start, end) simulated seconds."""

    kind: str  # "stuck", "dropout" or "spikes"
    channel: int
    start: float
    end: float
    value: float = math.nan  # stuck: physical value (nan: hold the last reading)
    rate: float = 0.0  # spikes per second
    amplitude: float = 0.0  # physical
    count: int | None = None  # stuck: the count being held


class SensorSynth:
    def __init__(self, rate_hz: float, rng: np.random.Generator,
                 plant: PlantConfig | None = None, profile: str = "noisy") -> None:
        if profile not in SENSOR_PROFILES:
            raise SimUsageError(f"sensor profile: expected one of {SENSOR_PROFILES}, "
                             f"got {profile!r}")
        pc = plant or PlantConfig()
        self.gain = 1.0 if profile == "noisy" else 0.0  # of the noise, spikes and ripple
        self.rate_hz = rate_hz
        self.rng = rng
        self.scoops = pc.scoops
        self.mesh = pc.gear_ratio * pc.gear_teeth
        self.pwm_hz = pc.pwm_hz
        self.inv_scale = np.array([1.0 / c.scale for c in FAST_CHANNELS])
        self.offset = np.array([c.offset for c in FAST_CHANNELS])
        self.slow_inv_scale = np.array([1.0 / c.scale for c in SLOW_CHANNELS])
        self.slow_offset = np.array([c.offset for c in SLOW_CHANNELS])
        # spikes are per sample: keep their rate per second independent of the raw rate
        self.spike_p = _SPIKE_P * (1000.0 / rate_hz) * self.gain
        self.n = len(FAST_CHANNELS)
        self.overlays: list[Overlay] = []
        self.last_counts = np.zeros(self.n, dtype=np.int16)
        self.last_slow = np.zeros(len(SLOW_CHANNELS), dtype=np.int16)

    def scale_of(self, channel: int) -> float:
        ch = (FAST_CHANNELS + SLOW_CHANNELS)[channel]
        return ch.scale

    def fast(self, rec: np.ndarray, t_rec0: float, dt: float, ts: np.ndarray) -> np.ndarray:
        """Counts (len(ts) x 12, int16) at times *ts* from records rec[j] at t_rec0 + j*dt."""
        n = len(ts)
        m = rec.shape[0]
        pos = (ts - t_rec0) * (1.0 / dt)
        i0 = np.clip(pos.astype(np.int64), 0, max(m - 2, 0))
        f = np.clip(pos - i0, 0.0, 1.0)[:, None]
        i1 = np.minimum(i0 + 1, m - 1)
        v = rec[i0] * (1.0 - f) + rec[i1] * f  # (n, REC_FIELDS)
        theta = v[:, COL_THETA]
        vals = v[:, : self.n].copy()
        rng = self.rng
        noise = rng.standard_normal((n, self.n))
        noise *= _NOISE * self.gain
        vals += noise
        # PWM ripple (aliased triangle) on drum and battery current
        ph = ts * self.pwm_hz
        tri = 4.0 * np.abs(ph - np.floor(ph) - 0.5) - 1.0
        ripple = v[:, COL_RIPPLE] * tri * self.gain
        vals[:, 0] += ripple
        vals[:, 9] += 0.1 * ripple
        # vibration: scoop impacts at scoops x drum rate plus gear mesh, times the envelope
        env = v[:, 10]
        vals[:, 10] = noise[:, 10] * env * 4.0 + env * np.sin(self.scoops * theta) \
            + v[:, COL_MESH] * np.sin(self.mesh * theta)
        vals[:, 4] += 0.2 * np.sin(self.scoops * theta) * np.minimum(1.0, np.abs(v[:, 1]) / 3.0)
        # rare spikes
        u = rng.random((n, self.n))
        spikes = u < self.spike_p
        if spikes.any():
            sign = np.where(u < self.spike_p * 0.5, -1.0, 1.0)
            vals += spikes * sign * _SPIKE_A
        overlays = self.overlays
        if overlays:
            self._spike_bursts(vals, ts)
        counts = (vals - self.offset) * self.inv_scale
        np.rint(counts, out=counts)
        np.clip(counts, -COUNT_RAIL, COUNT_RAIL, out=counts)
        out = counts.astype(np.int16)
        if overlays:
            self._hold_and_drop(out, ts, 0)
        self.last_counts = out[-1].copy()
        return out

    def slow(self, values: tuple[float, ...], t: float) -> np.ndarray:
        """One slow-stream sample (1 x 4 counts) at time *t*."""
        vals = np.asarray(values) + self.rng.standard_normal(len(values)) * (_SLOW_NOISE
                                                                              * self.gain)
        counts = np.clip(np.rint((vals - self.slow_offset) * self.slow_inv_scale),
                         -COUNT_RAIL, COUNT_RAIL).astype(np.int16)[None, :]
        if self.overlays:
            self._hold_and_drop(counts, np.array([t]), self.n)
        self.last_slow = counts[0].copy()
        return counts

    # --- overlays ------------------------------------------------------------------

    def _spike_bursts(self, vals: np.ndarray, ts: np.ndarray) -> None:
        for o in self.overlays:
            if o.kind != "spikes" or o.channel >= self.n:
                continue
            win = (ts >= o.start) & (ts < o.end)
            if not win.any():
                continue
            u = self.rng.random(len(ts))
            p = o.rate / self.rate_hz
            hit = win & (u < p)
            vals[hit, o.channel] += np.where(u[hit] < p / 2, -o.amplitude, o.amplitude)

    def _hold_and_drop(self, counts: np.ndarray, ts: np.ndarray, base: int) -> None:
        width = counts.shape[1]
        for o in self.overlays:
            col = o.channel - base
            if o.kind == "spikes" or not 0 <= col < width:
                continue
            win = (ts >= o.start) & (ts < o.end)
            if not win.any():
                continue
            if o.kind == "dropout":
                counts[win, col] = NO_READING
            else:  # stuck
                if o.count is None:
                    if not math.isnan(o.value):
                        scale = self.scale_of(o.channel)
                        o.count = int(np.clip(round(o.value / scale), -COUNT_RAIL, COUNT_RAIL))
                    else:
                        last = self.last_counts if base == 0 else self.last_slow
                        first = int(np.argmax(win))
                        o.count = int(counts[first - 1, col]) if first > 0 else int(last[col])
                counts[win, col] = o.count

    def prune(self, t: float) -> None:
        """Forget overlays that ended before *t*."""
        self.overlays = [o for o in self.overlays if o.end > t]
