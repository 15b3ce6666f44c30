"""Pure tests of the command authenticator: acceptance and every rejection reason."""

from __future__ import annotations

import base64
import json
import sqlite3

import pytest

from control.core.commands import GroundCommand
from control.security import (
    AuthorizedCommand,
    MemoryReplayStore,
    Rejection,
    RejectReason,
    SignedCommandAuthenticator,
    SqliteReplayStore,
)
from control.security.command_intake import decode_command
from control.security.replay import ReplayWindow
from telemetry.contract.command_wire import MAX_BODY_BYTES, MAX_ENVELOPE_BYTES, signing_bytes

from .helpers import (
    NOW,
    OBS,
    ROGUE,
    TOPIC,
    b64,
    body,
    make_auth,
    make_config,
    signed,
    with_fields,
)

R = RejectReason


def reject(result: object, reason: RejectReason) -> Rejection:
    assert isinstance(result, Rejection), f"expected a {reason} rejection, got {result!r}"
    assert result.reason is reason, result.ack_reason
    assert result.detail
    return result


def test_accepts_a_signed_command_and_hands_the_controller_its_body() -> None:
    auth = make_auth()
    result = auth.verify(TOPIC, signed(body(1, "set_param", args={
        "name": "current_target_a", "value": 16.0})), NOW + 1)
    assert isinstance(result, AuthorizedCommand)
    assert (result.key_id, result.counter, result.command) == ("ops-1", 1, "set_param")
    cmd = decode_command(result.payload, source=result.source)  # the controller's parser
    assert isinstance(cmd, GroundCommand)
    assert cmd.command_id == "c-1" and cmd.args["value"] == 16.0
    assert cmd.expires_at == NOW + 30 and cmd.source == "key:ops-1"


def test_verify_gives_the_exact_signed_body_or_a_rejection() -> None:
    auth = make_auth()
    raw = signed(body(1))
    first = auth.verify(TOPIC, raw, NOW)
    assert isinstance(first, AuthorizedCommand)
    assert first.payload == base64.b64decode(json.loads(raw)["payload"])
    second = auth.verify(TOPIC, signed(body(2)), NOW)
    assert isinstance(second, AuthorizedCommand) and json.loads(second.payload)["counter"] == 2
    replayed = auth.verify(TOPIC, raw, NOW)  # replay of counter 1
    assert isinstance(replayed, Rejection)
    assert replayed.ack_reason.startswith("replayed:")
    assert replayed.command_id == "c-1"


# --- malformed input --------------------------------------------------------------------

@pytest.mark.parametrize(("payload", "reason"), [
    (b"", R.NOT_JSON),
    (b"not json", R.NOT_JSON),
    (b"\xff\xfe{}", R.NOT_JSON),
    (b'{"a": NaN, "sig": "x"}', R.NOT_JSON),
    (b"[" * 5000 + b"]" * 5000, R.TOO_LARGE),
    (b"[" * 3000 + b"]" * 3000, R.NOT_JSON),
    (b"[1, 2]", R.MALFORMED),
    (b'"arm"', R.MALFORMED),
    (b"{}", R.MALFORMED),
    (b'{"v": 1, "alg": "ed25519", "key": "ops-1", "payload": "", "sig": "", "sig": ""}',
     R.MALFORMED),
])
def test_garbage_is_rejected_with_a_reason(payload: bytes, reason: RejectReason) -> None:
    reject(make_auth().verify(TOPIC, payload, NOW), reason)


def test_huge_payload_is_rejected_before_parsing() -> None:
    r = reject(make_auth().verify(TOPIC, b" " * (MAX_ENVELOPE_BYTES + 1), NOW), R.TOO_LARGE)
    assert str(MAX_ENVELOPE_BYTES) in r.detail


def test_huge_signed_body_is_rejected() -> None:
    raw = json.dumps({"v": 1, "counter": 1, "id": "c", "command": "arm",
                      "args": {"pad": "x" * (MAX_BODY_BYTES)}, "issued_at": NOW,
                      "expires_at": NOW + 5}).encode()
    assert len(raw) > MAX_BODY_BYTES
    reject(make_auth().verify(TOPIC, signed(raw), NOW), R.TOO_LARGE)


def test_unsigned_plain_command_is_rejected_as_unsigned_and_echoes_its_id() -> None:
    plain = json.dumps({"id": "c-9", "command": "arm", "expires_at": NOW + 10}).encode()
    r = reject(make_auth().verify(TOPIC, plain, NOW), R.UNSIGNED)
    assert r.command_id == "c-9" and not r.authenticated


