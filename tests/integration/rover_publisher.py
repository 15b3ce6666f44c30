"""A small rover process for the SIGKILL test: publishes forever, reports what is stored.

    python rover_publisher.py BROKER_URL OUTBOX_PATH

Each line ``stored <stream> <seq> <boot>`` on stdout is printed (and flushed) only
after the receipt of ``publish_*`` was awaited, i.e. after the message is in the
durable outbox (``publish_*`` itself returns at once; the outbox commits at the end
of the loop turn, on its writer thread).
"""

from __future__ import annotations

import asyncio
import sys

import numpy as np

from telemetry.contract.payloads import BatchBlock
from telemetry.contract.rig_state import RigState
from telemetry.rover.downlink import Downlink, DownlinkConfig


async def main(url: str, outbox: str) -> None:
    config = DownlinkConfig(rig_id="rover", outbox_path=outbox, broker_url=url,
                            reconnect_initial_s=0.05, reconnect_cap_s=0.5, event_throttle_s=0)
    samples = np.ones((100, 4), np.float32)
    async with Downlink(config) as dl:
        i = 0
        while True:
            receipts = [
                dl.publish_state(RigState.from_json({"i": i})),
                dl.publish_batch(BatchBlock("imu", list("abcd"), ["g"] * 4, float(i), 0.01,
                                            samples)),
                dl.publish_ack(f"c{i}", True),
            ]
            if i % 5 == 0:
                receipts.append(dl.publish_event("tick", "info", f"tick {i}"))
            for r in receipts:
                if r is not None:
                    await r
                    sys.stdout.write(f"stored {r.stream} {r.seq} {dl.boot}\n")
            sys.stdout.flush()
            i += 1
            await asyncio.sleep(0.002)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
