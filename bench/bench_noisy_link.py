"""The link on a noisy line: frames and samples delivered, by byte error rate and batch size.

The simulator (12 channels at 1 kHz and 10 kHz) sits behind ``NoiseProxy``; a
host ``Bridge`` reads its sample stream for a few wall seconds per cell. The
reference is the clean line (rate 0) with the same nominal batch size (the
firmware shortens batches on a noisy line; ``--fixed-batches`` turns that off
for the "before" table): each cell
prints the fraction of sample batches and of samples delivered, relative to
what the firmware sent. Not part of CI.

    .venv/bin/python bench/bench_noisy_link.py [--seconds 6] [--rates 0,0.001,0.005]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from firmware_bridge.bridge import Bridge, BridgeConfig
from firmware_bridge.link import MessageReceived
from firmware_bridge.messages import SampleBatch
from sim_hw.batch_sizer import BatchSizingConfig
from sim_hw.line_noise import NoiseConfig
from sim_hw.noise_proxy import NoiseProxy
from sim_hw.rig import Rig, RigConfig


async def cell(rate: float, batch_ms: float, sample_hz: int, seconds: float, adapt: bool
               ) -> tuple[float, float, int]:
    sizing = BatchSizingConfig() if adapt else None
    rig = Rig(RigConfig(seed=1, sample_rate_hz=sample_hz, batch_ms=batch_ms,
                        batch_sizing=sizing))
    upstream = await rig.start()
    got_batches = got_samples = 0
    links_lost = 0
    try:
        async with NoiseProxy(upstream, NoiseConfig.mixed(rate), seed=2) as proxy:
            with contextlib.suppress(Exception):
                async with Bridge(proxy.url, BridgeConfig(connect_timeout=10.0)) as bridge:
                    sent0 = (rig.stats.batches_sent, rig.stats.samples_sent)
                    loop = asyncio.get_running_loop()
                    end = loop.time() + seconds
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(end):
                            async for ev in bridge.events():
                                if isinstance(ev, MessageReceived) and isinstance(
                                        ev.message, SampleBatch):
                                    got_batches += 1
                                    got_samples += ev.message.counts.shape[0]
                    sent = (rig.stats.batches_sent - sent0[0], rig.stats.samples_sent - sent0[1])
                    links_lost = bridge.link.counters().links_lost
    finally:
        await rig.stop()
    if not sent or sent[0] == 0:
        return 0.0, 0.0, links_lost
    return (min(1.0, got_batches / sent[0]), min(1.0, got_samples / max(1, sent[1])),
            links_lost)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rates", default="0,0.001,0.005")
    ap.add_argument("--batch-ms", default="1,5,20")
    ap.add_argument("--sample-hz", type=int, default=1000)
    ap.add_argument("--fixed-batches", action="store_true",
                    help="turn the firmware's adaptive batch length off (the 'before' table)")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    batches = [float(b) for b in args.batch_ms.split(",")]
    mode = "fixed batches" if args.fixed_batches else "adaptive batches"
    print(f"sample stream {args.sample_hz} Hz x 12 channels; {args.seconds:g} s per cell; {mode}")
    print(f"{'byte err':>9} {'batch ms':>9} {'frames delivered':>17} {'samples delivered':>18}"
          f" {'links lost':>10} {'vs clean':>9}")
    clean: dict[float, float] = {}
    for batch_ms in batches:
        for rate in rates:
            frames, samples, lost = await cell(rate, batch_ms, args.sample_hz, args.seconds,
                                             not args.fixed_batches)
            if rate == 0.0:
                clean[batch_ms] = samples
            ref = clean.get(batch_ms)
            ratio = f"{samples / ref:8.2f}x" if ref else "      -  "
            print(f"{rate:9.4f} {batch_ms:9.1f} {frames:16.1%} {samples:17.1%} {lost:10d} "
                  f"{ratio}")


if __name__ == "__main__":
    asyncio.run(main())
