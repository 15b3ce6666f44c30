"""The console's user file, roles, signed sessions and CSRF tokens (no server needed)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from itsdangerous import URLSafeTimedSerializer

from control.core.commands import CommandName
from control.security.security_config import ROLES as ROVER_ROLES
from telemetry.ground.console.serve import is_loopback, plaintext_warning
from telemetry.ground.console.sessions import SessionStore, credential_stamp, load_secret
from telemetry.ground.console.users import (
    COMMANDS,
    ROLES,
    UserStore,
    can_acknowledge,
    hash_password,
    verify_password,
)
from telemetry.ground.errors import UserFileError


def test_roles_match_the_rovers_command_roles() -> None:
    assert set(COMMANDS) == {c.value for c in CommandName}
    assert set(ROLES) == set(ROVER_ROLES)
    assert ROLES["operator"] == ROVER_ROLES["operator"]
    # an observer sends nothing from the console (the rover would accept only "status")
    assert ROLES["observer"] == frozenset() and ROLES["observer"] <= ROVER_ROLES["observer"]
    assert can_acknowledge("operator") and not can_acknowledge("observer")


def test_scrypt_hashes() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$15$8$1$")
    assert encoded != hash_password("correct horse")  # salted
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct hors", encoded)
    for bad in ("", "scrypt$15$8$1$x$y", "md5$1$2$3$4$5", "scrypt$30$8$1$AAAA$AAAA"):
        assert not verify_password("correct horse", bad)


def test_user_file_round_trip_and_live_reload(tmp_path) -> None:
    path = tmp_path / "users.json"
    store = UserStore(path)
    assert store.users() == {}
    store.add("alice", "operator", "secret-password")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "secret-password" not in path.read_text()
    assert store.authenticate("alice", "secret-password").role == "operator"
    assert store.authenticate("alice", "wrong-password") is None
    assert store.authenticate("nobody", "secret-password") is None
    other = UserStore(path)  # the running console's view of the same file
    assert other.get("alice").role == "operator"
    store.set_role("alice", "observer")
    assert other.get("alice").role == "observer"  # picked up without a restart
    store.remove("alice")
    assert other.get("alice") is None


@pytest.mark.parametrize(("args", "message"), [
    (("bad name", "operator", "secret-password"), "user name"),
    (("bob", "admin", "secret-password"), "role: expected one of observer, operator"),
    (("bob", "operator", "short"), "at least 8 characters"),
])
def test_bad_users_are_refused(tmp_path, args, message) -> None:
    with pytest.raises(UserFileError, match=message):
        UserStore(tmp_path / "users.json").add(*args)


def test_a_damaged_user_file_names_itself(tmp_path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"v": 1, "users": {"eve": {"role": "root", "password": "x"}}}))
    with pytest.raises(UserFileError, match=r"users.json: users.eve: expected role"):
        UserStore(path).get("eve")
    path.write_text("{nope")
    with pytest.raises(UserFileError, match="not JSON"):
        UserStore(path).users()


def test_user_subcommand(tmp_path) -> None:
    users = tmp_path / "u.json"

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "telemetry.ground.cli", "user", "--users",
                               str(users), *args], input=stdin, capture_output=True, text=True,
                              timeout=60)

    assert run("add", "ann", "--role", "observer", "--password-stdin",
               stdin="long-password\n").returncode == 0
    again = run("add", "ann", "--role", "observer", "--password-stdin", stdin="long-password\n")
    assert again.returncode == 2 and "exists" in again.stderr
    assert run("role", "ann", "operator").returncode == 0
    listed = run("list")
    assert listed.stdout.strip() == "ann\toperator"
    assert run("passwd", "ann", "--password-stdin", stdin="another-password\n").returncode == 0
    assert UserStore(users).authenticate("ann", "another-password") is not None
    assert run("remove", "ann").returncode == 0 and run("list").stdout == ""


def test_sessions_live_on_the_server_and_end_there(tmp_path) -> None:
    store = SessionStore(b"k" * 32, max_age_s=3600)
    session, cookie = store.new_session("alice", "stamp-1", now=1000.0)
    assert store.read_session(cookie, 1001.0) == session
    assert store.read_session(cookie[:-2] + "xx", 1001.0) is None  # tampered
    assert store.read_session(None, 1001.0) is None
    assert SessionStore(b"j" * 32).read_session(cookie, 1001.0) is None  # another secret
    # a correctly signed id the server never issued (or forgot) is no session
    forged = URLSafeTimedSerializer(b"k" * 32, salt="rig-console-session-id").dumps("guess")
    assert store.read_session(forged, 1001.0) is None
    assert store.read_session(cookie, 1000.0 + 3601) is None  # expired, and gone
    assert len(store) == 0
    # logout ends the session: the same cookie opens nothing any more
    session, cookie = store.new_session("alice", "stamp-1", now=2000.0)
    assert store.revoke(session.sid) and store.read_session(cookie, 2001.0) is None
    store.new_session("bob", "s", now=2000.0)
    store.new_session("bob", "s", now=2000.0)
    assert store.revoke_user("bob") == 2 and len(store) == 0
    token, login_cookie = store.new_login_token()
    assert store.login_token_ok(login_cookie, token)
    assert not store.login_token_ok(login_cookie, token + "x")
    assert not store.login_token_ok(None, token)
    device, device_cookie = store.new_device_cookie("alice")
    assert store.read_device(device_cookie) == ("alice", device)
    assert store.read_device(device_cookie[:-2] + "xx") is None
    assert SessionStore(b"j" * 32).read_device(device_cookie) is None
    secret = tmp_path / "secret"
    assert load_secret(secret) == load_secret(secret)  # created once, then reused
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    assert load_secret(None) != load_secret(None)


def test_the_session_store_is_bounded() -> None:
    store = SessionStore(b"k" * 32, max_sessions=3)
    cookies = [store.new_session(f"u{i}", "s", now=float(i))[1] for i in range(5)]
    assert len(store) == 3
    assert store.read_session(cookies[0], 5.0) is None  # the oldest went first
    assert store.read_session(cookies[4], 5.0) is not None


def test_a_password_change_changes_the_credential_stamp(tmp_path) -> None:
    users = UserStore(tmp_path / "u.json")
    before = credential_stamp(users.add("alice", "operator", "first-password").password)
    after = credential_stamp(users.add("alice", "operator", "first-password",
                                       replace=True).password)
    assert before != after  # same password, new salt: sessions opened before are out


def test_binding_elsewhere_without_tls_is_warned_about() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    assert plaintext_warning("127.0.0.1", tls=False) is None
    assert plaintext_warning("0.0.0.0", tls=True) is None
    warning = plaintext_warning("0.0.0.0", tls=False)
    assert warning is not None and "WITHOUT TLS" in warning and "0.0.0.0" in warning
