"""Everything the console's request handlers share, and who is asking.

``ConsoleConfig`` is what ``rig-ground serve`` was started with; ``Console``
holds the live objects (the ground client, the user file, the session store,
the login path, the hub, the audit log). ``Console.viewer(request)`` resolves
the session cookie to a :class:`Viewer` (user and role read from the user file
now, so a removed user, or one whose password changed, is out at once) or
``None``; ``Console.still_valid(viewer)`` re-checks an open WebSocket's session.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from nacl.signing import VerifyKey
from starlette.requests import HTTPConnection

from telemetry.contract import CommandName
from telemetry.contract.json_fields import JsonValue
from telemetry.contract.site_plan import SitePlan
from telemetry.ground.client import GroundClient
from telemetry.ground.console.hub import Hub
from telemetry.ground.console.login import Authenticator
from telemetry.ground.console.login_guard import LoginGuardConfig
from telemetry.ground.console.sessions import (
    SESSION_COOKIE,
    Session,
    SessionStore,
    credential_stamp,
)
from telemetry.ground.console.users import ROLES, UserStore, can_acknowledge

__all__ = ["AuditLog", "Console", "ConsoleConfig", "Viewer"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    users_path: Path
    station_key: Path | None = None
    limits_path: Path | None = None
    site_plan: SitePlan | None = None
    rover_key: VerifyKey | None = None
    quotas_kg: Mapping[str, float] | None = None
    recordings: Path | None = None
    audit_log: Path | None = None
    tls: bool = False
    command_timeout_s: float = 10.0
    login_limits: LoginGuardConfig = field(default_factory=LoginGuardConfig)


@dataclass(frozen=True, slots=True)
class Viewer:
    user: str
    role: str
    session: Session

    @property
    def commands(self) -> frozenset[CommandName]:
        return ROLES.get(self.role, frozenset())

    @property
    def can_acknowledge(self) -> bool:
        return can_acknowledge(self.role)


class AuditLog:
    """Appends one JSON line per command and alarm acknowledgement (in its own thread:
    a command's response waits for its audit line, and must not wait for anything else)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.failures = 0
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="console-audit")

    async def write(self, record: Mapping[str, JsonValue]) -> None:
        if self.path is None:
            return
        line = json.dumps(dict(record), separators=(",", ":"), default=str) + "\n"
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._append, line)
        except OSError as err:
            self.failures += 1
            log.error("audit log %s not written: %s", self.path, err)

    def _append(self, line: str) -> None:
        assert self.path is not None
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())


@dataclass(eq=False)
class Console:
    config: ConsoleConfig
    client: GroundClient
    users: UserStore
    sessions: SessionStore
    auth: Authenticator
    hub: Hub
    audit: AuditLog
    clock: Callable[[], float]
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def viewer(self, conn: HTTPConnection) -> Viewer | None:
        session = self.sessions.read_session(conn.cookies.get(SESSION_COOKIE), self.clock())
        return None if session is None else self._check(session)

    def still_valid(self, viewer: Viewer) -> Viewer | None:
        """``viewer`` as it stands now (its role may have changed), or ``None`` once its
        session ended (logout, expiry, password change, user removed)."""
        session = self.sessions.get(viewer.session.sid, self.clock())
        return None if session is None else self._check(session)

    def _check(self, session: Session) -> Viewer | None:
        user = self.users.get(session.user)
        if user is None or credential_stamp(user.password) != session.stamp:
            self.sessions.revoke(session.sid)
            return None
        return Viewer(user.name, user.role, session)
