"""Console server-side throughput: how many batches a second it takes in and pushes out.

Goal (issue: the live page plots >= 8 series at >= 10 Hz without falling behind):
one rig's ``stream0`` (12 channels, 10 rows of ~100 Hz filtered data per batch) at
10 batches/s. This measures the console's whole server path for one batch, in
process and without a network: decode + accounting + limits + alarms
(``GroundClient.handle`` -> ``FleetModel``), the rows JSON, and the offer to every
page watching the rig; plus the 5 Hz rig snapshot for those pages. It prints the
batches/s one core sustains (CPU time, so other load on the machine does not
count), the reference (10/s per rig) and their ratio.

    .venv/bin/python bench/bench_console.py [--batches 3000] [--pages 4]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from telemetry.contract.payloads import BatchBlock, BatchMessage, Envelope, StateMessage, encode
from telemetry.contract.rig_state import RigState
from telemetry.ground.client import GroundClient
from telemetry.ground.console.hub import Hub
from telemetry.ground.console.views import LedgerVerifier
from telemetry.mqtt.adapter import InboundMessage

GOAL_BATCHES_PER_S = 10.0  # one rig, one stream0 batch every 0.1 s
CHANNELS = ("drum_current", "drum_speed", "cut_depth", "arm_current", "bucket_load", "pitch",
            "roll", "motor_temp", "battery_voltage", "battery_current", "vibration",
            "arm_position")


def messages(n: int) -> list[InboundMessage]:
    rng = np.random.default_rng(1)
    out = []
    for seq in range(n):
        rows = rng.normal(size=(10, len(CHANNELS))).astype(np.float32)
        payload = encode(BatchMessage(Envelope("rig-1", 1, seq, 1e9 + seq / 10, seq / 10),
                                      BatchBlock("stream0", CHANNELS, ("u",) * len(CHANNELS),
                                      1e9 + seq / 10, 0.01, rows)))
        out.append(InboundMessage("regolith/rig-1/batch/stream0", payload, 1, False))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=3000)
    p.add_argument("--pages", type=int, default=4, help="pages watching the rig")
    args = p.parse_args()
    client = GroundClient("mqtt://127.0.0.1:1", "rig-1")  # never started: fed by hand
    hub = Hub(client.model, LedgerVerifier(None, None, {}), clock=time.time)
    client.add_listener(hub.on_live)
    pages = [hub.open(f"user{i}", "operator") for i in range(args.pages)]
    for page in pages:
        page.rig = "rig-1"
    state = encode(StateMessage(Envelope("rig-1", 1, 0, 1e9, 0.0),
                                RigState(mode="digging", drum_current_a=12.0)))
    client.handle(InboundMessage("regolith/rig-1/state", state, 1, False), 1e9)
    batch = messages(args.batches)
    t0 = time.process_time()
    for i, message in enumerate(batch):
        client.handle(message, 1e9 + i / 10)
        if i % 2 == 0:  # rig snapshots at 5 Hz against batches at 10 Hz
            hub.push(fleet=i % 10 == 0)
        for page in pages:  # the WebSocket writers drain the queues
            while not page.queue.empty():
                page.queue.get_nowait()
    cpu = time.process_time() - t0
    rate = args.batches / cpu
    ratio = rate / GOAL_BATCHES_PER_S
    print(f"console server path: {rate:,.0f} batches/s of 12 channels x 10 rows on one core "
          f"({args.pages} pages watching), {1e3 * cpu / args.batches:.2f} ms per batch")
    print(f"reference: {GOAL_BATCHES_PER_S:.0f} batches/s per rig (8+ series at 10 Hz); "
          f"ratio {ratio:,.0f}x (server-path headroom for ~{int(ratio)} such streams per core)")
    dropped = sum(pg.dropped for pg in pages)
    print(f"goal 10 Hz per rig without falling behind: {'met' if ratio >= 1 else 'NOT met'}"
          f" (pages dropped {dropped} messages)")


if __name__ == "__main__":
    main()
