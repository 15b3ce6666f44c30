"""Bridge decode throughput vs a pure-Python decode and vs a 3 Mbaud line.

Prints, for sample-batch frames of 12 channels (10 kHz raw, 1 ms and 5 ms
batches): frames/s and channel-samples/s through (a) the compiled framing +
codec (FrameDecoder), (b) the whole host link (Link.receive_data: framing,
decode, sequence/gap accounting, events), and (c) the same link with the
pure-Python framing twin; then the share of one core the bridge needs to keep
up with a 3 Mbaud line fully loaded with such batches (goal: <= 5%).
One run, same machine, same data: the ratios are the figures to read.
"""

from __future__ import annotations

import time

import numpy as np

from firmware_bridge import _framing_py, framing
from firmware_bridge.codec import FrameDecoder, encode_frame
from firmware_bridge.link import Link, LinkConfig, Role
from firmware_bridge.messages import ChannelInfo, FirmwareInfo, SampleBatch

LINE_BYTES_PER_S = 3_000_000 / 10  # 8N1: 10 bits per byte
CHANNELS = 12
RATE = 10_000


def make_stream(samples_per_batch: int, n_frames: int) -> tuple[bytes, int]:
    rng = np.random.default_rng(1)
    frames = []
    for i in range(n_frames):
        counts = rng.integers(-2000, 2000, size=(samples_per_batch, CHANNELS), dtype=np.int16)
        batch = SampleBatch(0, i, i * 1000, 100_000, counts)
        frames.append(encode_frame(batch, seq=i))
    return b"".join(frames), len(frames[0])


def up_link(pure: bool) -> Link:
    info = FirmwareInfo(1, "bench", (1, 0, 0), 0, 1, 0, RATE, 10,
                        tuple(ChannelInfo(i, f"c{i}", "V", 1.0) for i in range(CHANNELS)))
    host = Link(Role.HOST, LinkConfig(loss_timeout=1e9, heartbeat_interval=1e8))
    fw = Link(Role.FIRMWARE, LinkConfig(loss_timeout=1e9, heartbeat_interval=1e8),
              firmware_info=info)
    host.connect(0.0, session_id=1)
    fw.receive_data(host.data_to_send(), 0.0)
    host.receive_data(fw.data_to_send(), 0.0)
    while host.next_event() is not None:
        pass
    if pure:
        host._decoder._splitter = _framing_py.FrameSplitter()
    return host


def run_link(stream: bytes, chunk: int, pure: bool) -> tuple[float, int]:
    link = up_link(pure)
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(stream), chunk):
        link.receive_data(stream[i : i + chunk], 1.0)
        while link.next_event() is not None:
            n += 1
    return time.perf_counter() - t0, n


def run_decoder(stream: bytes, chunk: int) -> tuple[float, int]:
    dec = FrameDecoder()
    t0 = time.perf_counter()
    n = 0
    for i in range(0, len(stream), chunk):
        n += len(dec.feed(stream[i : i + chunk]))
    return time.perf_counter() - t0, n


def main() -> None:
    print(f"framing implementation loaded: {framing.IMPLEMENTATION}")
    print(f"{'batch':>10} {'frame B':>8} {'path':<28} {'frames/s':>12} {'ch-samples/s':>14}"
          f" {'vs pure':>8} {'core @3Mbaud':>13}")
    for spb in (10, 50):
        n_frames = 20_000 if spb == 10 else 8_000
        stream, fsize = make_stream(spb, n_frames)
        line_fps = LINE_BYTES_PER_S / fsize
        chunk = 4096  # a typical read size from the port
        rows = []
        dt, n = run_decoder(stream, chunk)
        rows.append(("compiled framing+codec", n / dt))
        dt, n = run_link(stream, chunk, pure=False)
        rows.append(("compiled, whole host link", n / dt))
        dt_p, n_p = run_link(stream[: len(stream) // 10], chunk, pure=True)
        pure_fps = n_p / dt_p
        rows.append(("pure-Python, whole link", pure_fps))
        for name, fps in rows:
            print(f"{spb:>4} x {CHANNELS:<3} {fsize:>8} {name:<28} {fps:>12,.0f} "
                  f"{fps * spb * CHANNELS:>14,.0f} {fps / pure_fps:>7.1f}x "
                  f"{100 * line_fps / fps:>12.2f}%")
        print(f"{'':>10} {'':>8} line rate at 3 Mbaud: {line_fps:,.0f} frames/s = "
              f"{line_fps * spb * CHANNELS:,.0f} ch-samples/s (12 ch at 10 kHz needs "
              f"{RATE * CHANNELS:,})")
    print("goal: the whole host link at <= 5% of one core with the line fully loaded")


if __name__ == "__main__":
    main()
