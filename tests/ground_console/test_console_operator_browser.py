"""What an operator misses (issue 24), in a real browser against a running rig:

* set_param offers the rover's own parameters with unit, range and current value, defaults
  to one the active strategy reads, refuses an out-of-range value before sending it (naming
  the range) and shows the new value once the rover took it;
* the commands page shows the rig's key values live, greyed when the controller freezes;
* a second station (``rig-ground send`` with key ``ops-2``) commanding the rig is listed
  with its key, command, time and result;
* the map shows the mission's dump site, labelled;
* a replay carries an unmistakable REPLAY banner, watermark and page colour, and its seek
  bar restarts the stream at the chosen time.

Screenshots are saved (``$RIG_SHOTS_DIR`` or tmp_path).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from selenium.webdriver.common.by import By

from .stack import RIG, RigBench
from .test_console_browser import add_user, login, text, until

pytestmark = pytest.mark.broker


def js(driver, script: str, *args):
    return driver.execute_script(script, *args)


def choose_param(driver, name: str) -> None:
    js(driver, """const s = document.getElementById('param-name'); s.value = arguments[0];
                  s.dispatchEvent(new Event('change'));""", name)


def submit_param(driver, value: str) -> None:
    box = driver.find_element(By.ID, "param-value")
    box.clear()
    box.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#param-form button[type=submit]").click()


def params(driver, base: str, shot) -> None:
    driver.get(f"{base}/rigs/{RIG}/commands")
    until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#param-name option")) == 5
          and "now " in text(d, "#param-info") and "not reported" not in text(d, "#param-info"),
          30, "the rig's parameter table with current values")
    # the default is a parameter the default strategy (power_limited) reads
    assert js(driver, "return document.getElementById('param-name').value") == "dig_speed_rad_s"
    info = text(driver, "#param-info")
    assert "range 1 to 12 rad/s" in info and "now 6 rad/s" in info, info
    choose_param(driver, "current_target_a")
    info = text(driver, "#param-info")
    assert "range 5 to 30 A" in info and "not used by the active strategy (power_limited)" \
        in info, info
    choose_param(driver, "max_depth_m")
    assert "range 0.01 to 0.15 m" in text(driver, "#param-info")
    submit_param(driver, "0.2")
    result = driver.find_element(By.ID, "cmd-result")
    assert result.get_attribute("data-status") == "refused", result.text
    assert "outside its range 0.01 to 0.15 m; not sent" in result.text, result.text
    shot("set-param-refused")
    submit_param(driver, "0.08")
    until(driver, lambda d: d.find_element(By.ID, "cmd-result").get_attribute("data-status")
          == "accepted", 15, "set_param accepted")
    until(driver, lambda d: "now 0.08 m" in text(d, "#param-info"), 10, "the new value shown")
    # the rig's key values, live
    until(driver, lambda d: text(d, '#live-table tr[data-key="mode"]')
          and " V" in text(d, '#live-table tr[data-key="battery_v"]'), 10, "key values")
    until(driver, lambda d: text(d, '#live-table tr[data-key="interlocks"]')
          .startswith("interlocks"), 5, "the interlocks row")
    until(driver, lambda d: text(d, '#live-table tr[data-key="arm_position"]')
          .startswith("arm position"), 10, "the arm position (a fast channel)")
    shot("commands-params")


def second_station(driver, bench: RigBench, shot) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "telemetry.ground.cli", "--broker", bench.broker_url, "--rig", RIG,
         "send", "status", "--key", str(bench.second_key), "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    row = '#others-table tr[data-key-id="ops-2"]'
    # (the badge's text is upper-cased by its style)
    line = until(driver, lambda d: "accepted" in text(d, row).lower() and text(d, row), 15,
                 "ops-2's command listed")
    assert "status" in line and "(another station)" in line and "Z" in line, line
    # this user's own commands are in the history, not in the "who else" list
    assert not driver.find_elements(By.CSS_SELECTOR, '#others-table tr[data-key-id="ops-1"]')
    shot("commands-other-station")


def stale_commands_page(driver, bench: RigBench, shot) -> None:
    control = next(p for p in bench.procs if p.name == "rig-control")
    os.kill(control.proc.pid, signal.SIGSTOP)
    try:
        until(driver, lambda d: "stale" in (d.find_element(By.TAG_NAME, "body")
                                            .get_attribute("class") or ""), 10, "stale page")
        opacity = js(driver, "return getComputedStyle(document.getElementById('live-table'))"
                             ".opacity")
        assert float(opacity) < 1.0, opacity
        shot("commands-stale")
    finally:
        os.kill(control.proc.pid, signal.SIGCONT)


def dump_on_map(driver, base: str, shot) -> None:
    driver.get(f"{base}/rigs/{RIG}/map")
    until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#site-map [data-dump]"), 15,
          "the dump site on the map")
    # read in one script: the map is redrawn with every snapshot (an element found now
    # may be gone by the next call)
    where = js(driver, "const m = document.querySelector('#site-map [data-dump]');"
                       "return m && m.getAttribute('data-dump');")
    assert where == "0,0", where  # the bench mission's [dump]
    assert "dump site" in js(driver, "return document.getElementById('site-map').textContent")
    # (the info table is rebuilt with every snapshot too: read until a whole read)
    until(driver, lambda d: text(d, "#map-dump") == "0.000, 0.000 m", 5, "the dump site listed")
    # counted in one script, until both are drawn (a redraw replaces the map's elements)
    until(driver, lambda d: js(d, "return document.querySelectorAll("
                                  "'#site-map [data-site]').length") == 2, 30,
          "both dig sites on the map")
    shot("map-dump-site")


def replay_marker_and_seek(driver, base: str, shot) -> None:
    driver.get(f"{base}/replay")
    until(driver, lambda d: "run.db" in text(d, "#replay-file"), 10, "the recording listed")
    banner = driver.find_element(By.ID, "replay-banner")
    assert banner.is_displayed() and banner.text.startswith("REPLAY"), banner.text
    assert js(driver, "return getComputedStyle(document.body, '::after').content") == '"REPLAY"'
    assert js(driver, "return getComputedStyle(document.body).backgroundColor") == \
        "rgb(30, 23, 16)"
    driver.find_element(By.CSS_SELECTOR, '#replay-speed option[value="1"]').click()
    driver.find_element(By.ID, "replay-play").click()
    until(driver, lambda d: int(d.find_element(By.ID, "replay-status").get_attribute(
        "data-played") or 0) > 20 and not d.find_element(By.ID, "replay-seek")
        .get_attribute("disabled"), 30, "the replay playing")
    span = float(driver.find_element(By.ID, "replay-seek").get_attribute("max"))
    assert span > 4, span
    target = round(span * 0.75, 1)
    js(driver, """const b = document.getElementById('replay-seek'); b.value = arguments[0];
                  b.dispatchEvent(new Event('change'));""", target)
    until(driver, lambda d: d.find_element(By.ID, "replay-seek").get_attribute("data-seeks")
          == "1", 10, "the seek acknowledged")
    bar = driver.find_element(By.ID, "replay-seek")
    assert float(bar.get_attribute("value")) >= target - 0.5, bar.get_attribute("value")
    until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".plotcard canvas")) >= 1, 20,
          "plots after the seek")
    assert "REPLAY" in text(driver, "#replay-banner") and "run.db" in text(driver,
                                                                            "#replay-banner")
    shot("replay-seek")


def test_what_an_operator_misses_in_a_real_browser(mosquitto, tmp_path, browser,
                                                   screenshot) -> None:
    users, recordings = tmp_path / "users.json", tmp_path / "recs"
    recordings.mkdir()
    add_user(users, "alice", "operator")
    with RigBench(tmp_path / "bench", mosquitto.url, target_kg=5.0) as bench:
        base = bench.start_console(users, recordings=recordings).rstrip("/")
        recorder = bench.start_recorder(recordings / "run.db")
        bench.start_rig()
        login(browser, base, "alice")
        params(browser, base, screenshot)
        second_station(browser, bench, screenshot)
        stale_commands_page(browser, bench, screenshot)
        dump_on_map(browser, base, screenshot)
        time.sleep(2.0)  # a few more seconds of recording for the seek bar to jump within
        assert recorder.stop() == 0
        replay_marker_and_seek(browser, base, screenshot)
        audit = [json.loads(line) for line in (bench.dir / "audit.jsonl").read_text().splitlines()]
        exit_codes = bench.stop()
    assert exit_codes["console"] == 0
    sent = [(a["command"], a.get("args")) for a in audit if a["event"] == "command"]
    # the refused 0.2 never left the page: only the accepted value was sent
    assert sent == [("set_param", {"name": "max_depth_m", "value": 0.08})], sent
