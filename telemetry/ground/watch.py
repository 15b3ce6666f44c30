"""``rig-ground watch``: live terminal view of one rig or a fleet (rich).

:class:`WatchModel` is the sans-I/O core (messages in, a renderable out); the
command wires it to a reconnecting subscription and a ``rich.live.Live``.
Alarms drained from a backlog (``historical``) are listed but never shown as live.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.table import Table

from telemetry.contract.payloads import BatchMessage, EventMessage, StateMessage, StatusMessage
from telemetry.ground.accounting import SequenceAccounting
from telemetry.ground.intake import Malformed, classify
from telemetry.ground.record import subscription_filter
from telemetry.ground.subscription import run_subscription, stop_event
from telemetry.mqtt_adapter import InboundMessage, MqttSettings

__all__ = ["WatchModel", "register"]

_MAX_CHANNELS = 12


@dataclass(slots=True)
class _Rig:
    online: bool | None = None
    info: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, tuple[float, str]] = field(default_factory=dict)
    alarms: deque[tuple[float, str, str, bool, int]] = field(
        default_factory=lambda: deque(maxlen=6))
    last_seen: float = 0.0
    boot: int | None = None


class WatchModel:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.rigs: dict[str, _Rig] = {}
        self.accounting = SequenceAccounting()
        self.link_up = False
        self.link_drops = 0
        self.messages = 0

    def set_link(self, up: bool) -> None:
        if self.link_up and not up:
            self.link_drops += 1
        self.link_up = up

    def handle(self, message: InboundMessage, now: float) -> None:
        seen = classify(self.prefix, message.topic, message.payload)
        if seen is None:
            return
        if isinstance(seen, Malformed):
            self.accounting.malformed += 1
            return
        self.messages += 1
        rig = self.rigs.setdefault(seen.rig, _Rig())
        rig.last_seen = now
        msg, env = seen.message, seen.message.envelope
        rig.boot = max(rig.boot or 0, env.boot)
        if isinstance(msg, StatusMessage):
            rig.online, rig.info = msg.online, dict(msg.info)
            return
        if self.accounting.observe(seen.rig, seen.stream, env.boot, env.seq,
                                   env.resend) == "duplicate":
            return
        if isinstance(msg, StateMessage) and not env.historical:
            rig.state = dict(msg.state)
        elif isinstance(msg, BatchMessage) and not env.historical and len(msg.samples):
            for i, name in enumerate(msg.channels):
                rig.channels[f"{msg.stream}.{name}"] = (float(msg.samples[-1, i]), msg.units[i])
        elif isinstance(msg, EventMessage) and msg.severity.is_alarm:
            rig.alarms.appendleft((env.t_rig, msg.severity.value, msg.text, env.historical,
                                   msg.count))

    def render(self) -> Group:
        totals = self.accounting.totals()
        link = Table.grid(padding=(0, 2))
        link.add_row(
            f"link: {'[green]up' if self.link_up else '[red]down'}[/]",
            f"drops {self.link_drops}", f"messages {self.messages}",
            f"gaps {totals['gaps']}", f"duplicates {totals['duplicates']}",
            f"malformed {totals['malformed']}")
        parts: list[Any] = [link]
        for rig_id, rig in sorted(self.rigs.items()):
            table = Table(title=f"{rig_id}  "
                          f"{'[green]online' if rig.online else '[red]offline'}[/]"
                          f"  boot {rig.boot}", expand=True)
            table.add_column("state")
            table.add_column("channel")
            table.add_column("value", justify="right")
            table.add_column("alarms")
            state_lines = [f"{k}: {v}" for k, v in list(rig.state.items())[:_MAX_CHANNELS]]
            chans = list(rig.channels.items())[:_MAX_CHANNELS]
            alarms = [f"{'[dim](hist) ' if h else '[bold red]'}{sev} {text}"
                      f"{f' x{n}' if n > 1 else ''}[/]" for _, sev, text, h, n in rig.alarms]
            for i in range(max(len(state_lines), len(chans), len(alarms), 1)):
                name, (value, unit) = chans[i] if i < len(chans) else ("", (None, ""))
                table.add_row(state_lines[i] if i < len(state_lines) else "", name,
                              "" if value is None else f"{value:.4g} {unit}",
                              alarms[i] if i < len(alarms) else "")
            parts.append(table)
        return Group(*parts)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("watch", help="live view of a rig (or every rig)")
    p.add_argument("--duration", type=float, help="exit after this many seconds")
    p.add_argument("--refresh", type=float, default=4.0, help="screen refreshes per second")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace, settings: MqttSettings) -> int:
    from rich.live import Live

    model = WatchModel(args.prefix)

    async def go() -> None:
        stop = stop_event(args.duration)
        with Live(model.render(), refresh_per_second=args.refresh) as live:
            async def repaint() -> None:
                while True:
                    live.update(model.render())
                    await asyncio.sleep(1.0 / args.refresh)

            async with asyncio.TaskGroup() as tg:
                painter = tg.create_task(repaint(), name="watch-repaint")
                await run_subscription(settings, [subscription_filter(args.prefix, args.rig)],
                                       lambda m: model.handle(m, time.time()), stop=stop,
                                       on_link=model.set_link)
                painter.cancel()
            live.update(model.render())

    asyncio.run(go())
    return 0
