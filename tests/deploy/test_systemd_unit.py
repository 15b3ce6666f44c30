"""deploy/rig-control.service passes ``systemd-analyze verify``.

The unit is verified as installed: in a scratch root (``--root``) holding the
unit in /etc/systemd/system, the host's unit library (the targets it orders
after) and an executable where ExecStart expects ``rig-control``. systemd-analyze
exits 0 even for unknown keys or unparsable values, so any diagnostic about our
unit fails the test too. A missing systemd-analyze FAILS the test: run
``scripts/ensure-systemd-analyze.sh`` (``make test`` does).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "rig-control.service"
UNIT_LIBRARY = Path("/usr/lib/systemd/system")


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.fail("systemd-analyze was not found: run scripts/ensure-systemd-analyze.sh "
                    "(Debian package 'systemd')", pytrace=False)
    return found


def exec_start(unit_text: str) -> str:
    joined = unit_text.replace("\\\n", " ")
    line = next(ln for ln in joined.splitlines() if ln.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))[0]


def verify(unit_text: str, root: Path) -> subprocess.CompletedProcess[str]:
    binary = systemd_analyze()
    assert UNIT_LIBRARY.is_dir(), f"{UNIT_LIBRARY} missing: the systemd package is incomplete"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "etc/systemd/system" / UNIT.name).write_text(unit_text)
    shutil.copytree(UNIT_LIBRARY, root / UNIT_LIBRARY.relative_to("/"), symlinks=True)
    program = root / exec_start(unit_text).lstrip("/")
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return subprocess.run([binary, "verify", f"--root={root}", UNIT.name],
                          capture_output=True, text=True, timeout=60)


def diagnostics(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines()
            if UNIT.name in line or "rig-control" in line]


def test_the_shipped_unit_verifies_cleanly(tmp_path: Path) -> None:
    result = verify(UNIT.read_text(), tmp_path)
    assert result.returncode == 0, result.stderr
    assert diagnostics(result) == []


def test_the_check_catches_a_broken_unit(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("WatchdogSec=2s", "WatchdogSec=two seconds\nWatchDog=1")
    result = verify(broken, tmp_path)
    found = diagnostics(result)
    assert any("WatchdogSec" in line or "sec value" in line for line in found), found
    assert any("WatchDog" in line for line in found), found


def test_the_unit_is_a_notify_service_with_a_watchdog() -> None:
    """What the controller's sd_notify code relies on (control/runtime/sd_notify.py)."""
    keys = dict(line.split("=", 1) for line in UNIT.read_text().replace("\\\n", " ").splitlines()
                if "=" in line and not line.startswith("#"))
    assert keys["Type"] == "notify" and keys["NotifyAccess"] == "main"
    assert keys["WatchdogSec"] == "2s" and keys["KillSignal"] == "SIGTERM"
