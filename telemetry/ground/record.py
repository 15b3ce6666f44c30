"""``rig-ground record``: store everything a fleet sends, with gap/duplicate accounting.

Several recorders can split one fleet with ``--shared GROUP`` (an MQTT 5 shared
subscription ``$share/GROUP/<prefix>/<rig>/#``): the broker hands each message to
one member, so each file holds a disjoint share and ``rig-ground report a.db b.db``
merges them without double counting. Per-recorder gap counters are then
meaningless (each sees only its share); the merged report is the truth.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from telemetry.contract import DEFAULT_PREFIX
from telemetry.contract.payloads import EventMessage, StatusMessage
from telemetry.ground.accounting import SequenceAccounting
from telemetry.ground.intake import Malformed, classify
from telemetry.ground.store import RecordingStore
from telemetry.ground.subscription import run_subscription, stop_event
from telemetry.mqtt_adapter import InboundMessage, MqttSettings

__all__ = ["Recorder", "register", "subscription_filter"]

log = logging.getLogger(__name__)


def subscription_filter(prefix: str, rig: str | None = None, shared: str | None = None) -> str:
    topic_filter = f"{prefix}/{rig or '+'}/#"
    return f"$share/{shared}/{topic_filter}" if shared else topic_filter


class Recorder:
    """Sans-I/O core of ``record``: feed it messages, it stores and accounts them."""

    def __init__(self, store: RecordingStore, prefix: str = DEFAULT_PREFIX) -> None:
        self.store = store
        self.prefix = prefix
        self.accounting = SequenceAccounting()

    def handle(self, message: InboundMessage, received_at: float) -> None:
        seen = classify(self.prefix, message.topic, message.payload)
        if seen is None:
            return
        if isinstance(seen, Malformed):
            self.accounting.malformed += 1
            log.debug("malformed message on %s: %s", seen.topic, seen.reason)
            self.store.add_malformed(seen, received_at)
            return
        env = seen.message.envelope
        duplicate = False
        if not isinstance(seen.message, StatusMessage):
            verdict = self.accounting.observe(seen.rig, seen.stream, env.boot, env.seq, env.resend)
            duplicate = verdict == "duplicate"
        if isinstance(seen.message, EventMessage) and seen.message.kind == "outbox_evicted" \
                and not duplicate:
            self._note_evicted(seen.rig, seen.message.fields.get("evicted"))
        self.store.add(seen, received_at, duplicate)

    def _note_evicted(self, rig: str, ranges: object) -> None:
        if not isinstance(ranges, list):
            return
        for r in ranges:
            try:
                stream, first, last, count = r["stream"], int(r["first_seq"]), \
                    int(r["last_seq"]), int(r["count"])
            except (TypeError, KeyError, ValueError):
                continue
            self.accounting.note_evicted(rig, str(stream), first, last)
            self.store.add_evicted(rig, str(stream), first, last, count)

    def close(self) -> None:
        self.store.close()


async def record(settings: MqttSettings, path: Path, *, prefix: str, rig: str | None,
                 shared: str | None, stop: asyncio.Event,
                 clock: Callable[[], float] = time.time,
                 on_link: Callable[[bool], None] | None = None) -> Recorder:
    """Record until ``stop`` is set; ``on_link(True)`` fires once subscribed."""
    recorder = Recorder(RecordingStore(path), prefix)
    try:
        await run_subscription(settings, [subscription_filter(prefix, rig, shared)],
                               lambda m: recorder.handle(m, clock()), stop=stop, on_link=on_link)
    finally:
        recorder.close()
    return recorder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("record", help="store everything received into a SQLite file")
    p.add_argument("--out", type=Path, required=True, help="recording file (SQLite)")
    p.add_argument("--shared", metavar="GROUP",
                   help="join MQTT 5 shared subscription $share/GROUP/... to split a fleet")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace, settings: MqttSettings) -> int:
    async def go() -> Recorder:
        stop = stop_event(args.duration)
        return await record(settings, args.out, prefix=args.prefix, rig=args.rig,
                            shared=args.shared, stop=stop)

    recorder = asyncio.run(go())
    totals = recorder.accounting.totals()
    print(" ".join(f"{k}={v}" for k, v in totals.items()))
    return 0
