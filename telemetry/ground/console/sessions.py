"""Signed-cookie sessions and CSRF tokens for the console (itsdangerous).

* The session cookie holds ``{"u": user, "c": csrf token}`` signed (HMAC-SHA1
  via itsdangerous, with a timestamp) with the server secret; it is
  ``HttpOnly``, ``SameSite=Strict``, ``Secure`` under TLS, and expires after
  ``max_age_s``. The role is *not* in the cookie: it is read from the user file
  on every request, so removing a user or changing a role takes effect at once.
* Every state-changing request (POST) must carry the session's CSRF token in
  the ``X-CSRF-Token`` header or a ``csrf`` form field; the login form, which
  has no session yet, uses a signed pre-session token (cookie + hidden field,
  double submit). Tokens are compared in constant time.
* The secret comes from a file (created with 0600 if missing) so sessions
  survive a restart, or is random per process.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

__all__ = ["Session", "SessionCodec", "load_secret", "tokens_match"]

SESSION_COOKIE = "rig_console_session"
LOGIN_COOKIE = "rig_console_login"


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    csrf: str


def tokens_match(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


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


class SessionCodec:
    def __init__(self, secret: bytes, *, max_age_s: float = 12 * 3600,
                 secure: bool = False) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt="rig-console-session")
        self._login = URLSafeTimedSerializer(secret, salt="rig-console-login")
        self.max_age_s = max_age_s
        self.secure = secure

    def new_session(self, user: str) -> tuple[Session, str]:
        session = Session(user, secrets.token_urlsafe(24))
        return session, self._sessions.dumps({"u": session.user, "c": session.csrf})

    def read_session(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            data: Any = self._sessions.loads(cookie, max_age=self.max_age_s)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("u"), str) \
                or not isinstance(data.get("c"), str):
            return None
        return Session(data["u"], data["c"])

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

    def cookie_args(self) -> dict[str, Any]:
        return {"httponly": True, "samesite": "strict", "secure": self.secure, "path": "/"}
