"""The console's local user file: names, roles, scrypt password hashes.

File format (JSON, written with mode 0600, replaced atomically)::

    {"v": 1, "users": {"alice": {"role": "operator", "password": "scrypt$15$8$1$<salt>$<hash>"}}}

Passwords are hashed with scrypt (``hashlib.scrypt``: N = 2^15, r = 8, p = 1,
16-byte random salt, 32-byte key; about 32 MiB and a few tens of
milliseconds per check, so guessing is slow) and compared in constant time.
A check for an unknown user still runs scrypt, so response time does not tell
which names exist.

Roles are the rover's command roles (docs/commands.md, "Authorisation"):
``operator`` may send every command and acknowledge alarms; ``observer`` sees
everything and sends nothing. (The rover also lets an observer *key* send
``status``, a request for a state message; the console streams state anyway,
so its observers have no use for it and get no command panel at all.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telemetry.contract import CommandName
from telemetry.ground.errors import UserFileError

__all__ = [
    "COMMANDS",
    "DEFAULT_USERS",
    "ROLES",
    "User",
    "UserStore",
    "can_acknowledge",
    "check_password",
    "hash_password",
    "verify_password",
]

#: The rover's command names (the contract's ``CommandName``), in its order.
COMMANDS: tuple[CommandName, ...] = tuple(CommandName)
#: What each console role may send.
ROLES: Mapping[str, frozenset[CommandName]] = {
    "observer": frozenset(),
    "operator": frozenset(COMMANDS),
}
DEFAULT_USERS = "console-users.json"
USER_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
MIN_PASSWORD = 8

_N_LOG2, _R, _P, _DKLEN = 15, 8, 1, 32
_MAXMEM = 64 * 1024 * 1024
_DUMMY_SALT = b"\x00" * 16


def can_acknowledge(role: str) -> bool:
    return role == "operator"


def _scrypt(password: str, salt: bytes, n_log2: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=1 << n_log2, r=r, p=p,
                          maxmem=_MAXMEM, dklen=_DKLEN)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _N_LOG2, _R, _P)
    b64 = base64.b64encode
    return f"scrypt${_N_LOG2}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check; a malformed hash never matches."""
    try:
        algo, n_log2, r, p, salt, digest = encoded.split("$")
        if algo != "scrypt" or not (10 <= int(n_log2) <= 20) or not (1 <= int(r) <= 16) \
                or not (1 <= int(p) <= 4):
            return False
        expected = base64.b64decode(digest, validate=True)
        got = _scrypt(password, base64.b64decode(salt, validate=True), int(n_log2), int(r),
                      int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def check_password(user: User | None, password: str) -> bool:
    """Does ``password`` match ``user``'s? An unknown user (``None``) still costs one
    scrypt, so the time taken does not tell which names exist (blocking)."""
    if user is None:
        verify_password(password, f"scrypt${_N_LOG2}${_R}${_P}$"
                                  f"{base64.b64encode(_DUMMY_SALT).decode()}$AAAA")
        return False
    return verify_password(password, user.password)


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    password: str  # the encoded hash

    @property
    def commands(self) -> frozenset[CommandName]:
        return ROLES[self.role]


class UserStore:
    """The user file; re-read when it changes on disk (``rig-ground user`` edits it live)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._users: dict[str, User] = {}
        self._stamp: tuple[int, int] | None = None

    # -------------------------------------------------------------- reading
    def users(self) -> dict[str, User]:
        self._reload()
        return dict(self._users)

    def get(self, name: str) -> User | None:
        self._reload()
        return self._users.get(name)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user if the password matches (blocking: run it in an executor)."""
        user = self.get(name)
        return user if check_password(user, password) else None

    def _reload(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._users, self._stamp = {}, None
            return
        except OSError as err:
            raise UserFileError(str(self.path), f"cannot read: {err.strerror}") from err
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._users = _parse(self.path)
            self._stamp = stamp

    # -------------------------------------------------------------- writing
    def add(self, name: str, role: str, password: str, *, replace: bool = False) -> User:
        if not USER_RE.match(name):
            raise UserFileError(str(self.path), f"user name: expected 1-64 characters of "
                                                f"[A-Za-z0-9_.-], got {name!r}")
        if role not in ROLES:
            raise UserFileError(str(self.path), f"role: expected one of "
                                                f"{', '.join(sorted(ROLES))}, got {role!r}")
        if len(password) < MIN_PASSWORD:
            raise UserFileError(str(self.path), f"password: expected at least {MIN_PASSWORD} "
                                                f"characters, got {len(password)}")
        users = self.users()
        if name in users and not replace:
            raise UserFileError(str(self.path), f"user {name!r} exists (use `user passwd` or "
                                                f"`user role`)")
        users[name] = User(name, role, hash_password(password))
        self._write(users)
        return users[name]

    def set_role(self, name: str, role: str) -> User:
        users = self.users()
        if name not in users:
            raise UserFileError(str(self.path), f"no user {name!r}")
        if role not in ROLES:
            raise UserFileError(str(self.path), f"role: expected one of "
                                                f"{', '.join(sorted(ROLES))}, got {role!r}")
        users[name] = User(name, role, users[name].password)
        self._write(users)
        return users[name]

    def remove(self, name: str) -> None:
        users = self.users()
        if users.pop(name, None) is None:
            raise UserFileError(str(self.path), f"no user {name!r}")
        self._write(users)

    def _write(self, users: Mapping[str, User]) -> None:
        data = {"v": 1, "users": {u.name: {"role": u.role, "password": u.password}
                                  for u in sorted(users.values(), key=lambda u: u.name)}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._stamp = None


def _parse(path: Path) -> dict[str, User]:
    try:
        data: Any = json.loads(path.read_text())
    except OSError as err:
        raise UserFileError(str(path), f"cannot read: {err.strerror}") from err
    except ValueError as err:
        raise UserFileError(str(path), f"not JSON: {err}") from err
    if not isinstance(data, dict) or data.get("v") != 1 or not isinstance(data.get("users"),
                                                                          dict):
        raise UserFileError(str(path), 'expected {"v": 1, "users": {...}}')
    users: dict[str, User] = {}
    for name, entry in data["users"].items():
        where = f"users.{name}"
        if not USER_RE.match(name):
            raise UserFileError(str(path), f"{where}: bad user name")
        if not isinstance(entry, dict) or entry.get("role") not in ROLES \
                or not isinstance(entry.get("password"), str):
            raise UserFileError(str(path), f"{where}: expected role "
                                           f"({' or '.join(sorted(ROLES))}) and password")
        users[name] = User(name, entry["role"], entry["password"])
    return users
