"""``rig-control install-service`` (control/install_service.py) into a scratch root.

What it writes must work as written: the default configuration loads and builds the
command security (signed commands on, with the rover key it generated), the mission
loads, the unit passes ``systemd-analyze verify``, an operator's edits survive a
second run, and ``--dry-run`` touches nothing. The unit shipped in ``deploy/`` is this
command's output for the default paths.
"""

from __future__ import annotations

import argparse
import io
import stat
from pathlib import Path

import pytest

from control import install_service
from control.cli import _parser
from control.core.config import load_config
from control.core.mission import load_mission
from control.runtime.security_setup import build_security
from tests.deploy.test_systemd_unit import UNIT, diagnostics, verify

OPT_SCRIPT = Path("/opt/regolith-rig/venv/bin/rig-control")


def args_for(root: Path, *extra: str) -> argparse.Namespace:
    script = root.parent / "venv/bin/rig-control"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return _parser().parse_args(["install-service", "--root", str(root), "--exec",
                                 str(script), "--user", "nobody-here", *extra])


def run(args: argparse.Namespace) -> tuple[int, str]:
    out = io.StringIO()
    return install_service.main(args, out), out.getvalue()


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def test_dry_run_lists_every_path_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    code, out = run(args_for(root, "--dry-run"))
    assert code == 0
    assert files_under(root) == []
    for path in ("etc/regolith-rig/control.toml", "etc/regolith-rig/mission.toml",
                 "etc/regolith-rig/rig-control.env", "etc/regolith-rig/keys/rig-1.key",
                 "var/lib/regolith-rig", "etc/systemd/system/rig-control.service"):
        assert f"would mkdir {root / path}" in out or f"would write {root / path}" in out \
            or f"would keygen {root / path}" in out, (path, out)
    assert "ExecStart=" in out  # the unit is shown


def test_install_writes_a_configuration_that_loads_and_a_unit_that_verifies(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    code, out = run(args_for(root, "--rig-id", "rig-7", "--broker", "mqtt://gs:1883"))
    assert code == 0, out
    etc, state = root / "etc/regolith-rig", root / "var/lib/regolith-rig"
    assert state.is_dir() and stat.S_IMODE(state.stat().st_mode) == 0o750
    assert stat.S_IMODE((etc / "rig-control.env").stat().st_mode) == 0o600
    assert stat.S_IMODE((etc / "keys/rig-7.key").stat().st_mode) == 0o600
    assert "RIG_BROKER=mqtt://gs:1883" in (etc / "rig-control.env").read_text()
    # the configuration names paths of the running system: read it with them re-rooted
    text = (etc / "control.toml").read_text()
    assert 'outbox_path = "/var/lib/regolith-rig/outbox.db"' in text
    assert 'state_path = "/var/lib/regolith-rig/mission.db"' in text
    rerooted = etc / "rerooted.toml"
    rerooted.write_text(text.replace('"/', f'"{root}/'))
    cfg = load_config(rerooted)
    assert cfg.ground.rig_id == "rig-7"
    security = build_security(cfg)
    try:
        assert security.authenticator is not None and security.ledger is not None
    finally:
        security.close()
    assert load_mission(etc / "mission.toml").sites
    unit = (root / "etc/systemd/system/rig-control.service").read_text()
    assert f"ExecStart={root.parent / 'venv/bin/rig-control'} run" in unit
    assert "User=nobody-here" in unit and "EnvironmentFile=/etc/regolith-rig/rig-control.env" \
        in unit
    result = verify(unit, tmp_path / "verify")
    assert result.returncode == 0 and diagnostics(result) == [], result.stderr


def test_a_second_run_keeps_edits_and_rewrites_the_unit(tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert run(args_for(root))[0] == 0
    config = root / "etc/regolith-rig/control.toml"
    key = root / "etc/regolith-rig/keys/rig-1.key"
    config.write_text("# edited\n")
    key_before = key.read_text()
    unit = root / "etc/systemd/system/rig-control.service"
    unit.write_text("stale\n")
    code, out = run(args_for(root, "--user", "rig2"))
    assert code == 0
    assert config.read_text() == "# edited\n" and key.read_text() == key_before
    assert "keep (exists)" in out
    assert "User=rig2" in unit.read_text()


def test_relative_paths_and_a_missing_script_are_refused(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    root = tmp_path / "root"
    assert run(args_for(root, "--state-dir", "var/lib/rig"))[0] == 2
    assert "--state-dir: expected an absolute path, got var/lib/rig" in capsys.readouterr().err
    args = args_for(root)
    args.exec_path = tmp_path / "nowhere/rig-control"
    assert run(args)[0] == 2
    assert "expected the path of an installed rig-control" in capsys.readouterr().err
    assert files_under(root) == []


def test_the_unit_in_deploy_is_the_commands_output_for_the_default_paths() -> None:
    rendered = install_service.render_unit(install_service.ServicePlan(exec_path=OPT_SCRIPT))
    assert UNIT.read_text() == rendered
