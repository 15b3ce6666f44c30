import json

import pytest

from control.core.command_timing import check_timing
from control.core.commands import CommandContext, CommandName, check_command
from control.core.config import describe_keys, load_config
from control.core.errors import ConfigError
from control.core.mission import load_mission, mission_from_dict
from control.core.policy import Rejection
from control.core.supervisor import Mode
from control.runtime.sd_notify import SdNotifier
from control.security.command_intake import decode_command


def parse(raw, **kwargs):
    """The decoded command (the test fails on a rejection)."""
    result = decode_command(raw, **kwargs)
    assert not isinstance(result, Rejection), result
    return result


def test_defaults_load_and_every_key_is_documented():
    cfg = load_config()
    assert cfg.loop.rate_hz == 100.0
    assert all(doc for _, _, doc in describe_keys())


@pytest.mark.parametrize(("data", "key"), [
    ("[strategy]\nkp_m_per_a = 'fast'\n", "strategy.kp_m_per_a"),
    ("[loop]\nrate_hz = 2000\n", "loop.rate_hz"),
    ("[interlocks]\ntilt_stop_deg = 30\n", "interlocks.tilt_estop_deg"),
    ("[strategy]\nmax_depht_m = 0.1\n", "strategy.max_depht_m"),
    ("[nope]\n", "nope"),
    ("[ground]\nlink_required = 1\n", "ground.link_required"),
    ("[loop\n", "<file>"),
])
def test_invalid_config_names_the_key(tmp_path, data, key):
    f = tmp_path / "c.toml"
    f.write_text(data)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    assert info.value.key == key
    assert key in str(info.value)


def test_mission_file(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text('name = "x"\n[dump]\nx = 1\ny = 2\n[[site]]\nname = "A"\nx = 3\ny = 0\n'
                 'target_kg = 40\n')
    plan = load_mission(f)
    assert plan.sites[0].target_kg == 40.0 and (plan.dump_x, plan.dump_y) == (1.0, 2.0)
    with pytest.raises(ConfigError) as info:
        mission_from_dict({"site": [{"x": 1, "y": 2, "target_kg": -1}]})
    assert info.value.key == "site[0].target_kg"


def payload(**kw) -> bytes:
    base = {"id": "c1", "command": "arm", "issued_at": 100.0, "expires_at": 105.0}
    base.update(kw)
    return json.dumps({k: v for k, v in base.items() if v is not None}).encode()


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"not json", "not JSON"),
    (b"[1]", "JSON object"),
    (payload(id=None), "'id'"),
    (payload(command="fly"), "unknown command"),
    (payload(expires_at=None), "no expiry"),
    (payload(expires_at="soon"), "finite number"),
    (payload(args=[1]), "'args'"),
    (b"{" + b" " * 5000 + b"}", "bytes"),
])
def test_malformed_commands_are_refused_with_reason(raw, fragment):
    result = decode_command(raw)
    assert isinstance(result, Rejection)
    assert fragment in result.detail


def test_timing_rules():
    cmd = parse(payload())
    assert check_timing(cmd, 101.0, 5.0, 60.0) is None
    assert "expired" in check_timing(cmd, 105.5, 5.0, 60.0)
    future = parse(payload(issued_at=200.0, expires_at=201.0))
    assert "future" in check_timing(future, 100.0, 5.0, 600.0)
    assert parse(payload(expires_at=None, ttl_s=2.0)).expires_at == 102.0


@pytest.mark.parametrize(("name", "view", "ok"), [
    ("arm", CommandContext(Mode.IDLE), True),
    ("arm", CommandContext(Mode.IDLE, causes=("tilt 20 deg > 15 deg",)), False),
    ("arm", CommandContext(Mode.DIGGING), False),
    ("start", CommandContext(Mode.ARMED), True),
    ("start", CommandContext(Mode.IDLE), False),
    ("stop", CommandContext(Mode.DIGGING), True),
    ("estop", CommandContext(Mode.DISCONNECTED), True),
    ("dump", CommandContext(Mode.DIGGING, cut_depth=0.05), False),
    ("dump", CommandContext(Mode.ARMED), True),
    ("reset_estop", CommandContext(Mode.ESTOP), True),
    ("reset_estop", CommandContext(Mode.ESTOP, immediate_causes=("tilt",)), False),
    ("reset_estop", CommandContext(Mode.IDLE), False),
    ("clear_fault", CommandContext(Mode.FAULT, causes=("hot",)), False),
])
def test_state_rules(name, view, ok):
    cmd = parse(payload(command=name))
    assert (check_command(cmd, view) is None) is ok
    assert CommandName(name) is cmd.name


def test_sd_notify_datagrams(tmp_path):
    import socket

    path = str(tmp_path / "notify")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    n = SdNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    assert n.watchdog_interval == 1.0
    assert n.ready("up") and n.watchdog()
    assert srv.recv(100) == b"READY=1\nSTATUS=up"
    assert srv.recv(100) == b"WATCHDOG=1"
    n.close()
    srv.close()
    assert not SdNotifier({}).ready()
