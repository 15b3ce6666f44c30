"""The console's login path: the guard, a bounded scrypt pool of its own, new sessions.

Password checks (scrypt, tens of milliseconds of CPU and 32 MiB each) run in
a thread pool that belongs to the login path alone (``workers`` threads), with
at most ``max_pending`` checks queued: beyond that an attempt is refused at
once ("busy") instead of queueing. Nothing else runs in that pool, and the
command path has its own executor (``GroundClient``), so a login flood never
delays ``stop`` or ``estop`` behind attackers' hashes. The login guard
(``login_guard``) refuses most of a flood before any hashing.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from telemetry.ground.console.login_guard import LoginGuard
from telemetry.ground.console.sessions import SessionStore, credential_stamp
from telemetry.ground.console.users import User, UserStore, check_password

__all__ = ["Authenticator", "LoginResult"]

log = logging.getLogger(__name__)

LOG_EVERY_S = 10.0


@dataclass(frozen=True, slots=True)
class LoginResult:
    outcome: str  # "ok", "wrong", "limited" or "busy"
    user: User | None = None
    session_cookie: str = ""
    device_cookie: str = ""
    retry_after_s: float = 0.0


class Authenticator:
    def __init__(self, users: UserStore, sessions: SessionStore, guard: LoginGuard, *,
                 workers: int = 1, max_pending: int = 4) -> None:
        self.users = users
        self.sessions = sessions
        self.guard = guard
        self.max_pending = max_pending
        self.pending = 0
        self.busy_refusals = 0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="console-scrypt")
        self._unlogged = 0
        self._logged_at: float | None = None

    def _log_refusal(self, name: str, address: str, reason: str, now: float) -> None:
        """One line per ``LOG_EVERY_S`` however hard the flood (a line each would be work
        for the loop and a flood of the log)."""
        self._unlogged += 1
        if self._logged_at is None or now - self._logged_at >= LOG_EVERY_S:
            log.warning("console: %d login attempt(s) refused since the last report (latest: "
                        "%r from %s, %s limit)", self._unlogged, name, address, reason)
            self._unlogged, self._logged_at = 0, now

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def login(self, name: str, password: str, address: str, device_cookie: str | None,
                    now: float) -> LoginResult:
        """Check one attempt; never raises for a wrong or refused one."""
        known = self.sessions.read_device(device_cookie)
        device = known[1] if known is not None and known[0] == name else None
        decision = self.guard.check(name, address, device, now)
        if not decision.allowed:
            self._log_refusal(name, address, decision.reason, now)
            return LoginResult("limited", retry_after_s=decision.retry_after_s)
        if self.pending >= self.max_pending:
            self.busy_refusals += 1
            return LoginResult("busy", retry_after_s=1.0)
        self.pending += 1
        try:
            user = self.users.get(name)  # the file is read here, in the loop, not in the pool
            ok = await asyncio.get_running_loop().run_in_executor(
                self._pool, check_password, user, password)
        finally:
            self.pending -= 1
        if user is None or not ok:
            self.guard.failed(name, device, now)
            return LoginResult("wrong")
        self.guard.succeeded(name, device)
        _, session_cookie = self.sessions.new_session(user.name, credential_stamp(user.password),
                                                      now)
        _, device_cookie = self.sessions.new_device_cookie(user.name, device)
        return LoginResult("ok", user, session_cookie, device_cookie)
