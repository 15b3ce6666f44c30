"""The [security] table: every invalid value names its key."""

from __future__ import annotations

from typing import Any

import pytest

from control.core.errors import ConfigError
from control.security import SecurityConfigError, security_config_from_dict

from .helpers import OBS, OPS, config_dict


def keys(**entries: Any) -> dict[str, Any]:
    return config_dict(keys=entries)


@pytest.mark.parametrize(("data", "key"), [
    (config_dict(colour=1), "security.colour"),
    (config_dict(max_age_s="long"), "security.max_age_s"),
    (config_dict(max_age_s=0), "security.max_age_s"),
    (config_dict(replay_window=0), "security.replay_window"),
    (config_dict(replay_window=True), "security.replay_window"),
    (config_dict(always_allowed=["estop", "launch"]), "security.always_allowed"),
    (config_dict(keys=[]), "security.keys"),
    (config_dict(replay_db=""), "security.replay_db"),
    (keys(**{"ops 1": {"public_key": OPS.public_key_hex, "role": "operator"}}),
     "security.keys.ops 1"),
    (keys(a={"role": "operator"}), "security.keys.a.public_key"),
    (keys(a={"public_key": "zz" * 32, "role": "operator"}), "security.keys.a.public_key"),
    (keys(a={"public_key": OPS.public_key_hex[:-2], "role": "operator"}),
     "security.keys.a.public_key"),
    (keys(a={"public_key": OPS.public_key_hex.upper(), "role": "operator"}),
     "security.keys.a.public_key"),
    (keys(a={"public_key": OPS.public_key_hex, "role": "admin"}), "security.keys.a.role"),
    (keys(a={"public_key": OPS.public_key_hex}), "security.keys.a"),
    (keys(a={"public_key": OPS.public_key_hex, "role": "operator", "commands": []}),
     "security.keys.a"),
    (keys(a={"public_key": OPS.public_key_hex, "commands": ["arm", "fly"]}),
     "security.keys.a.commands"),
    (keys(a={"public_key": OPS.public_key_hex, "role": "operator", "expires": 1}),
     "security.keys.a.expires"),
    (keys(a={"public_key": OPS.public_key_hex, "role": "operator"},
          b={"public_key": OPS.public_key_hex, "role": "observer"}), "security.keys.b.public_key"),
])
def test_invalid_values_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(SecurityConfigError) as info:
        security_config_from_dict(data)
    assert info.value.key == key, str(info.value)
    assert isinstance(info.value, ConfigError)  # the controller's start-up handler catches it


def test_always_allowed_is_added_to_every_key() -> None:
    cfg = security_config_from_dict(config_dict(always_allowed=["estop", "stop"]))
    assert cfg.stations["obs-1"].commands == {"status", "estop", "stop"}
    cfg = security_config_from_dict(config_dict(always_allowed=[]))
    assert cfg.stations["obs-1"].commands == {"status"}
    assert bytes(cfg.stations["obs-1"].public_key) == bytes(OBS.signing_key.verify_key)
