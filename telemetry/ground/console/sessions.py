"""Server-side sessions, device cookies and CSRF tokens for the console.

* A session lives in the console's memory (:class:`SessionStore`); the
  ``rig_console_session`` cookie carries only its random id, signed
  (itsdangerous, HMAC with the server secret) so a guessed or altered id is
  refused before any lookup. The cookie is ``HttpOnly``, ``SameSite=Strict``,
  ``Secure`` under TLS. A session ends when it is older than ``max_age_s``,
  at logout (:meth:`SessionStore.revoke`), and when its user's *credential
  stamp* changes: the stamp is a digest of the user's password hash, so
  ``rig-ground user passwd`` (a new salt, a new hash) and ``user remove`` end
  every session of that user on its next check. Open WebSockets are checked
  every ``WS_RECHECK_S`` (see ``api.websocket_endpoint``), so they close within a
  second of either. A restart of the console ends every session.
* The role is *not* in the session: it is read from the user file on every
  request, so a role change takes effect at once.
* Every state-changing request (POST) must carry the session's CSRF token in
  the ``X-CSRF-Token`` header or a ``csrf`` form field; the login form, which
  has no session yet, uses a signed pre-session token (cookie + hidden field,
  double submit). Tokens are compared in constant time.
* A browser that logged in as a user gets a signed, long-lived *device
  cookie* for that user (``rig_console_device``); the login guard lets it past
  the per-user and per-address lockouts (see ``login_guard``). It grants
  nothing else: the password is still checked.
* The secret comes from a file (created with 0600 if missing), so device
  cookies survive a restart, or is random per process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = ["Session", "SessionStore", "credential_stamp", "load_secret", "tokens_match"]

SESSION_COOKIE = "rig_console_session"
LOGIN_COOKIE = "rig_console_login"
DEVICE_COOKIE = "rig_console_device"
DEVICE_MAX_AGE_S = 90 * 24 * 3600
#: Open WebSockets re-check their session this often (seconds).
WS_RECHECK_S = 0.25


@dataclass(frozen=True, slots=True)
class Session:
    sid: str
    user: str
    csrf: str
    stamp: str  # the user's credential stamp when the session was opened
    created: float


def tokens_match(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def credential_stamp(password_hash: str) -> str:
    """A digest of a user's stored password hash: it changes when the password does."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def load_secret(path: str | Path | None) -> bytes:
    """The signing secret: read from ``path`` (created if missing), or random."""
    if path is None:
        return secrets.token_bytes(32)
    path = Path(path)
    try:
        data = path.read_bytes().strip()
        if len(data) >= 32:
            return data
    except FileNotFoundError:
        pass
    data = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data + b"\n")
    return data


class SessionStore:
    """Sessions by id, in memory; every public call takes ``now`` (wall seconds)."""

    def __init__(self, secret: bytes, *, max_age_s: float = 12 * 3600, secure: bool = False,
                 max_sessions: int = 10_000) -> None:
        self._ids = URLSafeTimedSerializer(secret, salt="rig-console-session-id")
        self._login = URLSafeTimedSerializer(secret, salt="rig-console-login")
        self._device = URLSafeTimedSerializer(secret, salt="rig-console-device")
        self._sessions: dict[str, Session] = {}
        self.max_age_s = max_age_s
        self.max_sessions = max_sessions
        self.secure = secure

    def __len__(self) -> int:
        return len(self._sessions)

    # ------------------------------------------------------------------ sessions
    def new_session(self, user: str, stamp: str, now: float) -> tuple[Session, str]:
        """A new session for ``user`` and its cookie value."""
        if len(self._sessions) >= self.max_sessions:
            self._expire(now)
            while len(self._sessions) >= self.max_sessions:  # the oldest go first
                del self._sessions[next(iter(self._sessions))]
        session = Session(secrets.token_urlsafe(24), user, secrets.token_urlsafe(24), stamp,
                          now)
        self._sessions[session.sid] = session
        return session, self._ids.dumps(session.sid)

    def read_session(self, cookie: str | None, now: float) -> Session | None:
        """The live session a cookie names, or ``None`` (unsigned, unknown, ended, expired)."""
        if not cookie:
            return None
        try:
            sid: Any = self._ids.loads(cookie)
        except BadSignature:
            return None
        return self.get(sid, now) if isinstance(sid, str) else None

    def get(self, sid: str, now: float) -> Session | None:
        session = self._sessions.get(sid)
        if session is None:
            return None
        if now - session.created > self.max_age_s:
            del self._sessions[sid]
            return None
        return session

    def revoke(self, sid: str) -> bool:
        return self._sessions.pop(sid, None) is not None

    def revoke_user(self, user: str) -> int:
        ended = [sid for sid, s in self._sessions.items() if s.user == user]
        for sid in ended:
            del self._sessions[sid]
        return len(ended)

    def _expire(self, now: float) -> None:
        for sid in [sid for sid, s in self._sessions.items()
                    if now - s.created > self.max_age_s]:
            del self._sessions[sid]

    # ------------------------------------------------------------------ login form
    def new_login_token(self) -> tuple[str, str]:
        """(token for the form, cookie value)."""
        token = secrets.token_urlsafe(24)
        return token, self._login.dumps(token)

    def login_token_ok(self, cookie: str | None, form_token: str | None) -> bool:
        if not cookie:
            return False
        try:
            token = self._login.loads(cookie, max_age=3600)
        except BadSignature:
            return False
        return isinstance(token, str) and tokens_match(token, form_token)

    # ------------------------------------------------------------------ device cookies
    def new_device_cookie(self, user: str, device: str | None = None) -> tuple[str, str]:
        """(device id, cookie value) proving this browser logged in as ``user`` before."""
        device = device or secrets.token_urlsafe(12)
        return device, self._device.dumps({"u": user, "d": device})

    def read_device(self, cookie: str | None) -> tuple[str, str] | None:
        """(user, device id) from a device cookie, or ``None``."""
        if not cookie:
            return None
        try:
            data: Any = self._device.loads(cookie, max_age=DEVICE_MAX_AGE_S)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) \
                or not isinstance(data.get("d"), str):
            return None
        return data["u"], data["d"]

    def cookie_args(self) -> dict[str, Any]:
        return {"httponly": True, "samesite": "strict", "secure": self.secure, "path": "/"}
