"""JSON views of the fleet model for the console's pages (pure functions of the model).

Numbers are rounded to 6 significant digits and non-finite values become
``null`` (JSON has no NaN). ``now`` is the time "ago" figures are computed
against: the ground clock live, the replay cursor in a replay.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from nacl.signing import VerifyKey

from telemetry.contract.payloads import BatchMessage
from telemetry.contract.site_plan import SitePlan
from telemetry.ground.alarms import Alarm
from telemetry.ground.fleet import FleetModel, RigView
from telemetry.ground.ledger_check import check_received
from telemetry.ground.limits import LimitSet

__all__ = [
    "LedgerVerifier",
    "alarm_json",
    "fleet_json",
    "num",
    "plan_json",
    "rig_json",
    "rows_json",
]

#: State fields shown in the state panel, in this order, with their unit.
STATE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("mode", "mode", ""), ("phase", "phase", ""), ("mission_running", "mission running", ""),
    ("motors_enabled", "motors enabled", ""), ("drum_current_a", "drum current", "A"),
    ("drum_speed_rad_s", "drum speed", "rad/s"), ("cut_depth_m", "cut depth", "m"),
    ("tilt_deg", "tilt", "deg"), ("motor_temp_c", "motor temp", "degC"),
    ("battery_v", "battery", "V"), ("bucket_kg", "bucket", "kg"),
    ("load_cell_kg", "load cell", "kg"), ("model_kg", "mass model", "kg"),
    ("load_cell_ok", "load cell ok", ""), ("energy_j", "energy", "J"),
    ("x_m", "x", "m"), ("y_m", "y", "m"),
    ("clock_offset_s", "ground clock - rover clock", "s"),
    ("clock_sync_age_s", "clock synced ago", "s"), ("clock_source", "clock source", ""),
)


def num(value: Any) -> Any:
    """A JSON-safe number (6 significant digits, ``None`` if not finite); others as is."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        return value
    v = float(value)
    if not math.isfinite(v):
        return None
    return int(v) if isinstance(value, int) else float(f"{v:.6g}")


def alarm_json(alarm: Alarm) -> dict[str, Any]:
    return alarm.as_dict()


def _rig_summary(model: FleetModel, view: RigView, now: float) -> dict[str, Any]:
    gaps = sum(s.gaps for (r, _), s in model.accounting.streams.items() if r == view.rig)
    return {
        "rig": view.rig, "online": view.online, "silent": view.silent,
        "reachable": view.reachable, "mode": view.mode, "boot": view.boot,
        "last_seen": view.last_seen or None,
        "last_seen_ago": num(now - view.last_seen) if view.last_seen else None,
        "messages": view.messages, "gaps": gaps,
        "alarms_active": model.alarms.active_count(view.rig),
        "alarms_unacked": model.alarms.unacked_count(view.rig),
        "software": view.info.get("software") or view.info.get("software_version"),
    }


def fleet_json(model: FleetModel, now: float) -> dict[str, Any]:
    totals = model.accounting.totals()
    return {
        "rigs": [_rig_summary(model, v, now) for _, v in sorted(model.rigs.items())],
        "alarms_active": model.alarms.active_count(),
        "alarms_unacked": model.alarms.unacked_count(),
        "link": {"up": model.link_up, "drops": model.link_drops, "messages": model.messages,
                 "gaps": totals["gaps"], "duplicates": totals["duplicates"],
                 "malformed": totals["malformed"]},
    }


def rig_json(model: FleetModel, rig: str, now: float, *, commands: int = 50,
             events: int = 40) -> dict[str, Any] | None:
    view = model.rigs.get(rig)
    if view is None:
        return None
    limits: LimitSet = model.limits
    state = []
    for key, label, unit in STATE_FIELDS:
        if key not in view.state:
            continue
        value = view.state[key]
        level = limits.level(key, float(value)).css if isinstance(value, int | float) and \
            not isinstance(value, bool) and limits.get(key) else "none"
        state.append({"key": key, "label": label, "unit": unit, "value": num(value),
                      "level": level})
    channels = {name: {"stream": c.stream, "unit": c.unit, "value": num(c.value),
                       "level": c.level.css, "t_rig": c.t_rig}
                for name, c in view.channels.items()}
    streams = {stream: {"gaps": s.gaps, "unique": s.unique, "duplicates": s.duplicates}
               for (r, stream), s in model.accounting.streams.items() if r == rig}
    zone = view.safety_zone
    return {
        **_rig_summary(model, view, now),
        "state": state,
        "interlocks": [n for n in view.state.get("interlocks", []) if isinstance(n, str)],
        "mission": view.state.get("mission"),
        "channels": channels,
        "streams": streams,
        "alarms": [alarm_json(a) for a in model.alarms.for_rig(rig)],
        "events": [e.as_dict() for e in list(view.events)[:events]],
        "commands": [c.as_dict() for c in model.commands.for_rig(rig)[:commands]],
        "position": [num(view.state.get("x_m")), num(view.state.get("y_m"))],
        "trail": [[num(x), num(y)] for x, y in list(view.trail)[-300:]],
        "safety_zone": zone,
        "public_feed": view.public_feed,
    }


