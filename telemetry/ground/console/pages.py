"""The console's HTML pages, login and logout.

Pages are small server-rendered shells (``templates/page.html``: top bar,
rig tabs, the page's empty panels); ``static/pages.js`` fills them from the
WebSocket. Every value put into HTML is escaped; no inline script (the
Content-Security-Policy allows scripts from ``/static`` only), so per-page
settings travel in ``data-`` attributes. Unauthenticated page requests are
redirected to ``/login``.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import string
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from telemetry.contract import check_name
from telemetry.contract.errors import ContractConfigError
from telemetry.ground.console.context import Console, Viewer
from telemetry.ground.console.log_view import LOG_BODY
from telemetry.ground.console.sessions import (
    DEVICE_COOKIE,
    DEVICE_MAX_AGE_S,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    tokens_match,
)

Endpoint = Callable[[Request], Awaitable[Response]]

__all__ = ["login_form", "login_submit", "logout", "page"]

log = logging.getLogger(__name__)

_FAIL_DELAY_S = 1.0
_LIMITED = ('<!doctype html><title>Too many login attempts</title><p>Too many login attempts: '
            'try again in {wait} s. <a href="/login">Back to the login</a></p>')


def _template(name: str) -> string.Template:
    text = resources.files("telemetry.ground.console").joinpath("templates", name).read_text()
    return string.Template(text)


_PAGE = _template("page.html")
_LOGIN = _template("login.html")

_BODIES = {
    "fleet": """
<section class="panel wide"><h2>Fleet</h2>
  <p class="muted" id="fleet-summary"></p>
  <table class="grid" id="fleet-table"><thead><tr><th>rig</th><th>status</th><th>mode</th>
  <th>alarms</th><th>last seen</th><th>rover clock</th><th>storage</th><th>boot</th>
  <th>messages</th><th>gaps</th></tr></thead>
  <tbody></tbody></table>
  <p class="empty" id="fleet-empty">No rig seen yet: waiting for telemetry.</p>
</section>""",
    "alarms": """
<section class="panel wide"><h2>Alarms, every rig</h2>
  <div id="alarm-list" class="alarms"></div>
</section>""",
    "rig": """
<div class="rigview">
  <aside class="side">
    <section class="panel"><h2>Alarms</h2><div id="alarm-list" class="alarms"></div></section>
    <section class="panel"><h2>State</h2><table class="kv" id="state-table"></table>
      <div id="mission"></div></section>
  </aside>
  <section class="plots panel">
    <div class="plotbar"><h2>Live channels</h2><div id="channel-picker" class="picker"></div>
      <span id="rows-rate" class="muted"></span></div>
    <div id="plot-grid" class="plotgrid"></div>
  </section>
  <section class="panel events"><h2>Events</h2><div id="event-list" class="eventlist"></div>
  </section>
</div>""",
    "commands": """
<div class="cmdview"><div class="cmdcol">
  <section class="panel" id="command-panel"><h2>Send a command</h2>
    <p class="muted">Signed with the station key <b id="station-key"></b>; each ack below.</p>
    <div class="cmdbuttons" id="cmd-buttons"></div>
    <form id="param-form" class="paramform" novalidate>
      <label>set_param <select id="param-name"></select></label>
      <label>value <input id="param-value" type="number" step="any" required></label>
      <button type="submit" class="btn">Send set_param</button>
      <div id="param-info" class="paraminfo muted">waiting for the rig's parameter table…</div>
    </form>
    <div id="cmd-result" class="cmdresult"></div>
  </section>
  <section class="panel" id="live-panel"><h2>Rig now</h2>
    <table class="kv" id="live-table"></table></section>
  </div><div class="cmdcol">
  <section class="panel wide" id="others-panel"><h2>Who else is commanding this rig
    <span class="muted" id="others-window"></span></h2>
    <table class="grid" id="others-table"><thead><tr><th>sent (UTC)</th><th>station key</th>
      <th>user</th><th>command</th><th>args</th><th>result</th></tr></thead>
    <tbody></tbody></table></section>
  <section class="panel wide"><h2>Command history</h2>
    <table class="grid" id="history-table"><thead><tr><th>sent</th><th>by</th><th>key</th>
      <th>command</th><th>args</th><th>ack</th><th>reason</th><th>latency</th></tr></thead>
    <tbody></tbody></table></section>
</div></div>""",
    "ledger": """
<section class="panel wide"><h2>Extraction ledger</h2>
  <div id="ledger-status" class="banner"></div>
  <div id="ledger-totals" class="totals"></div>
  <table class="grid" id="ledger-table"><thead><tr><th>#</th><th>time</th><th>site</th>
    <th>mass kg</th><th>energy kJ</th><th>cycle</th><th>x, y m</th><th>hash</th>
    <th>verified</th></tr></thead><tbody></tbody></table>
</section>""",
    "map": """
<div class="mapview">
  <section class="panel mappanel"><h2>Site map</h2><div id="site-map" class="sitemap"></div>
  </section>
  <aside class="panel legend"><h2>Legend</h2><ul id="map-legend" class="legendlist"></ul>
    <div id="map-info"></div></aside>
</div>""",
    "replay": """
<div id="replay-banner" class="replaybanner" role="status">REPLAY · recorded data, not live ·
  <span id="replay-banner-file">no recording playing</span></div>
