"""JSON views of the fleet model for the console's pages (pure functions of the model).

Numbers are rounded to 6 significant digits and non-finite values become
``null`` (JSON has no NaN). ``now`` is the time "ago" figures are computed
against: the ground clock live, the replay cursor in a replay.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from nacl.signing import VerifyKey

from telemetry.contract import CauseKind
from telemetry.contract.json_fields import JsonObject, JsonValue
from telemetry.contract.ledger_record import ReceivedRecord
from telemetry.contract.payloads import BatchMessage
from telemetry.contract.rig_state import RigState
from telemetry.contract.site_plan import SitePlan
from telemetry.ground.alarms import Alarm
from telemetry.ground.console.commands_view import commands_json
from telemetry.ground.fleet import FleetModel, RigView
from telemetry.ground.ledger_check import check_received
from telemetry.ground.limits import LimitSet

__all__ = [
    "LedgerVerifier",
    "alarm_json",
    "dump_json",
    "fleet_json",
    "num",
    "plan_json",
    "position_json",
    "rig_json",
    "rows_json",
]

_Read = Callable[[RigState], float | bool | str | None]

#: State fields shown in the state panel, in this order: the key the page gets (the
#: field's wire name), label, unit, and how to read it from the typed state.
STATE_FIELDS: tuple[tuple[str, str, str, _Read], ...] = (
    ("mode", "mode", "", lambda s: s.mode), ("phase", "phase", "", lambda s: s.phase),
    ("mission_running", "mission running", "", lambda s: s.mission_running),
    ("motors_enabled", "motors enabled", "", lambda s: s.motors_enabled),
    ("drum_current_a", "drum current", "A", lambda s: s.drum_current_a),
    ("drum_speed_rad_s", "drum speed", "rad/s", lambda s: s.drum_speed_rad_s),
    ("cut_depth_m", "cut depth", "m", lambda s: s.cut_depth_m),
    ("tilt_deg", "tilt", "deg", lambda s: s.tilt_deg),
    ("motor_temp_c", "motor temp", "degC", lambda s: s.motor_temp_c),
    ("battery_v", "battery", "V", lambda s: s.battery_v),
    ("bucket_kg", "bucket", "kg", lambda s: s.bucket_kg),
    ("load_cell_kg", "load cell", "kg", lambda s: s.load_cell_kg),
    ("model_kg", "mass model", "kg", lambda s: s.model_kg),
    ("load_cell_ok", "load cell ok", "", lambda s: s.load_cell_ok),
    ("energy_j", "energy", "J", lambda s: s.energy_j),
    ("x_m", "x", "m", lambda s: s.x_m), ("y_m", "y", "m", lambda s: s.y_m),
    ("clock_offset_s", "ground clock - rover clock", "s", lambda s: s.clock_offset_s),
    ("clock_sync_age_s", "clock synced ago", "s", lambda s: s.clock_sync_age_s),
    ("clock_source", "clock source", "", lambda s: s.clock_source),
)


def num(value: JsonValue | np.floating) -> JsonValue:
    """A JSON-safe number (6 significant digits, ``None`` if not finite); others as is."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        return value
    v = float(value)
    if not math.isfinite(v):
        return None
    return int(v) if isinstance(value, int) else float(f"{v:.6g}")


def position_json(view: RigView) -> list[float | None]:
    """``[x_m, y_m]`` of the rig's latest state (``None`` for what it did not say)."""
    state = view.state
    return [state.x_m, state.y_m] if state is not None else [None, None]


def dump_json(view: RigView) -> JsonObject | None:
    """``{"x_m", "y_m"}`` of the dump site the rig's mission reports (``None``: no mission,
    or a rover too old to say)."""
    mission = view.state.mission if view.state is not None else None
    if mission is None or mission.dump is None:
        return None
    return {"x_m": mission.dump[0], "y_m": mission.dump[1]}


def alarm_json(alarm: Alarm) -> JsonObject:
    return alarm.as_dict()


def _rig_summary(model: FleetModel, view: RigView, now: float) -> JsonObject:
    gaps = sum(s.gaps for (r, _), s in model.accounting.streams.items() if r == view.rig)
    return {
        "rig": view.rig, "online": view.online, "silent": view.silent,
        "shutdown": view.shutdown,
        "reachable": view.reachable, "mode": view.mode, "boot": view.boot,
        "last_seen": view.last_seen or None,
        "last_seen_ago": num(now - view.last_seen) if view.last_seen else None,
        "messages": view.messages, "gaps": gaps,
        "alarms_active": model.alarms.active_count(view.rig),
        "alarms_unacked": model.alarms.unacked_count(view.rig),
        "software": view.info.software_label,
        "verified": view.verified, "forged": view.forged,
        "state_age_s": num(view.state_age_s(now)),
        "stale": _stale(view, now),
        **_clock_and_storage(model, view),
    }


def _clock_and_storage(model: FleetModel, view: RigView) -> JsonObject:
    """The fleet table's clock and storage columns, from the latest state."""
    state = view.state
    offset = state.clock_offset_s if state is not None else None
    storage = state.storage if state is not None else None
    level = model.limits.level("clock_offset_s", float(offset)).css \
        if offset is not None else "none"
    return {
        "clock_offset_s": num(offset),
        "clock_sync_age_s": num(state.clock_sync_age_s) if state is not None else None,
        "clock_source": state.clock_source if state is not None else None,
        "clock_level": level,
        "storage": storage.to_json() if storage is not None else None,
        "storage_level": "none" if storage is None else "red" if storage.full else "ok",
    }


