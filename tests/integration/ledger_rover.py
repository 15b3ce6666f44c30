"""A rover process for the ledger crash test: books dumps forever through the
controller's ``LedgerWriter`` into a real ledger file and a real downlink.

    python ledger_rover.py BROKER_URL OUTBOX LEDGER SEED_HEX [--die-after N] [--drain]

At start it runs the writer's reconciliation and prints ``reconciled <k>``.
Each ``written <index>`` line is printed once the entry is fsynced. With
``--die-after N`` the process SIGKILLs itself right after entry N is on disk
and before the writer hands it to the outbox: the worst moment. With
``--drain`` it books nothing, waits until the outbox is empty (everything
acknowledged by the broker) and prints ``drained``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time

from nacl.signing import SigningKey

from control.core.events import ControlEvent, EventKind, Severity
from control.runtime.ledger_writer import LedgerWriter
from control.security.ledger import Ledger
from telemetry.contract.ledger_format import DumpRecord, LedgerEntry
from telemetry.rover.downlink import Downlink, DownlinkConfig

RIG = "rig-1"


class DyingLedger:
    def __init__(self, ledger: Ledger, die_after: int | None) -> None:
        self.ledger = ledger
        self.die_after = die_after

    def append(self, record: DumpRecord) -> LedgerEntry:
        entry = self.ledger.append(record)
        sys.stdout.write(f"written {entry.index}\n")
        sys.stdout.flush()
        if entry.index == self.die_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return entry

    def records_from(self, start: int) -> list[dict]:
        return self.ledger.records_from(start)


async def main(args: argparse.Namespace) -> None:
    ledger = Ledger.open(args.ledger, SigningKey(bytes.fromhex(args.seed)), RIG)
    config = DownlinkConfig(rig_id=RIG, outbox_path=args.outbox, broker_url=args.url,
                            reconnect_initial_s=0.05, reconnect_cap_s=0.5, event_throttle_s=0)
    async with Downlink(config) as dl:
        writer = LedgerWriter(DyingLedger(ledger, args.die_after), dl)
        reconcile = getattr(writer, "reconcile", None)  # absent: a writer that cannot
        print(f"reconciled {await reconcile() if reconcile else 0}", flush=True)
        if args.drain:
            while dl.counters.outbox_depth > 0:
                await asyncio.sleep(0.02)
            print("drained", flush=True)
            return
        cycle = ledger.count
        while True:
            event = ControlEvent(float(cycle), EventKind.BUCKET_DUMPED, Severity.INFO, "dump",
                                 {"x": 0.0, "y": 0.0, "mass_kg": 1.5, "cycle": cycle,
                                  "site": "A"})
            writer.book(event, 100.0 * (cycle + 1), time.time())
            cycle += 1
            await asyncio.sleep(0.004)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("outbox")
    p.add_argument("ledger")
    p.add_argument("seed")
    p.add_argument("--die-after", type=int)
    p.add_argument("--drain", action="store_true")
    asyncio.run(main(p.parse_args()))
