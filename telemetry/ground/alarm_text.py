"""Alarm texts the ground writes itself: numbers with the digits an operator needs.

A reading gets one decimal (none from 1000 on, two significant digits below 1); a
limit is written as configured (``:g``); a missing reading says so in words,
never "inf" or "nan". ``tests/ground_console/test_alarm_texts.py`` enumerates
every alarm kind and holds the texts to this.
"""

from __future__ import annotations

import math

from telemetry.contract.rig_state import StorageReport
from telemetry.ground.limits import Limit

__all__ = ["byte_size", "clock_text", "interlock_text", "limit_text", "reading", "storage_text"]


def reading(value: float, unit: str = "") -> str:
    """``21.3 A``, ``0.042 m``, ``1250 V``; ``no reading`` when not a finite number."""
    if not math.isfinite(value):
        return "no reading"
    a = abs(value)
    text = f"{value:.0f}" if a >= 1000 else f"{value:.1f}" if a >= 1 or a == 0 \
        else f"{value:.2g}"
    return f"{text} {unit}".rstrip()


def limit_text(channel: str, value: float, unit: str, limit: Limit) -> str:
    """``drum_current 21.3 A, above red limit 19 A``."""
    return f"{channel} {reading(value, unit)}, {limit.describe(value)} {unit}".rstrip()


def clock_text(offset_s: float, limit: Limit) -> str:
    """The rover's clock against the ground's; ``offset_s`` is the ground's time minus the
    rover's (positive: the rover is behind)."""
    side = "behind" if offset_s > 0 else "ahead of"
    bound = limit.red_high if offset_s > 0 else limit.red_low
    allowed = f" (red limit {abs(bound):g} s)" if bound is not None else ""
    return (f"rover clock {reading(abs(offset_s), 's')} {side} the ground's{allowed}: "
            f"commands are timed in the ground's time the rover learnt")


def interlock_text(name: str) -> str:
    """An interlock known only by name (from a state): ``interlock stuck: vibration active``.
    The rover's ``interlock_tripped`` event brings the reason with its numbers."""
    return f"interlock {name.replace('_', ' ').replace(':', ': ')} active"


def byte_size(n: int) -> str:
    """``512 B``, ``3.4 kB``, ``12.0 MB``, ``1.2 GB`` (decimal units)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


_STORAGE_WHY = {"ENOSPC": "disk full", "EROFS": "disk read-only", "EIO": "disk I/O error",
                "EDQUOT": "disk quota exceeded"}


def storage_text(storage: StorageReport) -> str:
    """The rover's outbox cannot write to its disk (docs/telemetry.md, "When the disk is
    full or read-only"). No counts that change with every state: the fleet table has them."""
    why = _STORAGE_WHY.get(storage.errno or "", "disk refuses writes")
    errno = f" ({storage.errno})" if storage.errno else ""
    return (f"rover storage: {why}{errno}: messages are held in memory and the oldest "
            f"batches dropped until it can write again; the rover keeps working")
