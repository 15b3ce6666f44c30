"""Shared builders for the security tests: keys, a rover config, signed envelopes."""

from __future__ import annotations

import base64
import json
from typing import Any

from nacl.signing import SigningKey

from control.security import (
    CommandBody,
    MemoryReplayStore,
    SecurityConfig,
    SignedCommandAuthenticator,
    StationKey,
    encode_body,
    security_config_from_dict,
    sign_envelope,
)
from control.security.replay import ReplayStore

TOPIC = "regolith/rig-1/cmd"
NOW = 1_750_000_000.0

OPS = StationKey("ops-1", SigningKey(bytes(range(32))))
OBS = StationKey("obs-1", SigningKey(bytes(range(1, 33))))
ROGUE = StationKey("ops-1", SigningKey(bytes(range(2, 34))))  # claims ops-1, wrong key


def config_dict(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "max_age_s": 60.0, "max_future_s": 5.0, "max_ttl_s": 120.0, "replay_window": 8,
        "keys": {
            "ops-1": {"public_key": OPS.public_key_hex, "role": "operator"},
            "obs-1": {"public_key": OBS.public_key_hex, "role": "observer"},
        },
    }
    data.update(over)
    return data


def make_config(**over: Any) -> SecurityConfig:
    return security_config_from_dict(config_dict(**over))


def make_auth(store: ReplayStore | None = None, **over: Any) -> SignedCommandAuthenticator:
    cfg = make_config(**over)
    return SignedCommandAuthenticator(cfg, store or MemoryReplayStore(cfg.replay_window), TOPIC)


def body(counter: int = 1, command: str = "arm", *, issued: float = NOW, ttl: float = 30.0,
         args: dict[str, Any] | None = None, cid: str | None = None) -> CommandBody:
    return CommandBody(counter, cid or f"c-{counter}", command, issued, issued + ttl, args or {})


def signed(b: CommandBody | bytes, key: StationKey = OPS, topic: str = TOPIC) -> bytes:
    raw = b if isinstance(b, bytes) else encode_body(b)
    return sign_envelope(key.key_id, key.signing_key, topic, raw)


def envelope_dict(payload: bytes) -> dict[str, Any]:
    return json.loads(payload)


def with_fields(payload: bytes, /, **fields: Any) -> bytes:
    obj = envelope_dict(payload)
    for k, v in fields.items():
        if v is ...:
            obj.pop(k, None)
        else:
            obj[k] = v
    return json.dumps(obj).encode()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