@pytest.mark.parametrize("field", ["v", "alg", "key", "payload", "sig"])
def test_missing_envelope_field(field: str) -> None:
    expected = R.UNSIGNED if field == "sig" else R.MALFORMED
    r = reject(make_auth().verify(TOPIC, with_fields(signed(body()), **{field: ...}), NOW),
               expected)
    assert field in r.detail or expected is R.UNSIGNED


@pytest.mark.parametrize(("fields", "reason"), [
    ({"v": 2}, R.MALFORMED),
    ({"v": True}, R.MALFORMED),
    ({"v": "1"}, R.MALFORMED),
    ({"alg": "rsa"}, R.MALFORMED),
    ({"key": 7}, R.MALFORMED),
    ({"key": ""}, R.MALFORMED),
    ({"sig": 12}, R.MALFORMED),
    ({"payload": None}, R.MALFORMED),
    ({"extra": 1}, R.MALFORMED),
    ({"sig": "!!!not-base64!!!"}, R.BAD_ENCODING),
    ({"sig": "AAAA"}, R.BAD_ENCODING),  # decodes, but not 64 bytes
    ({"payload": "e30"}, R.BAD_ENCODING),  # missing padding
    ({"payload": "e31="}, R.BAD_ENCODING),  # non-canonical trailing bits
    ({"payload": "é"}, R.BAD_ENCODING),
])
def test_wrong_types_and_bad_encodings(fields: dict, reason: RejectReason) -> None:
    reject(make_auth().verify(TOPIC, with_fields(signed(body()), **fields), NOW), reason)


# --- keys and signatures ----------------------------------------------------------------

def test_unknown_key() -> None:
    r = reject(make_auth().verify(TOPIC, with_fields(signed(body()), key="mallory"), NOW),
               R.UNKNOWN_KEY)
    assert "mallory" in r.detail


def test_signature_by_another_key_under_a_known_id() -> None:
    r = reject(make_auth().verify(TOPIC, signed(body(), key=ROGUE), NOW), R.BAD_SIGNATURE)
    assert not r.authenticated


def test_tampered_body_breaks_the_signature() -> None:
    good = signed(body(1, "status"))
    obj = json.loads(good)
    tampered = base64.b64decode(obj["payload"]).replace(b'"status"', b'"arm"')
    reject(make_auth().verify(TOPIC, with_fields(good, payload=b64(tampered)), NOW),
           R.BAD_SIGNATURE)


def test_command_signed_for_another_rig_is_refused() -> None:
    other = signed(body(), topic="regolith/rig-2/cmd")
    reject(make_auth().verify(TOPIC, other, NOW), R.BAD_SIGNATURE)
    # and a correct message replayed onto another rig's topic
    reject(make_auth().verify("regolith/rig-2/cmd", signed(body()), NOW), R.BAD_SIGNATURE)


def test_signing_bytes_bind_topic_length() -> None:
    assert signing_bytes("a/b", b"{}") != signing_bytes("a/", b"b{}")


# --- authenticated but refused -----------------------------------------------------------

