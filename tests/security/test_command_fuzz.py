"""Fuzz: whatever arrives on the command topic, the authenticator returns a value.

Invariant (the h11 fuzz-harness rule): garbage gives only a documented
``Rejection``, never an exception, and never moves a key's replay window.
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from control.security import AuthorizedCommand, MemoryReplayStore, Rejection, RejectReason

from .helpers import NOW, OPS, TOPIC, b64, body, make_auth, signed

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)

envelope_like = st.fixed_dictionaries(
    {},
    optional={"v": json_values | st.just(1), "alg": json_values | st.just("ed25519"),
              "key": json_values | st.sampled_from(["ops-1", "obs-1", "x"]),
              "payload": json_values | st.binary(max_size=64).map(b64),
              "sig": json_values | st.binary(min_size=64, max_size=64).map(b64)})


def _never_advanced(store: MemoryReplayStore) -> bool:
    return store.load("ops-1").highest == 0 and store.load("obs-1").highest == 0


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_only_give_a_rejection(data: bytes) -> None:
    store = MemoryReplayStore(8)
    result = make_auth(store).verify(TOPIC, data, NOW)
    assert isinstance(result, Rejection) and isinstance(result.reason, RejectReason)
    assert _never_advanced(store)


@FUZZ
@given(envelope_like)
def test_arbitrary_envelopes_only_give_a_rejection(obj: dict) -> None:
    store = MemoryReplayStore(8)
    result = make_auth(store).verify(TOPIC, json.dumps(obj).encode(), NOW)
    assert isinstance(result, Rejection)
    assert _never_advanced(store)


@FUZZ
@given(st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()))
def test_validly_signed_garbage_bodies_are_rejected(raw: bytes) -> None:
    store = MemoryReplayStore(8)
    result = make_auth(store).verify(TOPIC, signed(raw, key=OPS), NOW)
    assert isinstance(result, Rejection) and result.authenticated
    assert _never_advanced(store)


@FUZZ
@given(st.data())
def test_any_single_byte_change_to_a_valid_command_is_rejected(data: st.DataObject) -> None:
    good = signed(body(3))
    assert isinstance(make_auth().verify(TOPIC, good, NOW), AuthorizedCommand)
    i = data.draw(st.integers(0, len(good) - 1))
    b = data.draw(st.integers(0, 255).filter(lambda v: v != good[i]))
    mutated = good[:i] + bytes([b]) + good[i + 1:]
    store = MemoryReplayStore(8)
    result = make_auth(store).verify(TOPIC, mutated, NOW)
    assert isinstance(result, Rejection), (i, b, mutated)
    assert _never_advanced(store)


@FUZZ
@given(st.binary(max_size=64), st.integers(0, 2**64))
def test_truncated_and_extended_messages_are_rejected(tail: bytes, cut: int) -> None:
    good = signed(body(3))
    auth = make_auth()
    for candidate in (good[: cut % len(good)], good + tail if tail.strip() else good + b"x"):
        assert isinstance(auth.verify(TOPIC, candidate, NOW), Rejection)
