"""The alarm and event log page in headless Chromium, against ``rig-ground serve`` and a
real Mosquitto (the rover's messages published to it as a rig would).

An operator acknowledges an interlock alarm on the alarms page, the rover clears
it, and it leaves the alarms page; the log page still lists it, cleared, with who
acknowledged it, and its state filter hides it. Screenshots: ``$RIG_SHOTS_DIR``
or the test's tmp_path.
"""

from __future__ import annotations

import asyncio

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from .stack import RigBench
from .test_console_browser import add_user, login, text, until
from .test_event_log import _publish
from .test_fleet_watch import Rig

pytestmark = pytest.mark.broker


def rows(driver, kind: str) -> list:
    return driver.find_elements(By.CSS_SELECTOR, f'#log-table tbody tr[data-kind="{kind}"]')


def test_a_cleared_acknowledged_alarm_stays_on_the_log_page(mosquitto, tmp_path, browser,
                                                           screenshot) -> None:
    users = tmp_path / "users.json"
    add_user(users, "alice", "operator")
    r = Rig()
    with RigBench(tmp_path / "bench", mosquitto.url) as bench:
        base = bench.start_console(users).rstrip("/")
        login(browser, base, "alice")
        asyncio.run(_publish(mosquitto.url, [
            r.status(True),
            r.event(1.0, "interlock_tripped", "alarm", "tilt 16.2 deg > 15 deg", name="tilt"),
            r.event(2.0, "mission_started", "info", "mission m-1 begins"),
            r.event(3.0, "obstacle_reported", "critical", "obstacle 0.4 m ahead")]))
        browser.get(base + "/alarms")
        card = '#alarm-list [data-cause="interlock:tilt"]'
        until(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f"{card} button.ack"), 15,
              "the tilt alarm with its Acknowledge button")
        browser.find_element(By.CSS_SELECTOR, f"{card} button.ack").click()
        until(browser, lambda d: "acknowledged by alice" in text(d, card), 10, "acknowledged")
        asyncio.run(_publish(mosquitto.url, [r.event(
            4.0, "interlock_cleared", "info", "tilt back within limits", name="tilt")]))
        until(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, card), 10,
              "the cleared, acknowledged alarm gone from the alarms page")

        browser.get(base + "/log")
        until(browser, lambda d: rows(d, "interlock:tilt"), 10, "the alarm on the log page")
        row = rows(browser, "interlock:tilt")[0]
        assert row.get_attribute("data-state") == "cleared"
        assert "alice at 20" in row.text and "cleared 20" in row.text, row.text
        assert rows(browser, "mission_started") and rows(browser, "interlock_cleared")
        screenshot("log-page")

        Select(browser.find_element(By.NAME, "state")).select_by_value("active")
        until(browser, lambda d: not rows(d, "interlock:tilt"), 10, "the state filter hides it")
        assert "state=active" in browser.current_url  # the filter is in the address
        assert "0 shown of 0 matching" in text(browser, "#log-summary")
        Select(browser.find_element(By.NAME, "state")).select_by_value("acked")
        until(browser, lambda d: rows(d, "interlock:tilt"), 10, "listed again under acked")
        assert not rows(browser, "mission_started")  # events have no alarm state
        browser.find_element(By.CSS_SELECTOR, "#log-filters button[type=reset]").click()
        browser.find_element(By.NAME, "q").send_keys("obstacle")
        until(browser, lambda d: rows(d, "obstacle_reported") and not rows(d, "interlock:tilt"),
              10, "the text filter")
        screenshot("log-page-filtered")