@pytest.mark.parametrize(("raw", "reason"), [
    (b"not json", R.NOT_JSON),
    (b"[]", R.MALFORMED),
    (json.dumps({"v": 1, "counter": 1, "id": "x", "command": "arm", "args": {},
                 "issued_at": NOW}).encode(), R.MALFORMED),  # no expires_at
    (json.dumps({"v": 1, "counter": "1", "id": "x", "command": "arm", "args": {},
                 "issued_at": NOW, "expires_at": NOW + 1}).encode(), R.MALFORMED),
    (json.dumps({"v": 1, "counter": 0, "id": "x", "command": "arm", "args": {},
                 "issued_at": NOW, "expires_at": NOW + 1}).encode(), R.MALFORMED),
    (json.dumps({"v": 1, "counter": 1, "id": "x y", "command": "arm", "args": {},
                 "issued_at": NOW, "expires_at": NOW + 1}).encode(), R.MALFORMED),
    (json.dumps({"v": 1, "counter": 1, "id": "x", "command": "arm", "args": [],
                 "issued_at": NOW, "expires_at": NOW + 1}).encode(), R.MALFORMED),
    (json.dumps({"v": 1, "counter": 1, "id": "x", "command": "arm", "args": {},
                 "issued_at": True, "expires_at": NOW + 1}).encode(), R.MALFORMED),
    (json.dumps({"v": 1, "counter": 1, "id": "x", "command": "arm", "args": {},
                 "issued_at": NOW, "expires_at": NOW + 1, "ttl_s": 5}).encode(), R.MALFORMED),
    (json.dumps({"v": 1, "counter": 1, "id": "x", "command": "self_destruct", "args": {},
                 "issued_at": NOW, "expires_at": NOW + 1}).encode(), R.UNKNOWN_COMMAND),
    (json.dumps({"v": 1, "counter": 1, "id": "x", "command": 5, "args": {},
                 "issued_at": NOW, "expires_at": NOW + 1}).encode(), R.MALFORMED),
    (json.dumps({"v": 1, "counter": 10**30, "id": "x", "command": "arm", "args": {},
                 "issued_at": NOW, "expires_at": NOW + 1}).encode(), R.MALFORMED),
])
def test_signed_but_malformed_body(raw: bytes, reason: RejectReason) -> None:
    r = reject(make_auth().verify(TOPIC, signed(raw), NOW), reason)
    assert r.authenticated


def test_observer_may_only_ask_for_status_but_may_estop() -> None:
    auth = make_auth()
    assert isinstance(auth.verify(TOPIC, signed(body(1, "status"), key=OBS), NOW),
                      AuthorizedCommand)
    assert isinstance(auth.verify(TOPIC, signed(body(2, "estop"), key=OBS), NOW),
                      AuthorizedCommand)
    for n, name in enumerate(("arm", "start", "set_param", "reset_estop", "stop"), start=3):
        r = reject(auth.verify(TOPIC, signed(body(n, name), key=OBS), NOW), R.UNAUTHORISED)
        assert name in r.detail


def test_explicit_command_list_instead_of_a_role() -> None:
    from .helpers import config_dict
    data = config_dict()
    data["keys"]["obs-1"] = {"public_key": OBS.public_key_hex, "commands": ["status", "stop"]}
    from control.security import security_config_from_dict
    auth = SignedCommandAuthenticator(security_config_from_dict(data), MemoryReplayStore(), TOPIC)
    assert isinstance(auth.verify(TOPIC, signed(body(1, "stop"), key=OBS), NOW),
                      AuthorizedCommand)
    reject(auth.verify(TOPIC, signed(body(2, "arm"), key=OBS), NOW), R.UNAUTHORISED)


@pytest.mark.parametrize(("b", "now", "reason"), [
    (body(1, issued=NOW, ttl=30), NOW + 30, R.EXPIRED),
    (body(1, issued=NOW, ttl=30), NOW + 31, R.EXPIRED),
    (body(1, issued=NOW - 100, ttl=110), NOW, R.STALE),  # not expired, issued too long ago
    # (a command issued in the future is no longer refused on the signed path: it is
    # authenticated time, and moves the rover's ground clock forward; test_ground_clock)
    (body(1, issued=NOW, ttl=121), NOW, R.TTL_TOO_LONG),
    (body(1, issued=NOW, ttl=-1), NOW - 10, R.MALFORMED),  # expires before issued
])
def test_timestamp_window(b, now: float, reason: RejectReason) -> None:
    reject(make_auth().verify(TOPIC, signed(b), now), reason)


def test_timing_edges_accepted() -> None:
    assert isinstance(make_auth().verify(TOPIC, signed(body(1, issued=NOW + 5)), NOW),
                      AuthorizedCommand)
    assert isinstance(make_auth().verify(TOPIC, signed(body(1, issued=NOW - 60, ttl=90)), NOW),
                      AuthorizedCommand)


# --- replay -----------------------------------------------------------------------------

def test_replay_is_rejected() -> None:
    auth = make_auth()
    msg = signed(body(5))
    assert isinstance(auth.verify(TOPIC, msg, NOW), AuthorizedCommand)
    r = reject(auth.verify(TOPIC, msg, NOW + 1), R.REPLAYED)
    assert r.authenticated and r.counter == 5


