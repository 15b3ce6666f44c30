"""``rig-ground watch``: live terminal view of one rig or a fleet (rich).

:class:`WatchModel` is the sans-I/O core (messages in, a renderable out), built
on the :class:`~telemetry.ground.fleet.FleetModel` that the web console uses:
the same alarm rules (an alarm clears when its cause clears; when the rig goes
offline or silent its alarms are shown as *stale*, never as live), and the same
red/yellow limits (``--limits FILE``, defaults from the interlock table) colour
state fields and channel values. Watch has no operator input, so a cleared
alarm stays on screen, dimmed, for ``cleared_hold_s`` and then goes. Alarms
drained from a backlog (``historical``) are listed as recent events but never
raise a live alarm.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from pathlib import Path

from nacl.signing import VerifyKey
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from telemetry.ground.accounting import SequenceAccounting
from telemetry.ground.alarms import Alarm, AlarmState, AlarmTable
from telemetry.ground.fleet import FleetModel, RigView, public_filter
from telemetry.ground.limits import LimitLevel, LimitSet, load_limits
from telemetry.ground.record import subscription_filter
from telemetry.ground.rig_keys import rig_keys_from_args
from telemetry.ground.subscription import run_subscription, stop_event
from telemetry.mqtt.adapter import InboundMessage, MqttSettings

__all__ = ["WatchModel", "register"]

_MAX_ROWS = 12
_STYLE = {LimitLevel.RED: "bold red", LimitLevel.YELLOW: "bold yellow",
          LimitLevel.OK: "green", LimitLevel.UNKNOWN: "dim"}


def _value(value: object, level: LimitLevel | None, unit: str = "") -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    text = escape(f"{text} {unit}".rstrip())
    style = _STYLE.get(level) if level is not None else None
    return f"[{style}]{text}[/]" if style else text


class WatchModel:
    def __init__(self, prefix: str, *, limits: LimitSet | None = None,
                 silent_after_s: float = 10.0, cleared_hold_s: float = 30.0,
                 rig_keys: Mapping[str, VerifyKey] | None = None,
                 drop_unverified: bool = False) -> None:
        self.prefix = prefix
        self.fleet = FleetModel(prefix, limits=limits, silent_after_s=silent_after_s,
                                alarms=AlarmTable(require_ack=False,
                                                  cleared_hold_s=cleared_hold_s),
                                rig_keys=rig_keys, drop_unverified=drop_unverified)

    @property
    def accounting(self) -> SequenceAccounting:
        return self.fleet.accounting

    @property
    def rigs(self) -> dict[str, RigView]:
        return self.fleet.rigs

    def set_link(self, up: bool, now: float | None = None) -> None:
        self.fleet.set_link(up, now)

    def handle(self, message: InboundMessage, now: float) -> None:
        self.fleet.handle(message, now)

    def tick(self, now: float) -> None:
        """Mark silent rigs (their alarms go stale) and drop old cleared alarms."""
        self.fleet.tick(now)

    def render(self, now: float | None = None) -> Group:
        fleet = self.fleet
        totals = fleet.accounting.totals()
        link = Table.grid(padding=(0, 2))
        link.add_row(
            f"link: {'[green]up' if fleet.link_up else '[red]down'}[/]",
            f"drops {fleet.link_drops}", f"messages {fleet.messages}",
            f"gaps {totals['gaps']}", f"duplicates {totals['duplicates']}",
            f"malformed {totals['malformed']}")
        parts: list[Table] = [link]
        for rig_id, view in sorted(fleet.rigs.items()):
            parts.append(self._rig_table(rig_id, view, now))
        return Group(*parts)

    def _rig_table(self, rig_id: str, view: RigView, now: float | None) -> Table:
        status = "[green]online" if view.reachable else \
            "[yellow]silent" if view.online and view.silent else \
            "[dim]shut down" if view.shutdown else "[red]offline"
        seen = f"  last seen {now - view.last_seen:.0f} s ago" if now and view.last_seen else ""
        trust = "  [bold red]UNVERIFIED (no key for this rig)[/]" if view.verified is False \
            else "  [green]signed[/]" if view.verified else ""
        forged = f"  [bold red]{view.forged} forged dropped[/]" if view.forged else ""
        table = Table(title=f"{escape(rig_id)}  {status}[/]  boot {view.boot}{seen}{trust}"
                            f"{forged}{self._clock_line(view)}", expand=True)
        for column in ("state", "channel", "value", "alarms"):
            table.add_column(column, justify="right" if column == "value" else "left")
        limits = self.fleet.limits
        state = [f"{escape(k)}: " + _value(v, limits.level(k, float(v)) if limits.get(k) and
                                   isinstance(v, int | float) and not isinstance(v, bool)
                                   else None)
                 for k, v in (view.state.readings() if view.state else ())][:_MAX_ROWS]
        chans = sorted(view.channels.values(), key=lambda c: (c.stream, c.name))[:_MAX_ROWS]
        alarms = [self._alarm_line(a) for a in self.fleet.alarms.for_rig(rig_id)]
        alarms += [f"[dim](hist) {e.severity.value} {escape(e.text)}[/]" for e in view.events
                   if e.historical and e.severity.is_alarm][:3]
        for i in range(max(len(state), len(chans), len(alarms), 1)):
            chan = chans[i] if i < len(chans) else None
            table.add_row(state[i] if i < len(state) else "",
                          escape(f"{chan.stream}.{chan.name}") if chan else "",
                          _value(chan.value, chan.level, chan.unit) if chan else "",
                          alarms[i] if i < len(alarms) else "")
        return table

    def _clock_line(self, view: RigView) -> str:
        """The rover's clock as its command gate sees it (docs/commands.md, "Timing")."""
        state = view.state
        offset = None if state is None else state.clock_offset_s
        if state is None or offset is None:
            return ""
        age = state.clock_sync_age_s
        level = self.fleet.limits.level("clock_offset_s", offset)
        synced = f"synced {age:.0f} s ago" if age is not None else \
            "not synced yet: its own clock"
        return "  clock " + _value(f"{-float(offset):+.1f} s", level) + f" ({synced})"

    @staticmethod
    def _alarm_line(alarm: Alarm) -> str:
        count = f" x{alarm.count}" if alarm.count > 1 else ""
        text = escape(alarm.text)
        if alarm.state is AlarmState.ACTIVE:
            return f"[bold red]{alarm.severity.value} {text}{count}[/]"
        if alarm.state is AlarmState.STALE:
            return f"[magenta]stale (rig offline): {text}{count}[/]"
        return f"[dim]cleared: {text}{count}[/]"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("watch", help="live view of a rig (or every rig)")
    p.add_argument("--duration", type=float, help="exit after this many seconds")
    p.add_argument("--refresh", type=float, default=4.0, help="screen refreshes per second")
    p.add_argument("--limits", type=Path, help="red/yellow limits (TOML) over the defaults")
    p.add_argument("--silent-after", type=float, default=10.0,
                   help="seconds without a message before a rig's alarms go stale")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace, settings: MqttSettings) -> int:
    from rich.live import Live

    model = WatchModel(args.prefix, limits=load_limits(args.limits),
                       silent_after_s=args.silent_after, rig_keys=rig_keys_from_args(args),
                       drop_unverified=args.unverified == "drop")

    async def go() -> None:
        stop = stop_event(args.duration)
        with Live(model.render(), refresh_per_second=args.refresh) as live:
            async def repaint() -> None:
                while True:
                    now = time.time()
                    model.tick(now)
                    live.update(model.render(now))
                    await asyncio.sleep(1.0 / args.refresh)

            async with asyncio.TaskGroup() as tg:
                painter = tg.create_task(repaint(), name="watch-repaint")
                await run_subscription(settings, [subscription_filter(args.prefix, args.rig),
                                                  public_filter(args.prefix, args.rig)],
                                       lambda m: model.handle(m, time.time()), stop=stop,
                                       on_link=lambda up: model.set_link(up, time.time()))
                painter.cancel()
            live.update(model.render())

    asyncio.run(go())
    return 0
