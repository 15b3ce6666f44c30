"""``rig:offline`` with the real stack: Mosquitto, ``rig-sim``, ``rig-control run`` and
``rig-ground serve``, read through the console's API as a logged-in user.

* the controller frozen with SIGSTOP raises the alarm once it has been silent for
  ``--silent-after``; SIGCONT (it speaks again) clears it; SIGKILL (the broker
  publishes its last will at once) raises it again, as "offline unexpectedly";
* a broker outage on the ground's side raises nothing per rig, and the controller's
  clean shutdown (SIGTERM) shows the rig offline without an alarm.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from typing import Any

import pytest

from .stack import RIG, RigBench
from .test_console_app import Browser
from .test_console_browser import PASSWORDS, add_user

pytestmark = pytest.mark.broker

SILENT_AFTER_S = 3.0


async def logged_in(base: str, user: str = "alice") -> Browser:
    b = Browser(int(base.rsplit(":", 1)[1].rstrip("/")))
    status, _ = await b.login(user, PASSWORDS[user])
    assert status == 303, status
    return b


async def get(b: Browser, path: str) -> Any:
    status, _, body, _ = await b.request("GET", path)
    assert status in (200, 404), (status, body[:200])
    return json.loads(body) if status == 200 else None


def offline_alarm(snap: Any) -> dict[str, Any] | None:
    alarms = [a for a in (snap or {}).get("alarms", ()) if a["cause"] == "rig:offline"]
    return alarms[0] if alarms else None


async def until(b: Browser, what: str, timeout: float, check) -> Any:
    """Poll the rig's snapshot until ``check(snap)`` is truthy, under a deadline."""
    deadline = time.monotonic() + timeout
    snap = None
    while time.monotonic() < deadline:
        snap = await get(b, f"/api/rigs/{RIG}")
        found = check(snap) if snap else None
        if found:
            return found
        await asyncio.sleep(0.2)  # polling a real process under an explicit deadline
    raise AssertionError(f"{what}: not within {timeout} s; last snapshot alarms: "
                         f"{(snap or {}).get('alarms')}, online {(snap or {}).get('online')}")


def controller(bench: RigBench):
    return next(p for p in bench.procs if p.name == "rig-control")


async def test_a_hung_or_crashed_controller_raises_rig_offline(mosquitto, tmp_path) -> None:
    users = tmp_path / "users.json"
    add_user(users, "alice", "operator")
    with RigBench(tmp_path / "bench", mosquitto.url) as bench:
        bench.start_rig()
        base = bench.start_console(users, extra=["--silent-after", str(SILENT_AFTER_S)])
        b = await logged_in(base)
        await until(b, "rig online with states", 60.0,
                    lambda s: s["online"] and s["state_age_s"] is not None
                    and s["state_age_s"] < 1.0)
        assert offline_alarm(await get(b, f"/api/rigs/{RIG}")) is None

        pid = controller(bench).proc.pid
        os.kill(pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            alarm = await until(b, "rig:offline after SIGSTOP", 15.0,
                                lambda s: (a := offline_alarm(s)) and a["state"] == "active"
                                and a)
            took = time.monotonic() - stopped
            assert SILENT_AFTER_S - 0.5 <= took <= SILENT_AFTER_S + 6.0, took
            assert "silent for" in alarm["text"] or "offline unexpectedly" in alarm["text"]
            assert alarm["severity"] == "alarm"
        finally:
            os.kill(pid, signal.SIGCONT)
        cleared = await until(b, "rig:offline cleared after SIGCONT", 60.0,
                              lambda s: (a := offline_alarm(s)) and a["state"] == "cleared"
                              and a)
        assert cleared["id"] == alarm["id"]

        os.kill(pid, signal.SIGKILL)
        again = await until(b, "rig:offline after SIGKILL", 10.0,
                            lambda s: (a := offline_alarm(s)) and a["state"] == "active" and a)
        assert "offline unexpectedly" in again["text"], again["text"]
        assert again["count"] == 2  # a new occurrence of the same alarm
        snap = await get(b, f"/api/rigs/{RIG}")
        assert snap["online"] is False and snap["shutdown"] is False


async def test_broker_loss_and_a_clean_shutdown_raise_no_offline_alarm(mosquitto,
                                                                        tmp_path) -> None:
    users = tmp_path / "users.json"
    add_user(users, "alice", "operator")
    with RigBench(tmp_path / "bench", mosquitto.url) as bench:
        bench.start_rig()
        base = bench.start_console(users, extra=["--silent-after", str(SILENT_AFTER_S)])
        b = await logged_in(base)
        await until(b, "rig online with states", 60.0,
                    lambda s: s["online"] and s["state_age_s"] is not None
                    and s["state_age_s"] < 1.0)

        mosquitto.stop()
        deadline = time.monotonic() + 15.0
        while (await get(b, "/api/fleet"))["link"]["up"]:
            assert time.monotonic() < deadline, "the console never saw its link go down"
            await asyncio.sleep(0.1)
        quiet_until = time.monotonic() + 2 * SILENT_AFTER_S
        while time.monotonic() < quiet_until:  # twice the silence limit, link down
            assert offline_alarm(await get(b, f"/api/rigs/{RIG}")) is None
            await asyncio.sleep(0.3)
        mosquitto.start()
        await until(b, "rig speaking again after the broker came back", 60.0,
                    lambda s: s["online"] and s["state_age_s"] is not None
                    and s["state_age_s"] < 1.0)
        assert offline_alarm(await get(b, f"/api/rigs/{RIG}")) is None

        proc = controller(bench)
        assert proc.stop(20.0) == 0  # SIGTERM: the controller says goodbye itself
        await until(b, "rig offline after its clean shutdown", 15.0,
                    lambda s: s["online"] is False)
        assert (await get(b, f"/api/rigs/{RIG}"))["shutdown"] is True
        quiet_until = time.monotonic() + 2 * SILENT_AFTER_S
        while time.monotonic() < quiet_until:
            assert offline_alarm(await get(b, f"/api/rigs/{RIG}")) is None
            await asyncio.sleep(0.3)
