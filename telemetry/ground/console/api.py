"""The console's JSON API and its WebSocket.

Every endpoint needs a session (401 otherwise); every POST needs the
session's CSRF token in ``X-CSRF-Token`` (403 otherwise) and the right role
(403: observers send no commands and acknowledge no alarms). The WebSocket
needs a session too and refuses a foreign ``Origin`` (a page on another site
could otherwise ride the user's cookie).

    GET  /api/fleet                      fleet overview
    GET  /api/rigs/{rig}                 rig snapshot (the WebSocket's "rig" message)
    GET  /api/rigs/{rig}/ledger          received ledger, totals vs quota, verification
    GET  /api/rigs/{rig}/map             site plan + position + safety zone + dump site
    POST /api/rigs/{rig}/commands        {"command", "args"} -> the ack (waits for it)
    POST /api/alarms/{id}/ack            acknowledge an alarm
    GET  /api/log                        alarm and event log, filtered (``log_view``)
    GET  /api/recordings                 recordings available for replay
    POST /api/replays                    {"file", "speed"} -> a replay session
    POST /api/replays/{id}               {"action": "pause"|"resume"|"speed"|"stop"|"seek",
                                          "speed", "at_s": seconds from the start (seek)}
    WS   /ws                             {"source", "rig", "ledger"} subscriptions
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from telemetry.contract import check_name
from telemetry.contract.command_wire import WireRefusal, strict_json_object
from telemetry.contract.errors import ContractConfigError
from telemetry.contract.json_fields import JsonObject
from telemetry.ground.alarms import AlarmNotFoundError
from telemetry.ground.console.body_limit import WS_MAX_BYTES
from telemetry.ground.console.context import Console, Viewer
from telemetry.ground.console.log_view import log_endpoint
from telemetry.ground.console.replay import SPEEDS, ReplaySession, list_recordings
from telemetry.ground.console.sessions import WS_RECHECK_S, tokens_match
from telemetry.ground.console.views import (
    dump_json,
    fleet_json,
    plan_json,
    position_json,
    rig_json,
)
from telemetry.ground.errors import CommandTimeoutError, GroundUsageError, NotConnectedError
from telemetry.mqtt.errors import BrokerError

Endpoint = Callable[[Request], Awaitable[Response]]

__all__ = ["routes_api", "websocket_endpoint"]

log = logging.getLogger(__name__)

_MAX_REPLAYS = 4


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _finite(value: Any, where: str) -> str | None:
    """The path of the first non-finite number in ``value`` (``1e999`` parses as inf)."""
    if isinstance(value, float) and not math.isfinite(value):
        return where
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        bad = _finite(item, f"{where}.{key}")
        if bad is not None:
            return bad
    return None


async def _json_body(request: Request) -> JsonObject | str:
    """The body as a JSON object, or why not. As strict as the rover (``strict_json_object``):
    UTF-8, no duplicate keys, no NaN/Infinity, bounded nesting; and no number that overflows
    to infinity. The size was bounded while reading (``body_limit``)."""
    body = await request.body()
    try:
        data = strict_json_object(body or b"{}", "request body")
    except WireRefusal as err:
        return err.detail
    bad = _finite(data, "body")
    if bad is not None:
        return f"{bad}: expected a finite number"
    return data


def _rig_param(request: Request) -> str | None:
    try:
        return check_name("rig", request.path_params["rig"])
    except ContractConfigError:
        return None


def _guard(console: Console, request: Request, *, post: bool) -> Viewer | JSONResponse:
    viewer = console.viewer(request)
    if viewer is None:
        return _error(401, "log in first")
    if post and not tokens_match(viewer.session.csrf, request.headers.get("x-csrf-token")):
        return _error(403, "missing or wrong CSRF token")
    return viewer


async def fleet(console: Console, request: Request, viewer: Viewer) -> Response:
    return JSONResponse(fleet_json(console.client.model, console.clock()))


async def rig(console: Console, request: Request, viewer: Viewer) -> Response:
    name = _rig_param(request)
    snap = rig_json(console.client.model, name, console.clock()) if name else None
    return JSONResponse(snap) if snap is not None else _error(404, "rig not seen")


async def ledger(console: Console, request: Request, viewer: Viewer) -> Response:
    name = _rig_param(request)
    if name is None:
        return _error(404, "bad rig id")
    return JSONResponse(console.hub.ledger.report(console.client.model, name))


async def site_map(console: Console, request: Request, viewer: Viewer) -> Response:
    name = _rig_param(request)
    view = console.client.model.rigs.get(name or "")
    return JSONResponse({"plan": plan_json(console.config.site_plan),
                         "position": position_json(view) if view else None,
                         "safety_zone": view.safety_zone if view else None,
                         "dump": dump_json(view) if view else None})


async def send_command(console: Console, request: Request, viewer: Viewer) -> Response:
    name = _rig_param(request)
    body = await _json_body(request)
    if isinstance(body, str):
        return _error(400, body)
    if name is None:
        return _error(400, "expected a rig id of [A-Za-z0-9_.-]")
    command, args = body.get("command"), body.get("args") or {}
    if not isinstance(command, str) or not isinstance(args, dict):
        return _error(400, "expected {\"command\": NAME, \"args\": {...}}")
    if command not in viewer.commands:
        log.warning("console: %s (%s) may not send %r", viewer.user, viewer.role, command)
        return _error(403, f"{viewer.role} {viewer.user!r} may not send {command!r}")
    try:
        ack = await console.client.send(command, args, rig=name, check=False, user=viewer.user,
                                        timeout=console.config.command_timeout_s)
    except CommandTimeoutError as err:
        await console.audit.write({"event": "command", "user": viewer.user, "rig": name,
                                   "command": command, "args": args, "status": "timeout",
                                   "command_id": err.command_id})
        return JSONResponse({"command_id": err.command_id, "status": "timeout",
                             "reason": str(err)}, status_code=504)
    except (NotConnectedError, BrokerError) as err:
        return _error(503, f"not sent: {err}")
    except (GroundUsageError, ValueError) as err:
        return _error(400, str(err))
    status = "accepted" if ack.accepted else "rejected"
    await console.audit.write({"event": "command", "user": viewer.user, "rig": name,
                               "command": command, "args": args, "status": status,
                               "reason": ack.reason, "command_id": ack.command_id,
                               "sent_at": ack.sent_at, "acked_at": ack.acked_at})
    return JSONResponse({"command_id": ack.command_id, "command": command, "status": status,
                         "reason": ack.reason, "latency_s": round(ack.acked_at - ack.sent_at, 3)})


async def ack_alarm(console: Console, request: Request, viewer: Viewer) -> Response:
    if not viewer.can_acknowledge:
        return _error(403, f"{viewer.role} {viewer.user!r} may not acknowledge alarms")
    try:
        alarm_id = int(request.path_params["alarm_id"])
        alarm = console.client.model.alarms.acknowledge(alarm_id, viewer.user, console.clock())
    except (ValueError, AlarmNotFoundError):
        return _error(404, "no such alarm (it may have cleared and been acknowledged)")
    await console.audit.write({"event": "alarm_ack", "user": viewer.user, **alarm.as_dict()})
    return JSONResponse(alarm.as_dict())


async def recordings(console: Console, request: Request, viewer: Viewer) -> Response:
    return JSONResponse({"files": list_recordings(console.config.recordings),
                         "speeds": list(SPEEDS),
                         "configured": console.config.recordings is not None})


async def start_replay(console: Console, request: Request, viewer: Viewer) -> Response:
    body = await _json_body(request)
    if isinstance(body, str):
        return _error(400, body)
    name, speed = body.get("file"), body.get("speed", 1.0)
    if name not in list_recordings(console.config.recordings):
        return _error(404, "no such recording")
    if speed not in SPEEDS:
        return _error(400, f"speed: expected one of {list(SPEEDS)}")
    hub = console.hub
    for rid, old in list(hub.replays.items()):  # one replay per user
        if old.owner == viewer.user:
            _stop_replay(console, rid)
    if len(hub.replays) >= _MAX_REPLAYS:
        return _error(429, "too many replays running")
    assert console.config.recordings is not None
    replay = ReplaySession(console.config.recordings / name, prefix=console.client.prefix,
                           speed=float(speed), owner=viewer.user,
                           limits=console.client.model.limits, on_message=hub.on_replay)
    hub.replays[replay.id] = replay
    task = asyncio.create_task(replay.run(console.clock, hold_at_end=True),
                               name=f"replay-{replay.id}")
    console.tasks.append(task)
    task.add_done_callback(lambda t: console.tasks.remove(t) if t in console.tasks else None)
    return JSONResponse(replay.status(console.clock()))


def _stop_replay(console: Console, rid: str) -> None:
    console.hub.drop_replay(rid)
    for task in console.tasks:
        if task.get_name() == f"replay-{rid}":
            task.cancel()


async def control_replay(console: Console, request: Request, viewer: Viewer) -> Response:
    replay = console.hub.replays.get(request.path_params["replay_id"])
    if replay is None:
        return _error(404, "no such replay")
    if replay.owner != viewer.user:
        return _error(403, f"replay {replay.id} belongs to {replay.owner!r}, not to "
                           f"{viewer.user!r}")
    body = await _json_body(request)
    if isinstance(body, str):
        return _error(400, body)
    action, now = body.get("action"), console.clock()
    if action == "pause":
        replay.pause(now)
    elif action == "resume":
        replay.resume(now)
    elif action == "speed" and body.get("speed") in SPEEDS:
        replay.set_speed(float(body["speed"]), now)
    elif action == "stop":
        _stop_replay(console, replay.id)
    elif action == "seek":
        return _seek(console, replay, body.get("at_s"), now)
    else:
        return _error(400, "action: expected pause, resume, stop, speed (with a listed speed) "
                           "or seek (with at_s)")
    return JSONResponse(replay.status(now))


def _seek(console: Console, replay: ReplaySession, at_s: Any, now: float) -> Response:
    """Restart the replayed stream ``at_s`` seconds after the recording's first message."""
    if isinstance(at_s, bool) or not isinstance(at_s, int | float) or not math.isfinite(at_s):
        return _error(400, f"at_s: expected seconds from the recording's start, got {at_s!r}")
    if replay.first is None:
        return _error(409, "the recording is not open yet")
    replay.seek(replay.first + float(at_s), now)
    console.hub.forget_rows(replay.id)
    return JSONResponse(replay.status(now))


