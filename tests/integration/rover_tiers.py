"""A rover process for the tiered-durability SIGKILL test: bursts of batches, a few acks.

    python rover_tiers.py BROKER_URL OUTBOX_PATH

Prints (and flushes) ``published <n> <stream> <seq>`` as soon as ``publish_*``
returned (nothing awaited: a loop turn's messages are committed together after it),
and ``durable <n>`` once the n-th receipt completed: the message is on disk
(acks: synced). The test kills this process with SIGKILL at an arbitrary moment.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque

import numpy as np

from telemetry.contract.payloads import BatchBlock
from telemetry.rover.downlink import Downlink, DownlinkConfig
from telemetry.rover.downlink.outbox import Stored

CHANNELS = [f"c{i}" for i in range(8)]


async def main(url: str, outbox: str) -> None:
    config = DownlinkConfig(rig_id="tiers", outbox_path=outbox, broker_url=url,
                            reconnect_initial_s=0.05, reconnect_cap_s=0.5, event_throttle_s=0)
    samples = np.ones((200, len(CHANNELS)), np.float32)
    out = sys.stdout
    waiting: deque[tuple[int, Stored]] = deque()
    async with Downlink(config) as dl:
        n = 0
        while True:
            receipts = [dl.publish_batch(BatchBlock("imu", CHANNELS, ["g"] * len(CHANNELS),
                                                    float(n), 0.001, samples))
                        for _ in range(8)]
            if n % 32 == 0:
                receipts.append(dl.publish_ack(f"c{n}", True))
            for r in receipts:
                out.write(f"published {n} {r.stream} {r.seq}\n")
                waiting.append((n, r))
                n += 1
            while waiting and waiting[0][1].durable is not None and waiting[0][1].durable.done():
                k, r = waiting.popleft()
                await r  # raises if the disk failed
                out.write(f"durable {k}\n")
            out.flush()
            await asyncio.sleep(0.001)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