<section class="panel wide replaybar">
  <label>Recording <select id="replay-file"></select></label>
  <label>Speed <select id="replay-speed"></select></label>
  <button class="btn" id="replay-play">Play</button>
  <button class="btn" id="replay-pause">Pause</button>
  <label>Rig <select id="replay-rig"></select></label>
  <div class="progress"><div id="replay-progress"></div></div>
  <span id="replay-status" class="muted">Choose a recording.</span>
  <label class="seek">Jump to <input id="replay-seek" type="range" min="0" max="0" step="0.1"
    value="0" disabled> <span id="replay-seek-at" class="mono">—</span></label>
</section>""",
}
_BODIES["replay"] += _BODIES["rig"]
_BODIES["log"] = LOG_BODY

_TITLES = {"fleet": "Fleet", "alarms": "Alarms", "rig": "Live", "commands": "Commands",
           "ledger": "Ledger", "map": "Site map", "replay": "Replay", "log": "Log"}
_RIG_TABS = (("rig", "", "Live"), ("commands", "/commands", "Commands"),
             ("ledger", "/ledger", "Ledger"), ("map", "/map", "Map"))


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _rig_nav(rig: str, current: str) -> str:
    tabs = "".join(f'<a href="/rigs/{_esc(rig)}{suffix}" class="{"on" if kind == current else ""}"'
                   f'>{label}</a>' for kind, suffix, label in _RIG_TABS)
    return (f'<div class="rignav"><span class="rigname" id="rig-title">{_esc(rig)}</span>'
            f'<span id="rig-badges" class="badges"></span><nav class="tabs">{tabs}</nav></div>')


def render_page(kind: str, viewer: Viewer, rig: str = "") -> str:
    return _PAGE.substitute(
        title=_esc(f"{rig} {_TITLES[kind]}".strip()), page=kind, rig=_esc(rig),
        user=_esc(viewer.user), role=_esc(viewer.role), csrf=_esc(viewer.session.csrf),
        commands=_esc(" ".join(sorted(viewer.commands))),
        can_ack="1" if viewer.can_acknowledge else "",
        nav_fleet="on" if kind == "fleet" else "", nav_alarms="on" if kind == "alarms" else "",
        nav_replay="on" if kind == "replay" else "", nav_log="on" if kind == "log" else "",
        rignav=_rig_nav(rig, kind) if rig and kind != "replay" else "",
        body=_BODIES[kind])


def page(console: Console, kind: str) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        viewer = console.viewer(request)
        if viewer is None:
            return RedirectResponse("/login", status_code=303)
        rig = request.path_params.get("rig", "")
        if rig:
            try:
                check_name("rig", rig)
            except ContractConfigError:
                return HTMLResponse("no such rig", status_code=404)
        return HTMLResponse(render_page(kind, viewer, rig))
    return endpoint


def _login_response(console: Console, *, error: str = "", username: str = "",
                    status: int = 200, headers: dict[str, str] | None = None) -> Response:
    token, cookie = console.sessions.new_login_token()
    note = "" if console.config.tls else \
        "This console is served without TLS: use it on this machine or through an SSH tunnel."
    body = _LOGIN.substitute(error=_esc(error), username=_esc(username), csrf=_esc(token),
                             note=_esc(note))
    response = HTMLResponse(body, status_code=status, headers=headers)
    response.set_cookie(LOGIN_COOKIE, cookie, max_age=3600, **console.sessions.cookie_args())
    return response


async def _form(request: Request) -> dict[str, str] | None:
    body = await request.body()  # at most body_limit.FORM_MAX_BYTES: BodyLimit saw to it
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0] for k, v in fields.items() if v}


def login_form(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        if console.viewer(request) is not None:
            return RedirectResponse("/", status_code=303)
        return _login_response(console)
    return endpoint


def login_submit(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        form = await _form(request)
        if form is None or not console.sessions.login_token_ok(
                request.cookies.get(LOGIN_COOKIE), form.get("csrf")):
            return _login_response(console, error="The form expired: please try again.",
                                   status=400)
        name, password = form.get("username", "")[:64], form.get("password", "")[:1024]
        address = request.client.host if request.client else "?"
        started = time.monotonic()
        result = await console.auth.login(name, password, address,
                                          request.cookies.get(DEVICE_COOKIE), console.clock())
        if result.outcome in ("limited", "busy"):
            # a fixed, small page (no new form token to sign): under a flood, most
            # requests end here, and they must cost the event loop next to nothing
            wait = max(1, math.ceil(result.retry_after_s))
            return HTMLResponse(_LIMITED.format(wait=wait),
                                status_code=429 if result.outcome == "limited" else 503,
                                headers={"retry-after": str(wait)})
        if result.user is None:
            # a uniform, slow failure: no hint which of name and password was wrong
            await asyncio.sleep(max(0.0, _FAIL_DELAY_S - (time.monotonic() - started)))
            log.warning("console: failed login for %r from %s", name, address)
            return _login_response(console, error="Unknown user or wrong password.",
                                   username=name, status=401)
        log.info("console: %s (%s) logged in", result.user.name, result.user.role)
        response = RedirectResponse("/", status_code=303)
        args = console.sessions.cookie_args()
        response.set_cookie(SESSION_COOKIE, result.session_cookie,
                            max_age=int(console.sessions.max_age_s), **args)
        response.set_cookie(DEVICE_COOKIE, result.device_cookie, max_age=DEVICE_MAX_AGE_S,
                            **args)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response
    return endpoint


def logout(console: Console) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        viewer = console.viewer(request)
        form = await _form(request) or {}
        if viewer is not None and not tokens_match(viewer.session.csrf, form.get("csrf")):
            return HTMLResponse("bad CSRF token", status_code=403)
        if viewer is not None:  # the session ends here, not only the cookie
            console.sessions.revoke(viewer.session.sid)
            log.info("console: %s logged out", viewer.user)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
    return endpoint