def rows_json(rig: str, msg: BatchMessage) -> dict[str, Any]:
    """A batch as columns: ``t`` (rig time of each row) and one list per channel."""
    n = len(msg.samples)
    t = (msg.t0_rig + msg.period_s * np.arange(n)).round(4).tolist()
    cols = []
    for i in range(len(msg.channels)):
        col = msg.samples[:, i].astype(np.float64)
        cols.append([None if not math.isfinite(v) else float(f"{v:.6g}") for v in col.tolist()])
    return {"type": "rows", "rig": rig, "stream": msg.stream, "channels": list(msg.channels),
            "units": list(msg.units), "t": t, "cols": cols}


def plan_json(plan: SitePlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "name": plan.name, "clearance_m": plan.clearance_m,
        "safety_radius_m": plan.safety_radius_m,
        "sites": [{"name": s.name, "x": s.x, "y": s.y, "radius_m": s.radius_m,
                   "quota_kg": s.quota_kg} for s in plan.sites],
        "keep_out": [{"name": z.name, "kind": z.kind, "margin_m": z.margin_m,
                      "reach_m": z.margin_m + plan.clearance_m,
                      "polygon": [list(p) for p in z.polygon]} for z in plan.keep_out],
    }


@dataclass(slots=True)
class LedgerVerifier:
    """Verifies a rig's received ledger with the rover key; cached until the ledger grows."""

    rover_key: VerifyKey | None
    quotas_kg: Mapping[str, float] | None
    _cache: dict[str, tuple[int, dict[str, Any]]]

    def report(self, model: FleetModel, rig: str) -> dict[str, Any]:
        view = model.rigs.get(rig)
        records = [view.ledger[i] for i in sorted(view.ledger)] if view else []
        cached = self._cache.get(rig)
        if cached is not None and cached[0] == len(records):
            return cached[1]
        out = self._build(records, rig)
        self._cache[rig] = (len(records), out)
        return out

    def _build(self, records: list[dict[str, Any]], rig: str) -> dict[str, Any]:
        grams: dict[str, int] = {}
        for rec in records:
            if isinstance(rec.get("site"), str) and type(rec.get("mass_g")) is int:
                grams[rec["site"]] = grams.get(rec["site"], 0) + rec["mass_g"]
        quotas = dict(self.quotas_kg or {})
        totals = [{"site": s, "kg": grams.get(s, 0) / 1000.0, "quota_kg": quotas.get(s)}
                  for s in sorted(set(grams) | set(quotas))]
        intact, verification = self._verify(records, rig)
        over = [t["site"] for t in totals if t["quota_kg"] is not None
                and t["kg"] > t["quota_kg"] + 1e-9]
        if over and verification["status"] in ("intact", "partial", "unverified"):
            verification = {"status": "over_quota",
                            "detail": f"quota exceeded at site {', '.join(over)}"}
        entries = [{"index": r.get("index"), "t_ms": r.get("t_ms"), "site": r.get("site"),
                    "mass_kg": (r["mass_g"] / 1000.0) if type(r.get("mass_g")) is int else None,
                    "energy_j": r.get("energy_j"), "cycle": r.get("cycle"),
                    "x_m": _mm(r.get("x_mm")), "y_m": _mm(r.get("y_mm")),
                    "hash": str(r.get("hash", ""))[:16], "verified": pos < intact}
                   for pos, r in enumerate(records)]
        return {"entries": entries[::-1], "totals": totals, "verification": verification,
                "count": len(records)}

    def _verify(self, records: list[dict[str, Any]], rig: str) -> tuple[int, dict[str, str]]:
        """(intact entries, status): the chain from the first received entry on."""
        if self.rover_key is None:
            return 0, {"status": "unverified", "detail": "no rover key given (serve --rover-key)"}
        if not records:
            return 0, {"status": "empty", "detail": "no entries received yet (one per dump); "
                       "they will be verified with the rover key as they arrive"}
        rep = check_received(records, self.rover_key, rig)
        if rep.broken is not None:
            return rep.entries, {"status": "broken", "detail": rep.broken}
        head = f"head {rep.head[:16]}"
        if rep.partial:
            return rep.entries, {"status": "partial", "detail": f"entries {rep.first_index} to "
                                 f"{rep.first_index + rep.entries - 1} verified (chain and "
                                 f"signatures); entries before {rep.first_index} were not "
                                 f"received; {head}"}
        n = f"{rep.entries} {'entry' if rep.entries == 1 else 'entries'}"
        return rep.entries, {"status": "intact", "detail": f"{n}: chain and signatures "
                             f"verified with the rover key; {head}"}


def _mm(value: Any) -> float | None:
    return value / 1000.0 if type(value) is int else None
