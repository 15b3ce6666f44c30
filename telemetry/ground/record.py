"""``rig-ground record``: store everything a fleet sends, with gap/duplicate accounting.

The store is a SQLite file (``--out run.db``, the default kind) or a PostgreSQL
database shared by a fleet's recorders (``--store postgresql://...``). Several
recorders split a fleet with ``--shared GROUP`` (an MQTT 5 shared subscription
``$share/GROUP/<prefix>/<rig>/#``): the broker hands each message to one member.
With PostgreSQL they all write one database, which decides duplicates itself, so
the accounting is whole across recorders; with SQLite each file holds a disjoint
share and ``rig-ground report a.db b.db`` merges them. A recorder's own counters
(printed at exit) only see its share; ``report`` is the truth.

Crash safety: a message is acknowledged to the broker only after its row is
committed (``store_writer``). With ``--client-id`` the recorder's MQTT session is
persistent, so a recorder killed and restarted with the same id receives whatever
the broker still holds for it, including what it had received but not yet stored.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from telemetry.contract import DEFAULT_PREFIX
from telemetry.contract.event_details import OutboxEvicted
from telemetry.contract.payloads import EventMessage, StatusMessage
from telemetry.ground.accounting import SequenceAccounting
from telemetry.ground.intake import Malformed, UplinkSeen, classify
from telemetry.ground.store_writer import StoreWriter
from telemetry.ground.stores import (
    EvictedRange,
    MalformedRow,
    MessageRow,
    RecordingStore,
    StoreError,
    WriteItem,
    open_store,
    parse_retention,
)
from telemetry.ground.subscription import run_subscription, stop_event
from telemetry.mqtt.adapter import InboundMessage, MqttSettings

__all__ = ["Recorder", "record", "register", "subscription_filter"]

log = logging.getLogger(__name__)

#: unacknowledged messages the broker may send one recorder (MQTT 5 Receive Maximum)
RECEIVE_MAXIMUM = 2000
_STOP_FLUSH_S = 10.0


def subscription_filter(prefix: str, rig: str | None = None, shared: str | None = None) -> str:
    topic_filter = f"{prefix}/{rig or '+'}/#"
    return f"$share/{shared}/{topic_filter}" if shared else topic_filter


class Recorder:
    """Sans-I/O core of ``record``: feed it messages, it accounts them and holds the
    rows to store and the messages to acknowledge until ``take``."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = prefix
        self.accounting = SequenceAccounting()
        self._items: list[WriteItem] = []
        self._acks: list[InboundMessage] = []

    @property
    def pending(self) -> int:
        """Messages held (stored or ignored alike, all waiting for their ack)."""
        return len(self._acks)

    def take(self) -> tuple[list[WriteItem], list[InboundMessage]]:
        items, acks = self._items, self._acks
        self._items, self._acks = [], []
        return items, acks

    def handle(self, message: InboundMessage, received_at: float) -> None:
        self._acks.append(message)
        seen = classify(self.prefix, message.topic, message.payload)
        if isinstance(seen, UplinkSeen):
            return
        if isinstance(seen, Malformed):
            self.accounting.malformed += 1
            log.debug("malformed message on %s: %s", seen.topic, seen.reason)
            self._items.append(MalformedRow(seen.topic, received_at, seen.reason,
                                            seen.payload))
            return
        env = seen.message.envelope
        duplicate = False
        if not isinstance(seen.message, StatusMessage):
            verdict = self.accounting.observe(seen.rig, seen.stream, env.boot, env.seq,
                                              env.resend)
            duplicate = verdict == "duplicate"
        if isinstance(seen.message, EventMessage) and not duplicate:
            detail = seen.message.detail
            if isinstance(detail, OutboxEvicted):
                self._note_evicted(seen.rig, detail, received_at)
        self._items.append(MessageRow(
            seen.rig, seen.stream, seen.kind.value,
            env.boot, env.seq, seen.topic, received_at, env.t_rig, env.t_mono,
            env.historical, env.resend, seen.payload))

    def _note_evicted(self, rig: str, evicted: OutboxEvicted, now: float) -> None:
        for r in evicted.evicted:
            self.accounting.note_evicted(rig, r.stream, r.first_seq, r.last_seq)
            self._items.append(EvictedRange(rig, r.stream, r.first_seq, r.last_seq, r.count,
                                            now))


