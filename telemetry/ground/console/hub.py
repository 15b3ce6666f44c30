"""WebSocket fan-out: what each open console page is sent, and when.

Each page opens one WebSocket and subscribes to a *source* (``live``, or a
replay id) and optionally a rig. The hub then sends it:

* ``fleet``: the live fleet overview, every ``fleet_period_s`` (all pages);
* ``rig``: the rig snapshot (state, values with limit levels, alarms, events,
  commands, position), every ``rig_period_s`` (5 Hz), plus the verified
  ledger when the page asked for it;
* ``rows``: every batch of filtered rows of that rig as it arrives (the plots:
  stream0 carries 12 channels at ~100 Hz, in 10 Hz batches when the rover's
  ``loop.stats_interval_s`` is 0.1);
* ``replay``: the replay's progress, with its snapshots;
* ``history``: once, when a page subscribes, the last ``HISTORY_S`` of ``rows``
  messages of its rig in one message (``items``; ``RowHistory``, bounded).

Each connection has a bounded queue; when a slow browser lets it fill up the
oldest message is dropped and counted (``dropped`` in every snapshot), so one
stuck page never holds up the intake or the other pages. JSON is built once
per message and shared by every page that gets it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from telemetry.contract.json_fields import JsonObject, JsonValue
from telemetry.contract.payloads import BatchMessage
from telemetry.ground.console.replay import ReplaySession
from telemetry.ground.console.row_history import RowHistory
from telemetry.ground.console.views import LedgerVerifier, fleet_json, rig_json, rows_json
from telemetry.ground.fleet import FleetModel
from telemetry.ground.intake import Sighting
from telemetry.ground.sample_times import SampleTimes

__all__ = ["Hub", "PageFeed"]

_STREAMS_MAX = 1024  # streams whose sample clock the hub maps to UTC (SampleTimes)

log = logging.getLogger(__name__)

LIVE = "live"


def dumps(obj: JsonValue) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)


@dataclass(eq=False, slots=True)
class PageFeed:
    """One open page: what it watches and its outgoing queue."""

    user: str
    role: str
    source: str = LIVE
    rig: str | None = None
    want_ledger: bool = False
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(400))
    dropped: int = 0
    reported_dropped: int = 0

    def offer(self, text: str) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(text)


class Hub:
    def __init__(self, live: FleetModel, ledger: LedgerVerifier, *,
                 clock: Callable[[], float], rig_period_s: float = 0.2,
                 fleet_period_s: float = 1.0) -> None:
        self.live = live
        self.ledger = ledger
        self.clock = clock
        self.rig_period_s = rig_period_s
        self.fleet_period_s = fleet_period_s
        self.pages: set[PageFeed] = set()
        self.replays: dict[str, ReplaySession] = {}
        self.history = RowHistory()  # what a page gets when it opens
        # each stream's firmware seconds -> UTC (plots are in UTC wall time)
        self._times: dict[tuple[str, str, str], SampleTimes] = {}

    # ------------------------------------------------------------------ pages
    def open(self, user: str, role: str) -> PageFeed:
        page = PageFeed(user, role)
        self.pages.add(page)
        return page

    def close(self, page: PageFeed) -> None:
        self.pages.discard(page)

    def subscribe(self, page: PageFeed, request: Mapping[str, JsonValue]) -> None:
        """``{"source": "live"|<replay id>, "rig": str|null, "ledger": bool}`` from the page."""
        if not isinstance(request, dict):
            return
        source = request.get("source", LIVE)
        rig = request.get("rig")
        page.source = source if source == LIVE or source in self.replays else LIVE
        page.rig = rig if isinstance(rig, str) and len(rig) <= 64 else None
        page.want_ledger = bool(request.get("ledger"))
        self._push_fleet(page, {})
        self._push_page(page, {})
        # the last HISTORY_S of rows, so a page opened now starts with full plots: one
        # message, not one per batch (hundreds of them overflowed the page's queue, and
        # every page opened reported messages "dropped" that nobody lost)
        history = self.history.rows((page.source, page.rig))
        if history:
            page.offer(f'{{"type":"history","source":{dumps(page.source)},'
                       f'"rig":{dumps(page.rig)},"items":[{",".join(history)}]}}')

    def drop_replay(self, rid: str) -> None:
        replay = self.replays.pop(rid, None)
        if replay is not None:
            replay.close()  # a session held at its end waits for nothing more
        self.forget_rows(rid)

    def forget_rows(self, source: str) -> None:
        """Drop the rows kept for pages opened later (a replay that seeks starts over)."""
        self.history.forget(source)
        for tkey in [k for k in self._times if k[0] == source]:
            del self._times[tkey]

    # ------------------------------------------------------------------ intake
    def on_live(self, seen: Sighting, received_at: float) -> None:
        """GroundClient listener: forward fresh rows to the pages watching that rig."""
        self._rows(LIVE, seen)

    def on_replay(self, replay: ReplaySession, seen: Sighting) -> None:
        self._rows(replay.id, seen)

    def _rows(self, source: str, seen: Sighting) -> None:
        msg = seen.message
        if not isinstance(msg, BatchMessage) or msg.envelope.historical or not len(msg.samples):
            return
        key = (source, seen.rig, msg.stream)
        if key not in self._times and len(self._times) >= _STREAMS_MAX:
            # batches are unsigned: stream names are anyone's to invent; the oldest
            # stream's timeline goes (it starts over if it ever sends again)
            del self._times[next(iter(self._times))]
        t0, period = self._times.setdefault(key, SampleTimes()).place(
            boot=msg.envelope.boot, t0_fw=msg.t0_rig, period_s=msg.period_s,
            rows=len(msg.samples), t_rig=msg.envelope.t_rig, t_mono=msg.envelope.t_mono,
            offset_s=self._clock_offset(source, seen.rig))
        text = dumps({**rows_json(seen.rig, msg, t0, period), "source": source})
        self.history.add((source, seen.rig), t0, text)
        for page in self.pages:
            if page.source == source and page.rig == seen.rig:
                page.offer(text)

    def _clock_offset(self, source: str, rig: str) -> float | None:
        """The rover's clock offset as its latest state gave it (live or replayed)."""
        replay = self.replays.get(source)
        model = self.live if source == LIVE or replay is None else replay.model
        view = model.rigs.get(rig)
        return view.state.clock_offset_s if view is not None and view.state is not None \
            else None

    # ------------------------------------------------------------------ periodic pushes
    async def run(self) -> None:
        """Push snapshots until cancelled."""
        ticks_per_fleet = max(1, round(self.fleet_period_s / self.rig_period_s))
        n = 0
        while True:
            await asyncio.sleep(self.rig_period_s)
            try:
                self.push(fleet=n % ticks_per_fleet == 0)
            except Exception:  # a view bug must not end the pushes for everyone
                log.exception("console push failed")
            n += 1
            for rid, replay in list(self.replays.items()):
                if replay.done and not any(p.source == rid for p in self.pages):
                    self.drop_replay(rid)

    def push(self, *, fleet: bool) -> None:
        cache: dict[object, str] = {}
        for page in list(self.pages):
            if fleet:
                self._push_fleet(page, cache)
            self._push_page(page, cache)

    def _model(self, source: str) -> tuple[FleetModel, float, ReplaySession | None]:
        replay = self.replays.get(source)
        if replay is not None:
            return replay.model, replay.now(self.clock()), replay
        return self.live, self.clock(), None

    def _push_fleet(self, page: PageFeed, cache: dict[object, str]) -> None:
        """The live fleet, to every page (its top bar shows the broker link and alarms)."""
        if "fleet" not in cache:
            now = self.clock()
            cache["fleet"] = dumps({"type": "fleet", "source": LIVE, "now": now,
                                    **fleet_json(self.live, now)})
        page.offer(cache["fleet"])

    def _push_page(self, page: PageFeed, cache: dict[object, str]) -> None:
        model, now, replay = self._model(page.source)
        if replay is not None:
            key = ("replay", replay.id)
            if key not in cache:
                cache[key] = dumps({"type": "replay", **replay.status(self.clock())})
            page.offer(cache[key])
        if page.rig is None:
            return
        key = ("rig", page.source, page.rig, page.want_ledger)
        if key not in cache:
            snap = rig_json(model, page.rig, now)
            body: JsonObject = {"type": "rig", "source": page.source, "now": now,
                                    "rig": page.rig, "known": snap is not None, **(snap or {})}
            if page.want_ledger and replay is None:
                body["ledger"] = self.ledger.report(model, page.rig)
            cache[key] = dumps(body)
        page.offer(cache[key])
        if page.dropped != page.reported_dropped:
            page.reported_dropped = page.dropped
            page.offer(dumps({"type": "dropped", "count": page.dropped}))
