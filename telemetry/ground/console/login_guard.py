"""Login rate limits and lockouts (sans-I/O: every call takes ``now``).

Rules, checked *before* a password is hashed (so a refused attempt costs no
scrypt at all):

1. **Per client address**: a token bucket (``address_burst`` attempts, refilled
   at ``address_per_s``); every attempt from an untrusted client takes a token,
   so a flood from one address is refused after its burst.
2. **Per user**: ``user_failures`` failed attempts for one user name (from any
   untrusted client) lock that name for ``lockout_s``, doubling at each new
   lockout up to ``lockout_max_s``; a success resets it.
3. **Trusted devices go round both.** A browser that has logged in as a user
   before holds a signed device cookie for that user (``sessions``); its
   attempts for that user skip rules 1 and 2 and are limited only by their
   own failure count (``device_failures`` per ``lockout_s``). An attacker
   cannot forge that cookie, so however hard they flood an address or a user
   name, every operator who has logged in from their browser before still gets
   in, with their password. A browser never seen before is locked out for at
   most ``lockout_max_s`` after the attack stops.

State is bounded: at most ``max_entries`` addresses, users and devices are
remembered (the stalest are forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["LoginDecision", "LoginGuard", "LoginGuardConfig"]


@dataclass(frozen=True, slots=True)
class LoginGuardConfig:
    address_burst: int = 10
    address_per_s: float = 10 / 60
    user_failures: int = 5
    lockout_s: float = 60.0
    lockout_max_s: float = 900.0
    device_failures: int = 5
    max_entries: int = 10_000


@dataclass(frozen=True, slots=True)
class LoginDecision:
    allowed: bool
    reason: str = ""  # why not: "address", "user" or "device"
    retry_after_s: float = 0.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    t: float


@dataclass(slots=True)
class _Lock:
    failures: int = 0
    until: float = 0.0
    lockouts: int = 0


class LoginGuard:
    def __init__(self, config: LoginGuardConfig | None = None) -> None:
        self.config = config or LoginGuardConfig()
        self._addresses: OrderedDict[str, _Bucket] = OrderedDict()
        self._users: OrderedDict[str, _Lock] = OrderedDict()
        self._devices: OrderedDict[str, _Lock] = OrderedDict()
        self.refused = 0

    def check(self, user: str, address: str, device: str | None, now: float) -> LoginDecision:
        """May this attempt be checked? ``device`` is the id of a valid device cookie *for
        this user*, or ``None``. An allowed untrusted attempt takes an address token."""
        decision = self._decide(user, address, device, now)
        if not decision.allowed:
            self.refused += 1
        return decision

    def _decide(self, user: str, address: str, device: str | None,
                now: float) -> LoginDecision:
        if device is not None:
            lock = self._devices.get(device)
            if lock is None or lock.until <= now:
                return LoginDecision(True)
            return LoginDecision(False, "device", lock.until - now)
        lock = self._users.get(user)
        if lock is not None and lock.until > now:
            return LoginDecision(False, "user", lock.until - now)
        cfg = self.config
        bucket = self._addresses.get(address)
        if bucket is None:
            bucket = _Bucket(float(cfg.address_burst), now)
            self._remember(self._addresses, address, bucket)
        bucket.tokens = min(float(cfg.address_burst),
                            bucket.tokens + (now - bucket.t) * cfg.address_per_s)
        bucket.t = now
        if bucket.tokens < 1.0:
            return LoginDecision(False, "address", (1.0 - bucket.tokens) / cfg.address_per_s)
        bucket.tokens -= 1.0
        self._addresses.move_to_end(address)
        return LoginDecision(True)

    def failed(self, user: str, device: str | None, now: float) -> None:
        cfg = self.config
        table, key, limit = (self._devices, device, cfg.device_failures) if device is not None \
            else (self._users, user, cfg.user_failures)
        lock = table.get(key)
        if lock is None:
            lock = _Lock()
            self._remember(table, key, lock)
        lock.failures += 1
        if lock.failures >= limit:
            lock.until = now + min(cfg.lockout_max_s, cfg.lockout_s * 2 ** lock.lockouts)
            lock.lockouts += 1
            lock.failures = 0

    def succeeded(self, user: str, device: str | None) -> None:
        self._users.pop(user, None)
        if device is not None:
            self._devices.pop(device, None)

    def _remember(self, table: OrderedDict, key: str, value: object) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > self.config.max_entries:
            table.popitem(last=False)