async def _prune_forever(store: RecordingStore, interval_s: float) -> None:
    while True:
        try:
            removed = await store.prune(time.time())
            if removed:
                log.info("retention: %d rows older than the retention removed", removed)
        except StoreError as err:
            log.warning("retention: prune failed: %s", err)
        await asyncio.sleep(interval_s)


async def record(settings: MqttSettings, store: str | Path, *, prefix: str, rig: str | None,
                 shared: str | None, stop: asyncio.Event,
                 clock: Callable[[], float] = time.time,
                 on_link: Callable[[bool], None] | None = None,
                 retention: str | None = None, recorder_name: str | None = None,
                 prune_interval_s: float = 60.0,
                 on_writer: Callable[[StoreWriter], None] | None = None) -> Recorder:
    """Record into *store* (a path or URL) until ``stop`` is set.

    ``on_link(True)`` fires once subscribed; *retention* (``"30d"``, ``"forever"``)
    changes the store's retention setting, ``None`` keeps it. Received QoS 1 messages
    are acknowledged only once stored (``settings.manual_ack`` is forced on).
    """
    settings = replace(settings, manual_ack=True,
                       receive_maximum=settings.receive_maximum or RECEIVE_MAXIMUM)
    recorder = Recorder(prefix)
    opened = await open_store(store, recorder=recorder_name or settings.client_id)
    writer = StoreWriter(recorder, opened, max_pending=settings.receive_maximum or
                         RECEIVE_MAXIMUM)
    if on_writer:
        on_writer(writer)

    def on_message(m: InboundMessage) -> Awaitable[None] | None:
        recorder.handle(m, clock())
        return writer.notify()

    async def drain() -> None:  # still connected: commit, then ack what we hold
        await writer.flush(time.monotonic() + _STOP_FLUSH_S)

    try:
        if retention is not None:
            await opened.set_retention_s(parse_retention(retention))
        async with asyncio.TaskGroup() as tg:
            writing = tg.create_task(writer.run(), name="recorder-writer")
            pruning = tg.create_task(_prune_forever(opened, prune_interval_s),
                                     name="recorder-retention")
            await run_subscription(settings, [subscription_filter(prefix, rig, shared)],
                                   on_message, stop=stop, on_link=on_link, drain=drain)
            await writer.flush(time.monotonic() + _STOP_FLUSH_S)
            writing.cancel()
            pruning.cancel()
    finally:
        with contextlib.suppress(StoreError):
            await opened.close()
    return recorder


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "record", help="store everything received (SQLite file or PostgreSQL)",
        description="Store everything received. Give a fixed --client-id (before the "
                    "subcommand) for a persistent MQTT session: a recorder restarted with "
                    "the same id gets what the broker held for it.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="recording file (SQLite)")
    where.add_argument("--store", metavar="URL",
                       help="postgresql://user@host/db (fleet store), sqlite:///FILE or a path")
    p.add_argument("--shared", metavar="GROUP",
                   help="join MQTT 5 shared subscription $share/GROUP/... to split a fleet")
    p.add_argument("--retention", metavar="DURATION",
                   help="keep rows this long (30d, 12h, forever); stored in the store, "
                        "applied by every recorder (default: leave the store's setting)")
    p.add_argument("--session-expiry", type=int, default=24 * 3600, metavar="S",
                   help="with --client-id: how long the broker keeps the session while "
                        "the recorder is away (default %(default)s s)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace, settings: MqttSettings) -> int:
    if settings.client_id:
        settings = replace(settings, persistent_session=True,
                           session_expiry_s=args.session_expiry)
    writers: list[StoreWriter] = []

    def on_link(up: bool) -> None:
        log.info("recorder link %s", "up" if up else "down")

    async def go() -> Recorder:
        stop = stop_event(args.duration)
        return await record(settings, args.store or args.out, prefix=args.prefix, rig=args.rig,
                            shared=args.shared, stop=stop, retention=args.retention,
                            on_link=on_link, on_writer=writers.append)

    try:
        recorder = asyncio.run(go())
    except StoreError as err:
        print(f"rig-ground record: {err}", file=sys.stderr)
        return 2
    totals = recorder.accounting.totals()
    print(" ".join(f"{k}={v}" for k, v in totals.items()))
    if writers:
        w = writers[0]
        p99 = w.write_percentile_ms(99)
        print(f"stored={w.stored} stored_duplicates={w.duplicates} batches={w.batches} "
              f"not_stored={w.failed} write_p99_ms={'-' if p99 is None else f'{p99:.1f}'}")
    return 0
