"""The console under attack: ended sessions, bounded bodies, strict JSON, login limits.

Same in-process console as ``test_console_app`` (uvicorn on loopback, a real
Mosquitto, no rover: an allowed command times out with 504), driven over
real HTTP and real WebSockets.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import pytest

from telemetry.ground.console.login_guard import LoginGuardConfig
from tests.ground_console.test_console_app import Browser, console
from tests.ground_console.test_replay import make_recording
from tests.ground_console.ws_client import WsClient

pytestmark = pytest.mark.broker

FORM = "application/x-www-form-urlencoded"


def _cookie(b: Browser) -> str:
    return "; ".join(f"{k}={v}" for k, v in b.cookies.items())


async def _closed_within(ws: WsClient, seconds: float) -> tuple[int | None, float]:
    t0 = time.monotonic()
    code = await ws.until_closed(timeout=seconds + 5.0)
    return code, time.monotonic() - t0


async def test_logout_ends_the_session_and_its_websocket(mosquitto, tmp_path) -> None:
    async with console(mosquitto.url, tmp_path) as (port, _):
        alice = Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        csrf, stolen = await alice.csrf(), dict(alice.cookies)
        ws = await WsClient.open(port, _cookie(alice))
        assert json.loads(await ws.next_text(5.0))["type"] == "hello"
        status, _, _, _ = await alice.request("POST", "/logout",
                                              urlencode({"csrf": csrf}).encode(),
                                              Content_Type=FORM)
        assert status == 303
        code, took = await _closed_within(ws, 1.0)
        assert code == 4401 and took < 1.0, (code, took)
        # the cookie copied before logout opens nothing: pages, API, commands, WebSocket
        thief = Browser(port)
        thief.cookies = stolen
        assert (await thief.request("GET", "/api/fleet"))[0] == 401
        assert (await thief.request("GET", "/rigs/rig-1"))[0] == 303
        status, _ = await thief.post_json("/api/rigs/rig-1/commands", {"command": "stop"}, csrf)
        assert status == 401
        with pytest.raises(ConnectionRefusedError):
            await WsClient.open(port, _cookie(thief))


async def test_password_change_and_removal_end_sessions_within_a_second(
        mosquitto, tmp_path) -> None:
    async with console(mosquitto.url, tmp_path) as (port, users):
        alice, olga = Browser(port), Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        assert (await olga.login("olga", "olga-password"))[0] == 303
        ws_alice = await WsClient.open(port, _cookie(alice))
        ws_olga = await WsClient.open(port, _cookie(olga))
        # `rig-ground user passwd alice`, as the CLI does it: a new hash in the file
        users.add("alice", "operator", "new-alice-password", replace=True)
        code, took = await _closed_within(ws_alice, 1.0)
        assert code == 4401 and took < 1.0, (code, took)
        assert (await alice.request("GET", "/api/fleet"))[0] == 401
        assert (await olga.request("GET", "/api/fleet"))[0] == 200  # others are untouched
        users.remove("olga")  # `rig-ground user remove olga`
        code, took = await _closed_within(ws_olga, 1.0)
        assert code == 4401 and took < 1.0, (code, took)
        assert (await alice.login("alice", "new-alice-password"))[0] == 303


async def test_bodies_are_bounded_while_read_before_login(mosquitto, tmp_path) -> None:
    async with console(mosquitto.url, tmp_path) as (port, _):
        # a declared 300 MB login: refused from its headers, nothing read
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: " + FORM.encode() +
                     b"\r\nContent-Length: 300000000\r\n\r\n")
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), head
        writer.close()
        # a chunked 50 MB body to the API, no session: 413 long before it is all sent
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /api/rigs/rig-1/commands HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk, sent = b"x" * 65536, 0
        response = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
        try:
            while not response.done() and sent < 50_000_000:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                await asyncio.wait_for(writer.drain(), 5.0)
                await asyncio.sleep(0)
        except (ConnectionError, TimeoutError):
            pass  # the server hung up on us: it stopped reading
        async with asyncio.timeout(5):
            head = await response
        assert head.startswith(b"HTTP/1.1 413"), head
        assert sent < 5_000_000, f"the server read {sent} bytes before refusing"
        writer.close()
        # a WebSocket message over the limit ends the connection (1009: too big)
        alice = Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        ws = await WsClient.open(port, _cookie(alice))
        await ws.send_text(json.dumps({"source": "live", "rig": "x" * 70_000}))
        assert await ws.until_closed(timeout=5.0) == 1009


@pytest.mark.parametrize(("body", "error"), [
    (b'{"command":"status","command":"estop"}', "duplicate field 'command'"),
    (b'{"command":"set_param","args":{"name":"max_depth_m","value":NaN}}', "NaN"),
    (b'{"command":"set_param","args":{"name":"max_depth_m","value":1e999}}',
     "body.args.value: expected a finite number"),
    (b'{"command":"set_param","args":{"name":"max_depth_m","value":-Infinity}}', "Infinity"),
])
async def test_the_command_api_is_as_strict_as_the_rover(mosquitto, tmp_path, body,
                                                         error) -> None:
    async with console(mosquitto.url, tmp_path) as (port, _):
        alice = Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        status, _, reply, _ = await alice.request(
            "POST", "/api/rigs/rig-1/commands", body, Content_Type="application/json",
            X_CSRF_Token=await alice.csrf())
        assert status == 400 and error in json.loads(reply)["error"], reply
    assert not (tmp_path / "audit.jsonl").exists()  # nothing was sent


async def test_login_limits_never_lock_out_a_browser_that_logged_in_before(
        mosquitto, tmp_path) -> None:
    limits = LoginGuardConfig(address_burst=4, address_per_s=0.01, user_failures=3)
    async with console(mosquitto.url, tmp_path, login_limits=limits) as (port, _):
        alice = Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        assert "rig_console_device" in alice.cookies
        await alice.request("POST", "/logout", urlencode({"csrf": await alice.csrf()}).encode(),
                            Content_Type=FORM)
        attacker = Browser(port)
        statuses = [(await attacker.login("alice", f"guess-{i}"))[0] for i in range(5)]
        assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429], statuses
        # the name is locked and the address (loopback, shared by everyone) is limited...
        newcomer = Browser(port)
        status, page = await newcomer.login("alice", "alice-password")
        assert status == 429 and b"Too many login attempts: try again in" in page
        # ...but alice's own browser, from the same address, still gets in
        assert (await alice.login("alice", "alice-password"))[0] == 303
        assert (await alice.request("GET", "/api/fleet"))[0] == 200


async def test_a_replay_is_controlled_by_its_owner_only(mosquitto, tmp_path) -> None:
    recordings = tmp_path / "recs"
    recordings.mkdir()
    await make_recording(recordings / "run.db")
    async with console(mosquitto.url, tmp_path, recordings=recordings) as (port, _):
        alice, olga = Browser(port), Browser(port)
        assert (await alice.login("alice", "alice-password"))[0] == 303
        assert (await olga.login("olga", "olga-password"))[0] == 303
        status, replay = await alice.post_json("/api/replays", {"file": "run.db", "speed": 0.5},
                                               await alice.csrf())
        assert status == 200, replay
        olga_csrf = await olga.csrf()
        for action in ("stop", "pause"):
            status, body = await olga.post_json(f"/api/replays/{replay['id']}",
                                                {"action": action}, olga_csrf)
            assert status == 403 and "belongs to 'alice'" in body["error"], body
        status, body = await alice.post_json(f"/api/replays/{replay['id']}",
                                             {"action": "stop"}, await alice.csrf())
        assert status == 200
