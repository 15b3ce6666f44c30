"""Issue 24 in a real browser: what the operator sees when things go wrong.

Mosquitto, the simulated rig, ``rig-control run`` (signing its downlink with the
rover key) and ``rig-ground serve --rig-key rig-1=<rover.pub>``, driven through
Debian's headless Chromium:

* the fleet table keeps its rows: a rig link clicked between two fleet pushes
  is never swallowed (defect 9);
* the controller is frozen with SIGSTOP: within 2 s every value and plot greys
  out and a banner says no data is arriving;
* a forger on the broker answers each command with a fake "rejected" ack and
  invents a rig: the page shows the rover's signed ack, the forged one as
  UNVERIFIED in the history, and the invented rig as UNVERIFIED;
* the command history fits a 1400 px window (defect 10) and plot axis labels
  never repeat on a small range; arm asks for a confirmation (dismissed: not sent);
* E-STOP shows a banner on the rig's pages until it is reset;
* logging out (from another tab) closes the open page's WebSocket at once.
Screenshots: ``$RIG_SHOTS_DIR`` or the test's tmp_path.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By

from telemetry.contract.command_wire import decode_body, decode_envelope
from telemetry.contract.payloads import AckMessage, Envelope, StateMessage, encode
from telemetry.contract.rig_state import RigState
from telemetry.mqtt.adapter import MqttSettings, connect

from .stack import RIG, RigBench
from .test_console_browser import add_user, login, send, text, until

pytestmark = pytest.mark.broker


class Forger:
    """An anonymous broker client in a thread: fake acks for every command, a fake rig."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ready = threading.Event()
        self.forged: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_until_complete,
                                        args=(self._run(),), daemon=True, name="forger")
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        self._task = asyncio.current_task()
        try:
            async with connect(MqttSettings.from_url(self.url, protocol="5")) as evil:
                await evil.subscribe(f"regolith/{RIG}/cmd", qos=1)
                self.ready.set()
                seq = 10_000
                async for m in evil.messages():
                    cid = decode_body(decode_envelope(m.payload).body).command_id
                    seq += 1
                    env = Envelope(RIG, 1, seq, time.time(), 0.0)
                    await evil.publish(f"regolith/{RIG}/ack", encode(AckMessage(
                        env, cid, False, "forged: interlock active")), qos=1)
                    self.forged.append(cid)
                    await evil.publish("regolith/rig-evil/state", encode(StateMessage(
                        Envelope("rig-evil", 1, seq, time.time(), 0.0), RigState(mode="digging"))),
                        qos=1)
        except asyncio.CancelledError:
            pass

    def __enter__(self) -> Forger:
        self._thread.start()
        assert self.ready.wait(15), "forger not subscribed"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)


def fleet_links_survive_repaints(driver, base: str) -> None:
    row = f'#fleet-table tr[data-rig="{RIG}"]'
    until(driver, lambda d: "online" in text(d, row).lower(), 60, f"{RIG} online")
    link = driver.find_element(By.CSS_SELECTOR, f"{row} a")
    time.sleep(2.5)  # two fleet pushes (1 Hz) later, the same element is still the link
    try:
        assert link.get_attribute("href").endswith(f"/rigs/{RIG}")
    except StaleElementReferenceException:
        pytest.fail("the fleet table replaced its rig link between two pushes (defect 9)")
    for _ in range(3):
        driver.get(base + "/")
        until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"{row} a"), 10, "the row")
        time.sleep(1.1)  # at least one repaint between finding the link and clicking it
        driver.find_element(By.CSS_SELECTOR, f"{row} a").click()
        until(driver, lambda d: d.current_url.endswith(f"/rigs/{RIG}"), 5, "the click landed")