def routes_api(console: Console) -> list[tuple[str, Any, list[str]]]:
    """(path, endpoint, methods) for the app; each endpoint is guarded."""
    def guarded(handler: Any, post: bool) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            viewer = _guard(console, request, post=post)
            if isinstance(viewer, JSONResponse):
                return viewer
            return await handler(console, request, viewer)
        return endpoint

    return [
        ("/api/fleet", guarded(fleet, False), ["GET"]),
        ("/api/rigs/{rig}", guarded(rig, False), ["GET"]),
        ("/api/rigs/{rig}/ledger", guarded(ledger, False), ["GET"]),
        ("/api/rigs/{rig}/map", guarded(site_map, False), ["GET"]),
        ("/api/rigs/{rig}/commands", guarded(send_command, True), ["POST"]),
        ("/api/alarms/{alarm_id}/ack", guarded(ack_alarm, True), ["POST"]),
        ("/api/log", guarded(log_endpoint, False), ["GET"]),
        ("/api/recordings", guarded(recordings, False), ["GET"]),
        ("/api/replays", guarded(start_replay, True), ["POST"]),
        ("/api/replays/{replay_id}", guarded(control_replay, True), ["POST"]),
    ]


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser (browsers always send Origin on WebSockets)
    host = ws.headers.get("host", "")
    return urlsplit(origin).netloc == host


