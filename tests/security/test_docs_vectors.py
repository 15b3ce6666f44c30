"""The examples in docs/commands.md are real: they verify with the documented keys."""

from __future__ import annotations

import json
import re
from pathlib import Path

from nacl.signing import SigningKey

from control.security import (
    AuthorizedCommand,
    MemoryReplayStore,
    SignedCommandAuthenticator,
    security_config_from_dict,
    verify_ledger,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
DOC_KEY = SigningKey(bytes(range(32)))  # the documented test-vector seed 000102...1f
ROVER = SigningKey(bytes(range(100, 132)))


def _json_blocks() -> list[str]:
    return re.findall(r"```json\n(.*?)\n```", DOC, flags=re.S)


def test_envelope_example_verifies() -> None:
    pub = bytes(DOC_KEY.verify_key).hex()
    assert pub in DOC
    envelope = next(b for b in _json_blocks() if '"alg":"ed25519"' in b)
    cfg = security_config_from_dict({"keys": {"ops-1": {"public_key": pub, "role": "operator"}}})
    auth = SignedCommandAuthenticator(cfg, MemoryReplayStore(), "regolith/rig-1/cmd")
    result = auth.verify("regolith/rig-1/cmd", envelope.encode(), 1_750_000_001.0)
    assert isinstance(result, AuthorizedCommand)
    assert result.payload.decode() in DOC  # the body shown is the one signed


def test_ledger_example_verifies() -> None:
    line = next(b for b in _json_blocks() if '"mass_g"' in b)
    report = verify_ledger([line], ROVER.verify_key)
    assert report.ok and json.loads(line)["index"] == 0
