"""The alarm and event log page (``/log``) and its API (``GET /api/log``).

The query string is the filter (every parameter optional)::

    rig=rig-1            one rig
    type=alarm|event
    severity=warning     this severity and worse
    kind=interlock       an event kind or alarm cause (``rig:offline``), or a cause
                         kind (``interlock``: every ``interlock:*``)
    state=active|unacked|acked|cleared    alarms only
    verified=1           only what the rig's signature vouched for
    since=..&until=..    UTC: ISO 8601 (``2026-12-07T04:00``, ``...Z``) or epoch seconds
    q=text               case-insensitive, in rig, kind, text and who acknowledged
    limit=500            at most this many entries (1 to 2000)

A parameter it cannot read is a 400 naming it and what it expected. The
answer lists entries newest first with how many matched, how many the log
holds, its capacity and how many it had to drop (``telemetry.ground.event_log``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from telemetry.contract import Severity
from telemetry.contract.json_fields import JsonObject
from telemetry.ground.console.context import Console, Viewer
from telemetry.ground.event_log import EntryType, LogEntry, LogFilter, LogState

__all__ = ["LOG_BODY", "LogQueryError", "entry_json", "log_endpoint", "parse_filter"]

MAX_LIMIT = 2000

LOG_BODY = """
<section class="panel wide"><h2>Alarm and event log</h2>
  <form id="log-filters" class="logfilters">
    <label>rig <select id="log-rig" name="rig"><option value="">every rig</option></select>
    </label>
    <label>type <select name="type"><option value="">alarms and events</option>
      <option value="alarm">alarms</option><option value="event">events</option></select></label>
    <label>severity <select name="severity"><option value="">any</option>
      <option value="warning">warning and worse</option><option value="alarm">alarm and worse
      </option><option value="critical">critical</option></select></label>
    <label>kind <input name="kind" size="14" placeholder="interlock, rig:offline"></label>
    <label>state <select name="state"><option value="">any</option>
      <option value="active">active</option><option value="unacked">unacknowledged</option>
      <option value="acked">acknowledged</option><option value="cleared">cleared</option>
      </select></label>
    <label><input type="checkbox" name="verified" value="1"> verified only</label>
    <label>from (UTC) <input type="datetime-local" name="since" step="1"></label>
    <label>to (UTC) <input type="datetime-local" name="until" step="1"></label>
    <label>text <input type="search" name="q" size="16" placeholder="search"></label>
    <button type="reset" class="btn">Clear filters</button>
  </form>
  <p class="muted" id="log-summary"></p>
  <table class="grid" id="log-table"><thead><tr><th>time (UTC)</th><th>rig</th><th>type</th>
    <th>severity</th><th>kind</th><th>text</th><th>state</th><th>acknowledged</th>
    <th>signature</th></tr></thead><tbody></tbody></table>
  <p class="empty" id="log-empty">Nothing in the log matches.</p>
</section>"""


class LogQueryError(ValueError):
    """A log query parameter that cannot be read; ``param`` names it."""

    def __init__(self, param: str, detail: str) -> None:
        super().__init__(f"{param}: {detail}")
        self.param = param


_E = TypeVar("_E", EntryType, LogState, Severity)


def _choice(enum: type[_E], param: str, value: str | None) -> _E | None:
    if not value:
        return None
    try:
        return enum(value)
    except ValueError:
        raise LogQueryError(param, f"expected one of {', '.join(m.value for m in enum)}, got "
                                   f"{value!r}") from None


def _time(param: str, value: str | None) -> float | None:
    """UTC epoch seconds from ISO 8601 (a time without a zone is UTC) or a number."""
    if not value:
        return None
    try:
        t = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise LogQueryError(param, f"expected a UTC time like 2026-12-07T04:00:00Z or "
                                       f"epoch seconds, got {value!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    if not math.isfinite(t):
        raise LogQueryError(param, f"expected a finite number of seconds, got {value!r}")
    return t


def parse_filter(params: Mapping[str, str]) -> tuple[LogFilter, int]:
    """The filter and the limit a query string asks for; raises ``LogQueryError``."""
    limit_text = params.get("limit") or "500"
    try:
        limit = int(limit_text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise LogQueryError("limit", f"expected a whole number from 1 to {MAX_LIMIT}, got "
                                     f"{limit_text!r}")
    verified = params.get("verified", "")
    if verified not in ("", "0", "1", "true", "false"):
        raise LogQueryError("verified", f"expected 1 or 0, got {verified!r}")
    where = LogFilter(
        rig=params.get("rig") or None,
        type=_choice(EntryType, "type", params.get("type")),
        min_severity=_choice(Severity, "severity", params.get("severity")),
        kind=params.get("kind") or None,
        state=_choice(LogState, "state", params.get("state")),
        verified_only=verified in ("1", "true"),
        since=_time("since", params.get("since")),
        until=_time("until", params.get("until")),
        text=params.get("q") or None)
    return where, limit


def entry_json(e: LogEntry) -> JsonObject:
    out: JsonObject = {"seq": e.seq, "type": e.type.value, "rig": e.rig, "kind": e.name,
                       "severity": e.severity.value, "text": e.text, "at": e.at,
                       "verified": e.verified, "count": e.count}
    if e.alarm is not None:
        a = e.alarm
        out.update(id=a.id, state=a.state.value, raised_at=e.at, cleared_at=a.cleared_at,
                   acked_by=a.acked_by, acked_at=a.acked_at)
    else:
        out.update(t_rig=e.t_rig, historical=e.historical)
    return out


async def log_endpoint(console: Console, request: Request, viewer: Viewer) -> Response:
    try:
        where, limit = parse_filter(request.query_params)
    except LogQueryError as err:
        return JSONResponse({"error": str(err), "param": err.param}, status_code=400)
    model = console.client.model
    page = model.log.query(where, limit)
    return JSONResponse({"entries": [entry_json(e) for e in page.entries],
                         "matched": page.matched, "kept": page.kept, "dropped": page.dropped,
                         "capacity": page.capacity, "rigs": sorted(model.rigs),
                         "version": model.log.version})
