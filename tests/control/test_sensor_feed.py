"""SensorFeed's telemetry for the downlink: filtered rows and raw-sample statistics."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from control.runtime.sensor_feed import MAX_PENDING_BATCHES, SensorFeed
from firmware_bridge.messages import ChannelInfo, FirmwareInfo, SampleBatch

CHANNELS = (ChannelInfo(0, "drum_current", "A", 0.01), ChannelInfo(1, "drum_speed", "rad/s", 0.001))
INFO = FirmwareInfo(1, "t", (1, 0, 0), 1, 1, 0, 1000, 5, CHANNELS)
CHAIN = {"stages": [{"type": "lowpass", "order": 2, "cutoff_hz": 20.0}]}


def _feed_batches(feed: SensorFeed, counts: np.ndarray, per_batch: int) -> None:
    for i in range(0, counts.shape[0], per_batch):
        chunk = counts[i:i + per_batch]
        feed.add_batch(SampleBatch(0, i // per_batch, 5_000_000 + i * 1000, 1_000_000, chunk),
                       arrival=float(i))


def test_filtered_rows_are_downsampled_to_100_hz_with_continuous_times() -> None:
    rng = np.random.default_rng(3)
    counts = rng.integers(-1000, 1000, size=(2000, 2)).astype(np.int16)
    feed = SensorFeed(INFO, {0: CHAIN})
    _feed_batches(feed, counts[:1003], 7)  # chunk sizes that do not divide the step
    first, _ = feed.take_telemetry()
    _feed_batches(feed, counts[1003:], 7)
    second, _ = feed.take_telemetry()
    (a,), (b,) = first, second
    assert a.channels == ("drum_current", "drum_speed") and a.units == ("A", "rad/s")
    assert a.period_s == b.period_s == 0.01
    assert a.t0_rig == 5.0
    assert abs(b.t0_rig - (a.t0_rig + a.samples.shape[0] * a.period_s)) < 1e-9
    assert a.samples.shape[0] + b.samples.shape[0] == 200
    # the same rows as filtering everything at once and keeping every 10th
    whole = SensorFeed(INFO, {0: CHAIN})
    _feed_batches(whole, counts, 2000)
    (ref,), _ = whole.take_telemetry()
    assert np.allclose(np.concatenate([a.samples, b.samples]), ref.samples, rtol=0, atol=1e-12)


def test_window_statistics_match_numpy_on_the_scaled_samples() -> None:
    counts = np.arange(2500 * 2, dtype=np.int16).reshape(2500, 2) % 977
    feed = SensorFeed(INFO, {0: CHAIN})
    _feed_batches(feed, counts, 13)
    _, stats = feed.take_telemetry()
    assert len(stats) == 2  # two complete 1 s windows of 1000 samples
    phys = counts.astype(float) * np.array([0.01, 0.001])
    for k, w in enumerate(stats):
        seg = phys[k * 1000:(k + 1) * 1000]
        assert w.t0_rig == 5.0 + k and w.window_s == 1.0 and w.count == 1000
        assert np.allclose(w.values["mean"], seg.mean(axis=0))
        assert np.allclose(w.values["min"], seg.min(axis=0))
        assert np.allclose(w.values["max"], seg.max(axis=0))
        assert np.allclose(w.values["rms"], np.sqrt((seg ** 2).mean(axis=0)))
        assert np.allclose(w.values["p2p"], np.ptp(seg, axis=0))


# --- batches are queued on arrival and filtered when read --------------------------------

FAST_CHAIN = {"stages": [{"type": "hampel", "window": 5},
                         {"type": "lowpass", "order": 2, "cutoff_hz": 50.0},
                         {"type": "decimate", "factor": 2}]}
_SPECIAL = st.sampled_from([32767, -32767, -32768, 0, 5])


@st.composite
def _batches(draw: st.DrawFn) -> list[np.ndarray]:
    out = []
    for _ in range(draw(st.integers(1, 12))):
        n = draw(st.integers(1, 9))
        flat = draw(st.booleans())  # a batch that repeats the previous row exactly
        if flat and out:
            out.append(np.repeat(out[-1][-1:], n, axis=0))
            continue
        cells = draw(st.lists(st.one_of(st.integers(-2000, 2000), _SPECIAL),
                              min_size=2 * n, max_size=2 * n))
        out.append(np.array(cells, dtype=np.int16).reshape(n, 2))
    return out


def _add(feed: SensorFeed, batches: list[np.ndarray]) -> None:
    t = 0
    for i, b in enumerate(batches):
        feed.add_batch(SampleBatch(0, i, 1_000_000 + t * 1000, 1_000_000, b), arrival=0.5 + i)
        t += b.shape[0]


@settings(max_examples=60, deadline=None)
@given(_batches())
def test_filtering_queued_batches_at_once_equals_filtering_each_on_arrival(batches) -> None:
    each, once = SensorFeed(INFO, {0: FAST_CHAIN}), SensorFeed(INFO, {0: FAST_CHAIN})
    saturated: set[str] = set()
    t = 0
    for i, b in enumerate(batches):  # read after every batch: nothing is ever queued
        each.add_batch(SampleBatch(0, i, 1_000_000 + t * 1000, 1_000_000, b), arrival=0.5 + i)
        t += b.shape[0]
        saturated |= each.measurements(100.0).saturated
    _add(once, batches)  # all queued, filtered by the one read
    a, b = each.measurements(100.0), once.measurements(100.0)
    assert saturated == set(b.saturated)
    assert a.unchanged_for == b.unchanged_for
    assert np.allclose([a.drum_current, a.drum_speed], [b.drum_current, b.drum_speed],
                       rtol=0, atol=1e-12, equal_nan=True)
    assert a.age == b.age and each.samples_filtered == once.samples_filtered
    (rows_a, stats_a), (rows_b, stats_b) = each.take_telemetry(), once.take_telemetry()
    assert len(rows_a) == len(rows_b) and len(stats_a) == len(stats_b)
    for x, y in zip(rows_a, rows_b, strict=True):
        assert x.t0_rig == y.t0_rig
        assert np.allclose(x.samples, y.samples, rtol=0, atol=1e-12, equal_nan=True)


def test_a_stream_filters_its_queue_when_it_is_full() -> None:
    feed = SensorFeed(INFO, {0: CHAIN})
    one = np.zeros((1, 2), dtype=np.int16)
    for i in range(MAX_PENDING_BATCHES - 1):
        feed.add_batch(SampleBatch(0, i, 1_000_000 + i * 1000, 1_000_000, one), arrival=1.0)
    assert feed.streams[0].pending_rows == MAX_PENDING_BATCHES - 1
    feed.add_batch(SampleBatch(0, 99, 2_000_000, 1_000_000, one), arrival=1.0)
    assert feed.streams[0].pending_rows == 0 and not feed.streams[0].pending


def test_a_batch_that_does_not_fit_the_stream_is_ignored_not_fatal() -> None:
    feed = SensorFeed(INFO, {0: CHAIN})
    good = np.array([[100, 200]], dtype=np.int16)
    feed.add_batch(SampleBatch(0, 0, 1_000_000, 1_000_000, good), arrival=1.0)
    for bad in (good.astype(np.float64), good.astype(np.int32), good[:, :1],
                np.zeros((0, 2), dtype=np.int16)):
        feed.add_batch(SampleBatch(0, 1, 1_001_000, 1_000_000, bad), arrival=1.0)
    m = feed.measurements(1.0)  # the kernel never sees the misfits
    assert feed.samples_filtered == 2
    assert np.isfinite(m.drum_current) and np.isfinite(m.drum_speed)


def test_measurements_carry_the_newest_fast_samples_timestamp() -> None:
    """``sample_time`` is the firmware's clock (the end of the newest batch), whatever
    the loop's clock says; NaN before the first batch and after a link reset."""
    feed = SensorFeed(INFO, {0: CHAIN})
    assert np.isnan(feed.measurements(0.0).sample_time)
    rows = np.zeros((5, 2), dtype=np.int16)
    feed.add_batch(SampleBatch(0, 0, 7_000_000, 1_000_000, rows), arrival=100.0)
    assert feed.measurements(500.0).sample_time == 7.005  # 5 samples at 1 kHz
    feed.reset_streams()
    assert np.isnan(feed.measurements(501.0).sample_time)