def test_reordered_within_window_is_accepted_once_and_too_old_is_rejected() -> None:
    auth = make_auth()  # window 8
    assert isinstance(auth.verify(TOPIC, signed(body(20)), NOW), AuthorizedCommand)
    assert isinstance(auth.verify(TOPIC, signed(body(15)), NOW), AuthorizedCommand)
    reject(auth.verify(TOPIC, signed(body(15)), NOW), R.REPLAYED)
    reject(auth.verify(TOPIC, signed(body(12)), NOW), R.COUNTER_TOO_OLD)
    assert isinstance(auth.verify(TOPIC, signed(body(13)), NOW), AuthorizedCommand)
    reject(auth.verify(TOPIC, signed(body(20)), NOW), R.REPLAYED)


def test_counters_are_per_key() -> None:
    auth = make_auth()
    assert isinstance(auth.verify(TOPIC, signed(body(7, "status")), NOW), AuthorizedCommand)
    assert isinstance(auth.verify(TOPIC, signed(body(7, "status"), key=OBS), NOW),
                      AuthorizedCommand)


def test_replay_after_rover_restart_is_still_rejected(tmp_path) -> None:
    db = tmp_path / "replay.db"
    store = SqliteReplayStore(db, 8)
    auth = make_auth(store)
    msg = signed(body(41))
    assert isinstance(auth.verify(TOPIC, msg, NOW), AuthorizedCommand)
    store.close()  # the rover stops...
    store2 = SqliteReplayStore(db, 8)  # ...and starts again
    auth2 = make_auth(store2)
    reject(auth2.verify(TOPIC, msg, NOW + 1), R.REPLAYED)
    reject(auth2.verify(TOPIC, signed(body(30)), NOW + 1), R.COUNTER_TOO_OLD)
    assert isinstance(auth2.verify(TOPIC, signed(body(42)), NOW + 1), AuthorizedCommand)
    store2.close()


def test_forged_messages_never_advance_the_counter(tmp_path) -> None:
    store = SqliteReplayStore(tmp_path / "replay.db", 8)
    auth = make_auth(store)
    huge = 2**62
    for forged in (signed(body(huge), key=ROGUE),  # wrong key claiming ops-1
                   with_fields(signed(body(huge)), sig=b64(bytes(64))),  # zero signature
                   signed(body(huge), topic="regolith/rig-2/cmd")):
        reject(auth.verify(TOPIC, forged, NOW), R.BAD_SIGNATURE)
    assert store.load("ops-1") == ReplayWindow(size=8)
    # refused-after-authentication messages do not advance it either
    reject(auth.verify(TOPIC, signed(body(huge, issued=NOW - 1000)), NOW), R.EXPIRED)
    reject(auth.verify(TOPIC, signed(body(huge, "arm"), key=OBS), NOW), R.UNAUTHORISED)
    assert store.load("ops-1").highest == 0
    assert store.load("obs-1").highest == 0
    # so the genuine station is not locked out
    assert isinstance(auth.verify(TOPIC, signed(body(1)), NOW), AuthorizedCommand)
    store.close()


class _BrokenStore(MemoryReplayStore):
    def save(self, key_id, window, now) -> None:
        raise sqlite3.OperationalError("disk I/O error")


def test_store_failure_fails_closed_except_for_stops() -> None:
    auth = make_auth(_BrokenStore(8))
    reject(auth.verify(TOPIC, signed(body(1, "arm")), NOW), R.STORE_UNAVAILABLE)
    assert isinstance(auth.verify(TOPIC, signed(body(2, "estop")), NOW), AuthorizedCommand)
    assert isinstance(auth.verify(TOPIC, signed(body(3, "stop")), NOW), AuthorizedCommand)


def test_rejection_event_fields_are_json() -> None:
    r = reject(make_auth().verify(TOPIC, signed(body(), key=ROGUE), NOW), R.BAD_SIGNATURE)
    ev = r.event_fields()
    assert json.loads(json.dumps(ev))["reason"] == "bad_signature"
    assert ev["key"] == "ops-1" and ev["authenticated"] is False


def test_replay_window_arithmetic() -> None:
    w = ReplayWindow(size=4)
    for c in (1, 2, 3):
        assert w.check(c) is None
        w = w.accept(c)
    assert w.check(2) == "replayed"
    w = w.accept(100)  # jump further than the window
    assert (w.highest, w.bitmap) == (100, 1)
    assert w.check(97) is None and w.check(96) == "too_old"


def test_config_counts_and_defaults() -> None:
    cfg = make_config()
    assert cfg.stations["obs-1"].commands == {"status", "estop"}
    assert "arm" in cfg.stations["ops-1"].commands
