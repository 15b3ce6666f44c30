"""The console's HTTP surface, served by uvicorn in-process: login, sessions, CSRF, roles.

Requests go over real loopback HTTP (``http.client`` in a thread); the ground
client behind the console talks to a real Mosquitto with no rover on it, so a
command the console is allowed to send times out (504) instead of being acked.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import uvicorn

from telemetry.contract.keys import generate, write_key_files
from telemetry.ground.client import GroundClient
from telemetry.ground.console.app import build_app, build_console
from telemetry.ground.console.body_limit import WS_MAX_BYTES
from telemetry.ground.console.context import ConsoleConfig
from telemetry.ground.console.users import UserStore

pytestmark = pytest.mark.broker


class Browser:
    """Just enough of a browser: cookies, and requests over real HTTP."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    def _request(self, method: str, path: str, body: bytes | None,
                 headers: dict[str, str]) -> tuple[int, dict[str, str], bytes, list[str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        conn.request(method, path, body, {**headers, **({"Cookie": cookie} if cookie else {})})
        res = conn.getresponse()
        data = res.read()
        set_cookies = res.headers.get_all("set-cookie") or []
        for line in set_cookies:
            name, _, rest = line.partition("=")
            value = rest.split(";", 1)[0].strip('"')
            if "max-age=0" in line.lower() or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        conn.close()
        return res.status, {k.lower(): v for k, v in res.headers.items()}, data, set_cookies

    async def request(self, method: str, path: str, body: bytes | None = None,
                      **headers: str) -> tuple[int, dict[str, str], bytes, list[str]]:
        return await asyncio.to_thread(self._request, method, path, body,
                                       {k.replace("_", "-"): v for k, v in headers.items()})

    async def login(self, user: str, password: str) -> tuple[int, bytes]:
        _, _, page, _ = await self.request("GET", "/login")
        token = re.search(rb'name="csrf" value="([^"]+)"', page).group(1).decode()
        form = urlencode({"username": user, "password": password, "csrf": token}).encode()
        status, _, body, _ = await self.request(
            "POST", "/login", form, Content_Type="application/x-www-form-urlencoded")
        return status, body

    async def csrf(self) -> str:
        _, _, page, _ = await self.request("GET", "/rigs/rig-1")
        return re.search(rb'name="csrf-token" content="([^"]+)"', page).group(1).decode()

    async def post_json(self, path: str, data: Any, csrf: str | None) -> tuple[int, Any]:
        headers = {"Content_Type": "application/json"}
        if csrf is not None:
            headers["X_CSRF_Token"] = csrf
        status, _, body, _ = await self.request("POST", path, json.dumps(data).encode(),
                                                **headers)
        return status, json.loads(body)


@asynccontextmanager
async def console(broker_url: str, tmp_path: Path, **config_args: Any):
    users = UserStore(tmp_path / "users.json")
    users.add("alice", "operator", "alice-password")
    users.add("olga", "observer", "olga-password")
    key, _ = write_key_files(generate("ops-1"), tmp_path / "keys")
    config = ConsoleConfig(users_path=users.path, station_key=key, command_timeout_s=0.5,
                           audit_log=tmp_path / "audit.jsonl", **config_args)
    client = GroundClient(broker_url, key=key)
    app = build_app(build_console(config, client, secret=os.urandom(32)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, ws="wsproto",
                                           log_level="warning", lifespan="on",
                                           ws_max_size=WS_MAX_BYTES))
    server.install_signal_handlers = lambda: None  # the test's loop, not the process's
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        await client.wait_connected(10)
        yield port, users
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


async def test_pages_and_api_need_a_session(mosquitto, tmp_path) -> None:
    async with console(mosquitto.url, tmp_path) as (port, _):
        b = Browser(port)
        status, headers, _, _ = await b.request("GET", "/")
        assert status == 303 and headers["location"] == "/login"
        status, _, body, _ = await b.request("GET", "/api/fleet")
        assert status == 401 and json.loads(body)["error"] == "log in first"
        status, headers, page, cookies = await b.request("GET", "/login")
        assert status == 200 and b'name="csrf"' in page
        assert "script-src 'self'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert any("httponly" in c.lower() and "samesite=strict" in c.lower() for c in cookies)
        status, _, body, _ = await b.request("GET", "/static/uPlot.iife.min.js")
        assert status == 200 and b"uPlot" in body  # vendored, served by the console itself


async def test_login_csrf_and_wrong_passwords(mosquitto, tmp_path) -> None:
    async with console(mosquitto.url, tmp_path) as (port, users):
        b = Browser(port)
        form = urlencode({"username": "alice", "password": "alice-password",
                          "csrf": "forged"}).encode()
        status, _, _, _ = await b.request("POST", "/login", form,
                                          Content_Type="application/x-www-form-urlencoded")
        assert status == 400 and "rig_console_session" not in b.cookies
        status, body = await b.login("alice", "wrong-password")
        assert status == 401 and b"Unknown user or wrong password." in body
        status, body = await b.login("nobody", "alice-password")
        assert status == 401 and b"Unknown user or wrong password." in body
        status, _ = await b.login("alice", "alice-password")
        assert status == 303 and "rig_console_session" in b.cookies
        status, _, body, _ = await b.request("GET", "/api/fleet")
        assert status == 200 and json.loads(body)["link"]["up"] is True
        # the session names a user that is then removed: it is out at once
        users.remove("alice")
        status, _, _, _ = await b.request("GET", "/api/fleet")
        assert status == 401


async def test_commands_need_csrf_and_the_operator_role(mosquitto, tmp_path) -> None:
    async with console(mosquitto.url, tmp_path) as (port, _):
        olga, alice = Browser(port), Browser(port)
        assert (await olga.login("olga", "olga-password"))[0] == 303
        assert (await alice.login("alice", "alice-password"))[0] == 303
        olga_csrf, alice_csrf = await olga.csrf(), await alice.csrf()
        cmd = {"command": "stop", "args": {}}
        status, body = await alice.post_json("/api/rigs/rig-1/commands", cmd, None)
        assert status == 403 and "CSRF" in body["error"]
        status, body = await alice.post_json("/api/rigs/rig-1/commands", cmd, olga_csrf)
        assert status == 403  # another session's token is no token
        status, body = await olga.post_json("/api/rigs/rig-1/commands", cmd, olga_csrf)
        assert status == 403 and body["error"] == "observer 'olga' may not send 'stop'"
        status, body = await olga.post_json("/api/alarms/1/ack", {}, olga_csrf)
        assert status == 403 and "may not acknowledge" in body["error"]
        # alice may: the command is signed and published; no rover here, so no ack comes
        status, body = await alice.post_json("/api/rigs/rig-1/commands", cmd, alice_csrf)
        assert status == 504 and body["status"] == "timeout"
        assert body["command_id"].startswith("ops-1-")
        status, body = await alice.post_json("/api/rigs/rig-1/commands",
                                              {"command": "launch"}, alice_csrf)
        assert status == 403
        status, body = await alice.post_json("/api/alarms/999/ack", {}, alice_csrf)
        assert status == 404
        status, _, _, _ = await alice.request(
            "POST", "/logout", urlencode({"csrf": alice_csrf}).encode(),
            Content_Type="application/x-www-form-urlencoded")
        assert status == 303 and "rig_console_session" not in alice.cookies
    audit = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(a["user"], a["command"], a["status"]) for a in audit] == [("alice", "stop",
                                                                       "timeout")]


async def test_websocket_needs_a_session_and_the_same_origin(mosquitto, tmp_path) -> None:
    async with console(mosquitto.url, tmp_path) as (port, _):
        b = Browser(port)
        assert (await b.login("alice", "alice-password"))[0] == 303
        key = base64.b64encode(os.urandom(16)).decode()
        upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec_WebSocket_Key": key,
                   "Sec_WebSocket_Version": "13"}
        evil = await b.request("GET", "/ws", Origin="http://evil.example", **upgrade)
        assert evil[0] == 403
        ours = await b.request("GET", "/ws", Origin=f"http://127.0.0.1:{port}", **upgrade)
        assert ours[0] == 101
        anonymous = await Browser(port).request("GET", "/ws", **upgrade)
        assert anonymous[0] == 403