def _interlock_reasons(model: FleetModel, rig: str) -> JsonObject:
    prefix = CauseKind.INTERLOCK.prefix
    return {a.cause[len(prefix):]: a.text for a in model.alarms.for_rig(rig)
            if a.cause.startswith(prefix)}


def _stale(view: RigView, now: float) -> bool:
    """The rig's values are stale: its states stopped arriving at their usual rate."""
    age = view.state_age_s(now)
    return age is not None and age > view.stale_after_s()


def fleet_json(model: FleetModel, now: float) -> JsonObject:
    totals = model.accounting.totals()
    return {
        "rigs": [_rig_summary(model, v, now) for _, v in sorted(model.rigs.items())],
        "alarms_active": model.alarms.active_count(),
        "alarms_unacked": model.alarms.unacked_count(),
        "link": {"up": model.link_up, "drops": model.link_drops, "messages": model.messages,
                 "gaps": totals["gaps"], "duplicates": totals["duplicates"],
                 "malformed": totals["malformed"], "rigs_refused": model.rigs_refused,
                 "streams_untracked": totals["untracked"],
                 "max_rigs": model.max_rigs},
    }


def rig_json(model: FleetModel, rig: str, now: float, *, commands: int = 50,
             events: int = 40) -> JsonObject | None:
    view = model.rigs.get(rig)
    if view is None:
        return None
    limits: LimitSet = model.limits
    state = []
    rig_state = view.state
    for key, label, unit, read in STATE_FIELDS if rig_state is not None else ():
        value = read(rig_state)
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
        "interlocks": list(view.state.interlocks) if view.state else [],
        # what the rover said when each tripped (its event's reason), for the banner
        "interlock_reasons": _interlock_reasons(model, rig),
        "mission": view.state.mission.to_json() if view.state and view.state.mission else None,
        # what the controller found after its (re)start: "resumed: site A 47.5 / 45 kg, ..."
        "resumed": view.state.resumed.text if view.state and view.state.resumed else None,
        "channels": channels,
        "streams": streams,
        "alarms": [alarm_json(a) for a in model.alarms.for_rig(rig)],
        "events": [e.as_dict() for e in list(view.events)[:events]],
        "commands": [c.as_dict() for c in model.commands.for_rig(rig)[:commands]],
        "position": [num(v) for v in position_json(view)],
        "trail": [[num(x), num(y)] for x, y in list(view.trail)[-300:]],
        "safety_zone": zone,
        "public_feed": view.public_feed,
        **commands_json(model, view, now),  # params, who else commands the rig
    }


def rows_json(rig: str, msg: BatchMessage, t0_utc: float, period_s: float) -> JsonObject:
    """A batch as columns: ``t`` (UTC of each row, Unix seconds: ``SampleTimes``) and one
    list per channel."""
    n = len(msg.samples)
    t = (t0_utc + period_s * np.arange(n)).round(4).tolist()
    cols = []
    for i in range(len(msg.channels)):
        col = msg.samples[:, i].astype(np.float64)
        cols.append([None if not math.isfinite(v) else float(f"{v:.6g}") for v in col.tolist()])
    return {"type": "rows", "rig": rig, "stream": msg.stream, "channels": list(msg.channels),
            "units": list(msg.units), "t": t, "cols": cols}


def plan_json(plan: SitePlan | None) -> JsonObject | None:
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
    _cache: dict[str, tuple[int, JsonObject]]

    def report(self, model: FleetModel, rig: str) -> JsonObject:
        view = model.rigs.get(rig)
        records = [view.ledger[i] for i in sorted(view.ledger)] if view else []
        cached = self._cache.get(rig)
        if cached is not None and cached[0] == len(records):
            return cached[1]
        out = self._build(records, rig)
        self._cache[rig] = (len(records), out)
        return out

    def _build(self, records: list[Mapping[str, JsonValue]], rig: str) -> JsonObject:
        grams: dict[str, int] = {}
        received = [ReceivedRecord.of(r) for r in records]
        for rec in received:
            if rec.site is not None and rec.mass_g is not None:
                grams[rec.site] = grams.get(rec.site, 0) + rec.mass_g
        quotas = dict(self.quotas_kg or {})
        totals = [{"site": s, "kg": grams.get(s, 0) / 1000.0, "quota_kg": quotas.get(s)}
                  for s in sorted(set(grams) | set(quotas))]
        intact, verification = self._verify(records, rig)
        over = [t["site"] for t in totals if t["quota_kg"] is not None
                and t["kg"] > t["quota_kg"] + 1e-9]
        if over and verification["status"] in ("intact", "partial", "unverified"):
            verification = {"status": "over_quota",
                            "detail": f"quota exceeded at site {', '.join(over)}"}
        entries = [{"index": r.index, "t_ms": r.t_ms, "site": r.site, "mass_kg": r.mass_kg,
                    "energy_j": r.energy_j, "cycle": r.cycle, "x_m": r.x_m, "y_m": r.y_m,
                    "hash": (r.hash or "")[:16], "verified": pos < intact}
                   for pos, r in enumerate(received)]
        return {"entries": entries[::-1], "totals": totals, "verification": verification,
                "count": len(records)}

    def _verify(self, records: list[Mapping[str, JsonValue]], rig: str
                ) -> tuple[int, dict[str, str]]:
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

