"""From raw sample batches to the ``Measurements`` of one control step.

``SensorFeed`` owns one ``telemetry.filters.FilterChain`` per sample stream,
built from the firmware's channel table (``FirmwareInfo.channels``) and sample
rate. ``add_batch(batch, arrival)`` scales the int16 counts to physical units
(``offset + scale * count``; the dropout marker -32768 becomes NaN, which the
filters hold over), filters them in place of the previous state and keeps the
newest filtered row per channel. ``measurements(now)`` assembles the
``Measurements`` for the control step: values, plant-time ages, for how
long (sample time) each channel's raw counts have been bit-identical, and the
channels pinned at a rail or dropped out since the previous call.

Time: *arrival* and *now* are wall seconds (``loop.time()``); ages are
converted to plant seconds with the time scale. The feed also measures the
time scale the firmware actually runs at (sample-time advance over wall time)
so the app can warn when it disagrees with the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from firmware_bridge.messages import ChannelInfo, FirmwareInfo, SampleBatch
from telemetry.filters import FilterChain

from .errors import ConfigError
from .measurements import CHANNEL_FIELDS, Measurements

NO_READING = -32768
RAIL = 32767
NAV_RATE_HZ = 20.0


@dataclass(slots=True)
class _Stream:
    stream_id: int
    names: tuple[str, ...]
    scale: np.ndarray
    offset: np.ndarray
    chain: FilterChain
    latest: np.ndarray  # filtered, per channel
    last_counts: np.ndarray | None = None
    arrival: float = -math.inf
    changed_t_us: np.ndarray | None = None  # sample time of each channel's last change
    saturated: np.ndarray | None = None  # OR over batches since last read
    samples: int = 0
    first_t_us: int | None = None
    first_arrival: float = 0.0
    last_t_us: int = 0


class SensorFeed:
    def __init__(self, info: FirmwareInfo, filters: Mapping[int, Mapping[str, Any]],
                 time_scale: float = 1.0) -> None:
        """*filters*: stream id -> FilterChain config; a missing stream gets a pass-through."""
        self.time_scale = time_scale
        self.samples_filtered = 0  # channel-samples
        self.streams: dict[int, _Stream] = {}
        by_stream: dict[int, list[ChannelInfo]] = {}
        for ch in info.channels:
            by_stream.setdefault(ch.stream_id, []).append(ch)
        for sid, chans in by_stream.items():
            chans.sort(key=lambda c: c.channel_id)
            rate = float(info.sample_rate_hz) if sid == 0 else NAV_RATE_HZ
            spec = filters.get(sid, {"stages": [{"type": "median", "window": 1}]})
            try:
                chain = FilterChain.from_config(spec, rate, len(chans))
            except (TypeError, ValueError) as err:
                key = "filters.fast" if sid == 0 else "filters.nav"
                raise ConfigError(key, str(err)) from err
            self.streams[sid] = _Stream(
                sid, tuple(c.name for c in chans),
                np.array([c.scale for c in chans]), np.array([c.offset for c in chans]),
                chain, np.full(len(chans), np.nan))

    def add_batch(self, batch: SampleBatch, arrival: float) -> None:
        st = self.streams.get(batch.stream_id)
        counts = batch.counts
        if st is None or counts.ndim != 2 or counts.shape[1] != len(st.names) \
                or counts.shape[0] == 0:
            return
        phys = counts.astype(np.float64)
        phys *= st.scale
        phys += st.offset
        dropout = counts == NO_READING
        if dropout.any():
            phys[dropout] = np.nan
        out = st.chain.process(np.ascontiguousarray(phys))
        if out.shape[0]:
            st.latest = out[-1].copy()
        n = counts.shape[0]
        self.samples_filtered += counts.size
        st.samples += n
        t_end = batch.t0_us + (n * batch.period_ns) // 1000
        changed = counts.max(axis=0) != counts.min(axis=0)
        if st.last_counts is not None and st.changed_t_us is not None:
            changed |= counts[0] != st.last_counts
            st.changed_t_us[changed] = t_end
        else:
            st.changed_t_us = np.full(len(st.names), t_end, dtype=np.int64)
        st.last_counts = counts[-1].copy()
        sat = (np.abs(counts) >= RAIL).all(axis=0) | dropout.all(axis=0)
        st.saturated = sat if st.saturated is None else (st.saturated | sat)
        st.arrival = arrival
        if st.first_t_us is None:
            st.first_t_us, st.first_arrival = t_end, arrival
        st.last_t_us = t_end

    def reset_streams(self) -> None:
        """After a link loss: forget arrival times (so data reads stale until new batches)."""
        for st in self.streams.values():
            st.arrival = -math.inf
            st.last_counts = None
            st.changed_t_us = None
            st.saturated = None
            st.first_t_us = None

    def measured_time_scale(self, stream_id: int = 0) -> float | None:
        st = self.streams.get(stream_id)
        if st is None or st.first_t_us is None or st.arrival - st.first_arrival < 1.0:
            return None
        return (st.last_t_us - st.first_t_us) / 1e6 / (st.arrival - st.first_arrival)

    def newest_arrival(self, stream_id: int = 0) -> float:
        st = self.streams.get(stream_id)
        return st.arrival if st is not None else -math.inf

    def measurements(self, now: float) -> Measurements:
        values: dict[str, Any] = {}
        unchanged: dict[str, float] = {}
        saturated: set[str] = set()
        ages = {}
        for sid, st in self.streams.items():
            for i, name in enumerate(st.names):
                if name in CHANNEL_FIELDS:
                    values[name] = float(st.latest[i])
                    if st.changed_t_us is not None:
                        unchanged[name] = (st.last_t_us - int(st.changed_t_us[i])) / 1e6
                    if st.saturated is not None and st.saturated[i]:
                        saturated.add(name)
            ages[sid] = (now - st.arrival) * self.time_scale
            st.saturated = None
        return Measurements(
            **values, age=ages.get(0, math.inf), nav_age=ages.get(1, math.inf),
            unchanged_for=unchanged, saturated=frozenset(saturated))