def stale_when_frozen(driver, base: str, bench: RigBench, shot) -> None:
    driver.get(f"{base}/rigs/{RIG}")
    until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".plotcard canvas")) >= 8, 60,
          "8 live plots")
    until(driver, lambda d: not d.find_elements(By.ID, "stale-banner"), 20, "fresh data")
    control = next(p for p in bench.procs if p.name == "rig-control")
    os.kill(control.proc.pid, signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        until(driver, lambda d: d.find_elements(By.ID, "stale-banner") and "stale" in
              (d.find_element(By.TAG_NAME, "body").get_attribute("class") or ""), 10,
              "the stale banner")
        took = time.monotonic() - frozen
        assert "NO DATA" in text(driver, "#stale-banner"), text(driver, "#stale-banner")
        assert text(driver, "#rig-badges .badge.stale") == "STALE"
        shot("rig-stale-after-sigstop")
    finally:
        os.kill(control.proc.pid, signal.SIGCONT)
    assert took < 2.0, f"stale shown {took:.2f} s after the controller froze"
    until(driver, lambda d: not d.find_elements(By.ID, "stale-banner"), 30, "fresh again")


def forged_ack_shown_unverified(driver, base: str, shot) -> None:
    driver.set_window_size(1400, 1000)
    driver.get(f"{base}/rigs/{RIG}/commands")
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#cmd-buttons [data-command="stop"]'),
          10, "the stop button")
    # arm asks first; dismissed, nothing is sent
    driver.find_element(By.CSS_SELECTOR, '#cmd-buttons [data-command="arm"]').click()
    alert = until(driver, lambda d: d.switch_to.alert, 5, "the arm confirmation")
    assert "Arm the rig?" in alert.text, alert.text
    alert.dismiss()
    until(driver, lambda d: "not sent (cancelled)" in text(d, "#cmd-result"), 5, "cancelled")
    ack = send(driver, "stop")
    assert "accepted" in ack and "forged" not in ack, ack  # the rover's ack, not the forger's
    assert "arm" not in text(driver, "#history-table tbody")
    forged = until(driver, lambda d: text(d, "#history-table .forged"), 10,
                   "the forged ack in the history")
    assert "UNVERIFIED ack ignored" in forged and "forged: interlock" in forged, forged
    # defect 10: the history fits the window, latency column included
    fits = driver.execute_script("""
        const t = document.getElementById('history-table');
        const lat = t.querySelector('thead th:last-child').getBoundingClientRect();
        return [t.scrollWidth <= t.parentElement.clientWidth + 1,
                lat.right <= window.innerWidth, lat.width > 20];""")
    assert fits == [True, True, True], fits
    labels = driver.execute_script("return RC.axisLabels([0.0841, 0.0842, 0.0843, 0.0844]);")
    assert len(set(labels)) == 4, labels
    shot("commands-forged-ack-unverified")
    driver.get(base + "/")
    until(driver, lambda d: "UNVERIFIED" in text(d, '#fleet-table tr[data-rig="rig-evil"]'), 15,
          "the invented rig shown UNVERIFIED")
    real = text(driver, f'#fleet-table tr[data-rig="{RIG}"]')
    assert "1 forged dropped" in real.lower() and "UNVERIFIED" not in real, real
    shot("fleet-invented-rig-unverified")


def estop_banner(driver, base: str, shot) -> None:
    driver.get(f"{base}/rigs/{RIG}/commands")
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, '#cmd-buttons [data-command="estop"]'),
          10, "the E-STOP button")
    assert "accepted" in send(driver, "estop")
    until(driver, lambda d: "E-STOP ACTIVE" in text(d, "#safety-banner"), 10, "the E-STOP banner")
    shot("commands-estop-banner")
    send(driver, "reset_estop")
    until(driver, lambda d: not d.find_elements(By.ID, "safety-banner"), 20, "E-STOP left")


def logout_closes_the_open_websocket(driver, base: str) -> None:
    driver.get(f"{base}/rigs/{RIG}")
    until(driver, lambda d: d.execute_script("return RC.stats.connected"), 10, "socket open")
    # log out from "another tab": the same cookie, a form post the page knows nothing of
    driver.execute_script("""
        const f = new FormData(); f.append('csrf', RC.csrf);
        window.loggedOutAt = performance.now();
        fetch('/logout', {method: 'POST', body: new URLSearchParams(f)});""")
    t0 = time.monotonic()
    until(driver, lambda d: d.current_url.endswith("/login"), 5, "back at the login")
    assert time.monotonic() - t0 < 2.5


def test_operator_truth_in_a_real_browser(mosquitto, tmp_path, browser, screenshot) -> None:
    users = tmp_path / "users.json"
    add_user(users, "alice", "operator")
    with RigBench(tmp_path / "bench", mosquitto.url) as bench:
        bench.start_rig()
        base = bench.start_console(
            users, global_extra=["--rig-key", f"{RIG}={bench.rover_pub}"]).rstrip("/")
        login(browser, base, "alice")
        fleet_links_survive_repaints(browser, base)
        stale_when_frozen(browser, base, bench, screenshot)
        with Forger(mosquitto.url) as forger:
            forged_ack_shown_unverified(browser, base, screenshot)
        assert forger.forged, "the forger answered nothing"
        estop_banner(browser, base, screenshot)
        logout_closes_the_open_websocket(browser, base)
