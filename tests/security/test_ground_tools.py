"""``rig-ground keygen``, the pieces of ``send`` that need no broker, and ``ledger verify``."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import pytest

from control.security import (
    AuthorizedCommand,
    DumpRecord,
    KeyFileError,
    Ledger,
    load_public_key,
    load_secret_key,
)
from telemetry.ground import cli
from telemetry.ground.send import build_command, next_counter, parse_args

from .helpers import NOW, OPS, TOPIC, make_auth

MY_TOOLS = ["telemetry.ground.keys", "telemetry.ground.send", "telemetry.ground.ledger_verify"]


@pytest.fixture
def rig_ground(monkeypatch: pytest.MonkeyPatch):
    """``cli.main``, checking the key, send and ledger subcommands are registered."""
    assert all(m in cli.SUBCOMMANDS for m in MY_TOOLS)
    return cli.main


def test_keygen_writes_a_private_key_and_prints_the_config(tmp_path: Path, rig_ground,
                                                           capsys) -> None:
    assert rig_ground(["keygen", "ops-7", "--dir", str(tmp_path), "--role", "observer"]) == 0
    out = capsys.readouterr().out
    secret = load_secret_key(tmp_path / "ops-7.key")
    key_id, public = load_public_key(tmp_path / "ops-7.pub")
    assert key_id == "ops-7" and bytes(public) == bytes(secret.signing_key.verify_key)
    assert stat.S_IMODE((tmp_path / "ops-7.key").stat().st_mode) == 0o600
    assert f'[security.keys.ops-7]\npublic_key = "{secret.public_key_hex}"\nrole = "observer"' \
        in out
    # never overwritten by accident
    assert rig_ground(["keygen", "ops-7", "--dir", str(tmp_path)]) == 2
    assert load_secret_key(tmp_path / "ops-7.key").public_key_hex == secret.public_key_hex
    assert rig_ground(["keygen", "bad id", "--dir", str(tmp_path)]) == 2


def test_key_files_are_checked(tmp_path: Path) -> None:
    (tmp_path / "x.key").write_text("{}")
    with pytest.raises(KeyFileError, match="expected type"):
        load_secret_key(tmp_path / "x.key")
    with pytest.raises(KeyFileError, match="cannot read"):
        load_secret_key(tmp_path / "missing.key")
    (tmp_path / "y.key").write_text('{"type": "regolith-rig-ed25519-secret", "key_id": "y", '
                                    '"seed": "00"}')
    with pytest.raises(KeyFileError, match="seed"):
        load_secret_key(tmp_path / "y.key")


def test_counter_is_monotonic_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "k.counter"
    a = next_counter(path, NOW)
    b = next_counter(path, NOW)  # same millisecond: still goes up
    c = next_counter(path, NOW - 3600)  # clock stepped back: still goes up
    assert a == int(NOW * 1000) and b == a + 1 and c == b + 1
    assert int(path.read_text()) == c
    path.write_text("garbage")
    with pytest.raises(KeyFileError, match="counter"):
        next_counter(path, NOW)


def test_arguments_are_json_or_strings() -> None:
    assert parse_args(["name=current_target_a", "value=16.5", "flag=true"]) == {
        "name": "current_target_a", "value": 16.5, "flag": True}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_args(["oops"])


def test_built_command_is_accepted_by_the_rover() -> None:
    cmd = build_command(OPS, TOPIC, "set_param", {"name": "max_depth_m", "value": 0.05},
                        now_wall=NOW, counter=9, ttl_s=20, command_id="ops-1-test")
    result = make_auth().verify(TOPIC, cmd.envelope, NOW + 1)
    assert isinstance(result, AuthorizedCommand) and result.command_id == "ops-1-test"
    assert result.args == {"name": "max_depth_m", "value": 0.05}


def test_send_needs_a_rig_and_a_key(rig_ground, capsys, monkeypatch) -> None:
    monkeypatch.delenv("RIG_GROUND_KEY", raising=False)
    assert rig_ground(["send", "status"]) == 2
    assert "--rig" in capsys.readouterr().err
    assert rig_ground(["--rig", "rig-1", "send", "status"]) == 2
    assert "--key" in capsys.readouterr().err


# --- ledger verify ----------------------------------------------------------------------

ROVER_KEY = OPS  # any key pair will do for the rover in these tests


def _ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.jsonl"
    with Ledger.open(path, ROVER_KEY.signing_key, "rig-1") as ledger:
        for i in range(4):
            ledger.append(DumpRecord(NOW + i, 3.0, 0.0, 20.0, 4000, i + 1, "A"))
    return path


def test_ledger_verify_ok_and_quota(tmp_path: Path, rig_ground, capsys) -> None:
    path = _ledger(tmp_path)
    key = ROVER_KEY.public_key_hex
    assert rig_ground(["ledger", "verify", str(path), "--rover-key", key]) == 0
    assert "4 intact entries" in capsys.readouterr().out
    plan = tmp_path / "rover.toml"
    plan.write_text('[site_plan]\nname = "p"\n[[site_plan.site]]\nname = "A"\nx = 3.0\n'
                    'y = 0.0\nquota_kg = 70.0\n')
    assert rig_ground(["ledger", "verify", str(path), "--rover-key", key,
                       "--site-plan", str(plan)]) == 1
    out = capsys.readouterr().out
    assert "QUOTA EXCEEDED: site 'A': 80.000 kg extracted, quota 70 kg" in out
    assert rig_ground(["ledger", "verify", str(path), "--rover-key", key,
                       "--quota", "A=80"]) == 0


def test_ledger_verify_reports_the_first_broken_entry(tmp_path: Path, rig_ground,
                                                      capsys) -> None:
    path = _ledger(tmp_path)
    lines = path.read_text().splitlines()
    obj = json.loads(lines[2])
    obj["mass_g"] = 2000
    lines[2] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")
    pub = tmp_path / "rover.pub"
    pub.write_text(json.dumps({"type": "regolith-rig-ed25519-public", "v": 1,
                               "key_id": "rover", "public_key": ROVER_KEY.public_key_hex}))
    assert rig_ground(["ledger", "verify", str(path), "--rover-key", str(pub), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["broken"] == {"line": 3, "index": 2, "reason": "hash does not match the "
                                "entry's content (entry altered)"}
    assert report["entries"] == 2


def test_ledger_verify_bad_usage(tmp_path: Path, rig_ground, capsys) -> None:
    path = _ledger(tmp_path)
    assert rig_ground(["ledger", "verify", str(path), "--rover-key", "nope"]) == 2
    assert rig_ground(["ledger", "verify", str(tmp_path / "none"), "--rover-key",
                       ROVER_KEY.public_key_hex]) == 2


def test_registration_is_argparse_compatible() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    import importlib
    for name in MY_TOOLS:
        importlib.import_module(name).register(sub)
    ns = parser.parse_args(["ledger", "verify", "f", "--rover-key", "k"])
    assert ns.needs_broker is False
