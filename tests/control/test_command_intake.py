"""The plain command decoder and the command gate are total: any bytes, a typed verdict.

Invariant (the h11 fuzz-harness rule): whatever arrives on the command topic, the
gate returns a ``GroundCommand`` or a ``Rejection`` with a documented reason code
and a sentence, never an exception, and the controller acks it.
"""

from __future__ import annotations

import asyncio
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.core.command_timing import CommandTiming
from control.core.commands import CommandName, GroundCommand
from control.core.config import load_config
from control.core.supervisor import Mode
from control.runtime.app import RigController
from control.security import Rejection, RejectReason
from control.security.command_intake import TrustedLink, decode_command

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = 1_750_000_000.0

json_leaves = (st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_trees = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=30)

VALID = {"id": "c-1", "command": "arm", "args": {}, "issued_at": NOW, "expires_at": NOW + 5}


def verdict_is_typed(result: object) -> None:
    if isinstance(result, Rejection):
        assert isinstance(result.reason, RejectReason)
        assert result.detail and result.ack_reason.startswith(result.reason.value + ": ")
        assert isinstance(result.command_id, str) and len(result.command_id) <= 128
    else:
        assert isinstance(result, GroundCommand)
        assert isinstance(result.name, CommandName)
        assert math.isfinite(result.expires_at)


@FUZZ
@given(st.binary(max_size=5000))
def test_arbitrary_bytes_give_a_typed_verdict(data: bytes) -> None:
    verdict_is_typed(decode_command(data))
    verdict_is_typed(TrustedLink().admit(data, NOW))


@FUZZ
@given(json_trees)
def test_arbitrary_json_trees_give_a_typed_verdict(tree: object) -> None:
    data = json.dumps(tree).encode()
    verdict_is_typed(decode_command(data))
    verdict_is_typed(TrustedLink().admit(data, NOW))


@FUZZ
@given(st.sampled_from([*sorted(VALID), "ttl_s"]), json_trees | st.just(...))
def test_every_field_of_the_schema_mutated(field: str, value: object) -> None:
    obj = dict(VALID)
    if value is ...:
        obj.pop(field, None)
    else:
        obj[field] = value
    verdict_is_typed(TrustedLink().admit(json.dumps(obj).encode(), NOW))


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_including_lone_surrogates(text: str) -> None:
    verdict_is_typed(decode_command(text))


def _nested(depth: int) -> bytes:
    return (b'{"id":"c-1","command":"arm","expires_at":1e12,"args":{"a":' + b"[" * depth
            + b"]" * depth + b"}}")


HOSTILE = [
    (b"[" * 2000 + b"]" * 2000, RejectReason.NOT_JSON, "nests deeper"),  # RecursionError once
    (b'{"a":' * 580 + b"1" + b"}" * 580, RejectReason.NOT_JSON, "nests deeper"),
    (_nested(1500), RejectReason.NOT_JSON, "nests deeper"),
    (b'{"id":"c-2","command":"arm","expires_at":1' + b"0" * 400 + b"}",
     RejectReason.MALFORMED, "finite number"),  # OverflowError once
    (b'{"id":"c-3","command":"arm","expires_at":1e400}', RejectReason.MALFORMED,
     "finite number"),
    (b'{"id":"c-4","command":"arm","expires_at":NaN}', RejectReason.NOT_JSON, "NaN"),
    (b'{"id":"c-5","command":"arm","expires_at":1e12,"expires_at":1}', RejectReason.MALFORMED,
     "duplicate"),
    (b'{"id":"c-6","command":"\xff\xfe","expires_at":1e12}', RejectReason.NOT_JSON, "UTF-8"),
    (b'{"id":"c-7","command":"arm","expires_at":1' + b"0" * 5000 + b"}",
     RejectReason.TOO_LARGE, "bytes"),
    (b'{"id":"c-8","command":["arm"],"expires_at":1e12}', RejectReason.UNKNOWN_COMMAND,
     "unknown command"),
    (b'{"id":"c-9","command":"arm","issued_at":1e308,"ttl_s":1e308}', RejectReason.MALFORMED,
     "finite time"),
]


@pytest.mark.parametrize(("payload", "reason", "fragment"), HOSTILE)
def test_hostile_payloads_are_rejected_with_a_reason(payload: bytes, reason: RejectReason,
                                                     fragment: str) -> None:
    result = decode_command(payload)
    assert isinstance(result, Rejection), result
    assert result.reason is reason, result.ack_reason
    assert fragment in result.detail


async def test_hostile_payloads_through_the_controller_are_acked_never_raised() -> None:
    # no [security]: the plain path, where deep nesting once crashed the controller
    ctl = RigController(load_config(), "unused", None, wall_clock=lambda: NOW)
    acks = [await ctl.handle_ground_payload(payload) for payload, _, _ in HOSTILE]
    assert [a.accepted for a in acks] == [False] * len(HOSTILE)
    assert all(reason.value in a.reason for a, (_, reason, _) in zip(acks, HOSTILE, strict=True))
    assert [a.command_id for a in acks][3:6] == ["c-2", "c-3", "?"]
    assert ctl.core.stats.commands_rejected == len(HOSTILE)
    assert ctl.core.mode is Mode.DISCONNECTED  # nothing rejected reached the state machine


@FUZZ
@given(st.binary(max_size=600) | json_trees.map(lambda t: json.dumps(t).encode()))
def test_the_controllers_ground_path_acks_anything(data: bytes) -> None:
    async def one() -> None:
        ctl = RigController(load_config(), "unused", None, wall_clock=lambda: NOW)
        try:
            ack = await ctl.handle_ground_payload(data)
        finally:
            ctl.close_gate()
        assert ctl.acks == [ack] and (ack.accepted or ack.reason)
        st_ = ctl.core.stats
        assert st_.commands_rejected + st_.commands_accepted == 1

    with asyncio.Runner() as runner:
        runner.run(one())


def test_a_valid_plain_command_is_decoded_once_with_its_fields() -> None:
    cmd = TrustedLink().admit(json.dumps(VALID).encode(), NOW + 1)
    assert cmd == GroundCommand("c-1", CommandName.ARM, NOW + 5, NOW, {}, "ground")


def test_trusted_link_checks_the_timing_once_with_its_rules() -> None:
    link = TrustedLink(CommandTiming(max_ttl_s=10.0, max_future_s=1.0, max_age_s=30.0))
    late = link.admit(json.dumps(VALID).encode(), NOW + 5)
    assert isinstance(late, Rejection) and late.reason is RejectReason.EXPIRED
    far = link.admit(json.dumps({**VALID, "expires_at": NOW + 11}).encode(), NOW)
    assert isinstance(far, Rejection) and far.reason is RejectReason.TTL_TOO_LONG
    stale = link.admit(json.dumps({**VALID, "issued_at": NOW - 31}).encode(), NOW)
    assert isinstance(stale, Rejection) and stale.reason is RejectReason.STALE
    ahead = link.admit(json.dumps({**VALID, "issued_at": NOW + 2}).encode(), NOW)
    assert isinstance(ahead, Rejection) and ahead.reason is RejectReason.FUTURE
    no_issue = link.admit(json.dumps({"id": "x", "command": "stop",
                                      "expires_at": NOW + 9}).encode(), NOW)
    assert isinstance(no_issue, GroundCommand) and no_issue.issued_at is None