class _SessionEnded(Exception):
    """The WebSocket's session ended (logout, password change, user removed, expiry)."""


class _MessageTooBig(Exception):
    """A page sent a WebSocket message over ``WS_MAX_BYTES``."""


def websocket_endpoint(console: Console) -> Callable[[WebSocket], Awaitable[None]]:
    async def endpoint(ws: WebSocket) -> None:
        viewer = console.viewer(ws)
        if viewer is None or not _same_origin(ws):
            await ws.close(code=4403)
            return
        await ws.accept()
        page = console.hub.open(viewer.user, viewer.role)

        async def reader() -> None:
            while True:
                text = await ws.receive_text()
                if len(text) > WS_MAX_BYTES:
                    raise _MessageTooBig
                try:
                    console.hub.subscribe(page, json.loads(text))
                except ValueError:
                    continue

        async def writer() -> None:
            await ws.send_text(json.dumps({"type": "hello", "user": viewer.user,
                                           "role": viewer.role, "key_id": console.client.key_id,
                                           "plan": plan_json(console.config.site_plan),
                                           "limits": console.client.model.limits.as_dict()}))
            while True:
                await ws.send_text(await page.queue.get())

        async def session_guard() -> None:
            while console.still_valid(viewer) is not None:
                await asyncio.sleep(WS_RECHECK_S)
            raise _SessionEnded

        code = 1000
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(reader(), name="ws-reader")
                tg.create_task(writer(), name="ws-writer")
                tg.create_task(session_guard(), name="ws-session-guard")
        except* _SessionEnded:
            log.info("console: %s's session ended: closing its WebSocket", viewer.user)
            code = 4401
        except* _MessageTooBig:
            code = 1009
        except* (WebSocketDisconnect, RuntimeError, OSError):
            code = 0
        finally:
            console.hub.close(page)
        if code:
            with contextlib.suppress(RuntimeError, OSError):
                await ws.close(code=code)
    return endpoint
