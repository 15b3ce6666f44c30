"""Fixtures for the console tests: Debian's headless Chromium driven by Selenium, screenshots.

The browser is ``/usr/bin/chromium`` through ``/usr/bin/chromedriver`` (override with
``$RIG_CHROMIUM`` / ``$RIG_CHROMEDRIVER``), both from Debian's packages
(``scripts/ensure-chromium.sh``, run by ``make test``): nothing is downloaded at run
time, and a missing browser FAILS the test. Screenshots go to ``$RIG_SHOTS_DIR`` when
set (kept as artifacts), else to the test's tmp_path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("RIG_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("RIG_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--window-size=1440,1000")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            pytest.fail(f"{path} is missing: the browser test needs Debian's chromium and "
                        "chromium-driver (run scripts/ensure-chromium.sh as root, or set "
                        "$RIG_CHROMIUM / $RIG_CHROMEDRIVER)", pytrace=False)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(tmp_path: Path, browser: object) -> Callable[[str], Path]:
    """``screenshot(name)`` saves the browser's view as ``NN-name.png`` and returns the path."""
    target = Path(os.environ.get("RIG_SHOTS_DIR") or tmp_path / "shots")
    target.mkdir(parents=True, exist_ok=True)
    count = [0]

    def take(name: str) -> Path:
        count[0] += 1
        path = target / f"{count[0]:02d}-{name}.png"
        assert browser.save_screenshot(str(path)), f"screenshot {path} not written"  # type: ignore[attr-defined]
        return path

    return take
