"""From raw sample batches to the ``Measurements`` of one control step.

``SensorFeed`` owns one ``telemetry.rover.filters.FilterChain`` per sample stream,
built from the firmware's channel table (``FirmwareInfo.channels``) and sample
rate. ``add_batch(batch, arrival)`` only queues the batch (the callback that
receives batches stays a few microseconds long at any sample rate);
``flush()``, which every reader calls first, takes each stream's queued batches
as one block: scales the int16 counts to physical units (``offset + scale *
count``; the dropout marker -32768 becomes NaN, which the filters hold over) and
notes, per batch, which channels moved and which sat at a rail, in one call of
``control.runtime.ingest`` (compiled); filters the block in place of the previous state
(one chain call gives exactly the rows of one call per batch) and keeps the
newest filtered row per channel.
``measurements(now)`` assembles the ``Measurements`` for the control step:
values, plant-time ages, the newest fast sample's timestamp (``sample_time``, the
firmware's clock), for how long (sample time) each channel's raw counts
have been bit-identical, and the channels pinned at a rail or dropped out since
the previous call (both judged per batch, as before the queue).

Time: *arrival* and *now* are wall seconds (``loop.time()``); ages are
converted to plant seconds with the time scale. The feed also measures the
time scale the firmware actually runs at (sample-time advance over wall time)
so the app can warn when it disagrees with the configuration.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge.messages import ChannelInfo, FirmwareInfo, SampleBatch
from telemetry.contract.payloads import BatchBlock, StatsBlock
from telemetry.rover.filters import FilterChain

from ..core.errors import ConfigError
from ..core.measurements import CHANNEL_FIELDS, Measurements
from .downlink_buffer import DownlinkBuffer
from .ingest import ingest
from .sample_clock import SampleClock

NAV_RATE_HZ = 20.0
#: a stream filters its queued batches at the latest when this many are waiting (the
#: control step normally flushes them every period, a few at a time)
MAX_PENDING_BATCHES = 64


@dataclass(slots=True)
class _Stream:
    """One sample stream: its table, its queue, its filter chain and what was read."""

    stream_id: int
    names: tuple[str, ...]
    scale: np.ndarray
    offset: np.ndarray
    chain: FilterChain
    latest: np.ndarray  # filtered, per channel
    last_counts: np.ndarray  # int16, the newest raw row (meaningful once changed_t_us is set)
    saturated: np.ndarray  # uint8 per channel: pinned in some batch since the last read
    downlink: DownlinkBuffer  # what waits for the next telemetry publication
    clock: SampleClock = field(default_factory=SampleClock)
    changed_t_us: np.ndarray | None = None  # sample time of each channel's last change
    n_saturated: int = 0  # channels set in ``saturated``
    samples: int = 0
    fields: tuple[tuple[int, str], ...] = ()  # (column, name) of the Measurements fields
    pending: list[np.ndarray] = field(default_factory=list)  # raw counts not yet filtered
    pending_ends: list[int] = field(default_factory=list)  # end time of each, us
    pending_rows: int = 0


class SensorFeed:
    def __init__(self, info: FirmwareInfo, filters: Mapping[int, Mapping[str, Any]],
                 time_scale: float = 1.0) -> None:
        """*filters*: stream id -> FilterChain config; a missing stream gets a pass-through."""
        self.time_scale = time_scale
        self.samples_filtered = 0  # channel-samples
        self.streams: dict[int, _Stream] = {}
        # protocol 1.2: channels whose firmware says they always show noise (a flat one is
        # stuck whatever the rig does; the others are judged by what the rig does)
        self.noisy = frozenset(ch.name for ch in info.channels if ch.noise_floor_counts > 0)
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
            names = tuple(c.name for c in chans)
            self.streams[sid] = _Stream(
                sid, names, np.array([c.scale for c in chans]),
                np.array([c.offset for c in chans]), chain, np.full(len(chans), np.nan),
                np.zeros(len(chans), dtype=np.int16), np.zeros(len(chans), dtype=np.uint8),
                DownlinkBuffer(f"stream{sid}", names, tuple(c.unit for c in chans), rate,
                               chain.fs_out),
                fields=tuple((i, c.name) for i, c in enumerate(chans)
                             if c.name in CHANNEL_FIELDS))

    def add_batch(self, batch: SampleBatch, arrival: float) -> None:
        """Queue a batch for filtering (see ``flush``); cheap, so the event callback that
        receives batches stays short whatever the sample rate."""
        st = self.streams.get(batch.stream_id)
        counts = batch.counts
        if st is None or counts.ndim != 2 or counts.shape[1] != len(st.names) \
                or counts.shape[0] == 0 or counts.dtype != np.int16:
            return  # not this stream's table (the decoder never makes such a batch)
        n = counts.shape[0]
        self.samples_filtered += counts.size
        st.samples += n
        st.downlink.start(batch.t0_us / 1e6)
        t_end = batch.t0_us + (n * batch.period_ns) // 1000
        st.pending.append(counts)
        st.pending_ends.append(t_end)
        st.pending_rows += n
        st.clock.note(t_end, arrival)
        if len(st.pending) >= MAX_PENDING_BATCHES:
            self._filter_pending(st)

    def flush(self) -> None:
        """Filter every queued batch (in arrival order, as one block per stream).

        The chains carry their state across calls, so one call over the queued batches
        gives exactly the rows of one call per batch; the per-batch bookkeeping (when
        each channel's counts last changed, rails and dropouts per batch) is kept per
        batch. Every reader (``measurements``, ``take_telemetry``, ``reset_streams``)
        flushes first."""
        for st in self.streams.values():
            if st.pending:
                self._filter_pending(st)

    def _filter_pending(self, st: _Stream) -> None:
        batches, ends = st.pending, st.pending_ends
        phys = np.empty((st.pending_rows, len(st.names)))
        fresh = st.changed_t_us is None  # a new session: no previous row to compare with
        if fresh:
            st.changed_t_us = np.empty(len(st.names), dtype=np.int64)
        # scale, NaN for "no reading", change times, rails: one call (control.runtime.ingest)
        st.n_saturated = ingest(batches, ends, st.scale, st.offset, st.last_counts, fresh,
                                st.changed_t_us, st.saturated, phys)
        batches.clear()
        ends.clear()
        st.pending_rows = 0
        out = st.chain.process(phys)
        st.downlink.keep(out, phys)
        if out.shape[0]:
            st.latest = out[-1].copy()

    def take_telemetry(self) -> tuple[list[BatchBlock], list[StatsBlock]]:
        """Filtered rows and completed statistics windows (of the raw, scaled samples) since
        the last call, as the downlink publishes them; their times are the firmware's
        sample clock, seconds."""
        self.flush()
        blocks: list[BatchBlock] = []
        stats: list[StatsBlock] = []
        for st in self.streams.values():
            block, windows = st.downlink.take()
            if block is not None:
                blocks.append(block)
            stats.extend(windows)
        return blocks, stats

    def reset_streams(self) -> None:
        """After a link loss: forget arrival times (so data reads stale until new batches)."""
        self.flush()
        for st in self.streams.values():
            st.downlink.reset()
            st.clock.reset()
            st.changed_t_us = None
            st.saturated[:] = 0
            st.n_saturated = 0

    def measured_time_scale(self, stream_id: int = 0) -> float | None:
        st = self.streams.get(stream_id)
        return st.clock.time_scale() if st is not None else None

    def newest_arrival(self, stream_id: int = 0) -> float:
        st = self.streams.get(stream_id)
        return st.clock.arrival if st is not None else -math.inf

    def measurements(self, now: float) -> Measurements:
        self.flush()
        values: dict[str, Any] = {}
        unchanged: dict[str, float] = {}
        saturated: set[str] = set()
        ages = {}
        for sid, st in self.streams.items():
            latest = st.latest.tolist()
            changed = st.changed_t_us.tolist() if st.changed_t_us is not None else None
            for i, name in st.fields:
                values[name] = latest[i]
                if changed is not None:
                    unchanged[name] = (st.clock.last_t_us - changed[i]) / 1e6
            if st.n_saturated:
                flags = st.saturated.tolist()
                saturated.update(name for i, name in st.fields if flags[i])
                st.saturated[:] = 0
                st.n_saturated = 0
            ages[sid] = (now - st.clock.arrival) * self.time_scale
        fast = self.streams.get(0)
        sample_time = fast.clock.last_t_us / 1e6 \
            if fast is not None and fast.clock.first_t_us is not None else math.nan
        return Measurements(
            **values, age=ages.get(0, math.inf), nav_age=ages.get(1, math.inf),
            sample_time=sample_time, unchanged_for=unchanged, saturated=frozenset(saturated),
            noisy=self.noisy)
