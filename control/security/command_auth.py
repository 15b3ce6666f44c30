"""The rover's command authenticator: raw bytes from the command topic in, a verdict out.

Theory of operation
-------------------
``SignedCommandAuthenticator.verify(topic, payload, now_wall)`` returns an
``AuthorizedCommand`` or a ``Rejection``; it never raises on any input and
never blocks on anything but one SQLite commit for an accepted command. Checks
run cheapest and least trusting first, and nothing from the body is believed
before the signature verified:

1. size, UTF-8, strict JSON, envelope fields, base64 (``decode_envelope``);
2. the key id is configured (``unknown_key``);
3. the Ed25519 signature over ``signing_bytes(topic, body)`` (``bad_signature``);
4. body fields (``malformed``), command name (``unknown_command``), the key's
   rights (``unauthorised``) and the replay window (``replayed``,
   ``counter_too_old``);
5. the command's ``issued_at`` is a sample of the ground's clock
   (``control.security.ground_clock``: authenticated and fresh, so it may move
   the estimate), and the timing rules of ``control.core.command_timing``
   (``expired``, ``future``, ``stale``, ``ttl_too_long``) are applied in that
   estimated *ground* time, except to a safe-direction command (``stop``,
   ``estop``, ``[ground] safe_direction_commands``), which passes them all;
6. only then the key's counter is persisted, with the clock's floor
   (``store_unavailable`` if that fails: fail closed, except that a
   ``stop``/``estop`` still goes through, because refusing a stop is the unsafe
   direction).

Every entry point takes the rover's wall clock and, optionally, its monotonic
clock (``now_mono``; the wall reading when omitted, for tests without a clock
step). The controller's command gate is ``admit(raw, now_wall, now_mono)``: the
same verdict, with an accepted command already turned into the
``control.core.commands.GroundCommand`` the core applies (decoded once, here;
timing checked once, here, in the ground's time, against ``SecurityConfig.timing``,
which the controller fills from ``[ground]``). The
controller acks a ``Rejection`` as rejected with ``rejection.ack_reason``,
raises a ``command_rejected`` event with ``rejection.event_fields()``, and does
nothing else with it: nothing about a rejected command reaches the firmware.
``verify(topic, raw, now_wall, now_mono)`` gives the ``AuthorizedCommand`` with the exact signed
body bytes (``payload``), for tools that keep them.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError

from control.core.command_timing import ClockStatus, timing_verdict
from control.core.commands import CommandName, GroundCommand
from control.core.policy import Rejection
from telemetry.contract.command_wire import (
    CommandBody,
    RejectReason,
    WireRefusal,
    decode_body,
    decode_envelope,
    peek_command_id,
    signing_bytes,
)
from telemetry.contract.json_fields import JsonObject
from telemetry.contract.keys import fingerprint

from .ground_clock import GroundClock, GroundClockConfig
from .replay import ReplayStore, ReplayVerdict
from .security_config import ALL_COMMANDS, SecurityConfig

log = logging.getLogger(__name__)

#: Commands still accepted when the replay store cannot be written (safe direction).
FAIL_SAFE_COMMANDS = frozenset({CommandName.STOP, CommandName.ESTOP})


@dataclass(frozen=True, slots=True)
class AuthorizedCommand:
    """A command whose signature, rights, timing and counter all checked out."""

    key_id: str
    role: str
    counter: int
    command_id: str
    command: CommandName
    issued_at: float
    expires_at: float
    args: JsonObject
    payload: bytes  # the exact signed body bytes
    topic: str

    @property
    def source(self) -> str:
        """For ``GroundCommand.source``: who sent it."""
        return f"key:{self.key_id}"

    def to_command(self) -> GroundCommand:
        """The command the core applies (built from the fields decoded above: no
        second parse)."""
        return GroundCommand(self.command_id, self.command, self.expires_at,
                             self.issued_at, dict(self.args), self.source)


class SignedCommandAuthenticator:
    """Verifies signed ground commands for one rig's command topic."""

    def __init__(self, config: SecurityConfig, store: ReplayStore, topic: str,
                 clock: GroundClockConfig | None = None) -> None:
        self.config = config
        self.store = store
        self.topic = topic
        self.accepted = 0
        self.rejected: dict[RejectReason, int] = {}
        self.clock = GroundClock(clock or GroundClockConfig(
            tolerance_s=config.timing.max_future_s), store.load_floor())
        self._clock_lock = threading.Lock()  # the gate thread writes, telemetry reads

    # --- the seam ---------------------------------------------------------------------
    def verify(self, topic: str, payload: bytes, now_wall: float,
               now_mono: float | None = None) -> AuthorizedCommand | Rejection:
        """Check one message received on ``topic`` at rover wall-clock ``now_wall``
        (monotonic ``now_mono``)."""
        mono = now_wall if now_mono is None else now_mono
        try:
            result = self._verify(topic, bytes(payload), now_wall, mono)
        except Exception as err:  # pragma: no cover - a bug must not crash the loop
            log.exception("authenticator failed on a %d-byte payload", len(payload))
            result = Rejection(RejectReason.MALFORMED, f"internal error: {type(err).__name__}",
                               topic)
        if isinstance(result, Rejection):
            self.rejected[result.reason] = self.rejected.get(result.reason, 0) + 1
            log.warning("command rejected on %s: %s (key %r, id %r)", topic, result.ack_reason,
                        result.key_id, result.command_id)
        else:
            self.accepted += 1
            log.info("command %s (%s) accepted from key %s, counter %d", result.command_id,
                     result.command, result.key_id, result.counter)
        return result

    def admit(self, raw: bytes, now_wall: float, now_mono: float | None = None
              ) -> GroundCommand | Rejection:
        """``control.core.policy.CommandAuthenticator``: the command to apply, or why not."""
        result = self.verify(self.topic, raw, now_wall, now_mono)
        return result if isinstance(result, Rejection) else result.to_command()

    def clock_status(self, now_wall: float, now_mono: float) -> ClockStatus:
        """The ground-clock estimate's offset from the rover's clock, and its age."""
        with self._clock_lock:
            return self.clock.status(now_wall, now_mono)

    # --- checks -----------------------------------------------------------------------
    def _verify(self, topic: str, payload: bytes, now: float, mono: float
                ) -> AuthorizedCommand | Rejection:
        try:
            env = decode_envelope(payload)
        except WireRefusal as r:
            cid = peek_command_id(payload) if r.reason is RejectReason.UNSIGNED else ""
            return Rejection(r.reason, r.detail, topic, command_id=cid)
        claimed_id = peek_command_id(env.body)
        station = self.config.stations.get(env.key_id)
        if station is None:
            return Rejection(RejectReason.UNKNOWN_KEY, f"key {env.key_id[:64]!r} is not "
                             f"authorised on this rig", topic, claimed_id, env.key_id)
        if topic != self.topic:
            # the signature binds the topic, so this could only be a bad signature; say why
            return Rejection(RejectReason.BAD_SIGNATURE, f"received on {topic!r}, this rig "
                             f"listens on {self.topic!r}", topic, claimed_id, env.key_id)
        try:
            station.public_key.verify(signing_bytes(topic, env.body), env.signature)
        except BadSignatureError:
            return Rejection(RejectReason.BAD_SIGNATURE, f"signature does not verify with key "
                             f"{env.key_id} ({fingerprint(station.public_key)})", topic,
                             claimed_id, env.key_id)
        # authenticated from here on: the key holder produced these exact bytes
        try:
            body = decode_body(env.body)
        except WireRefusal as r:
            return Rejection(r.reason, r.detail, topic, claimed_id, env.key_id, True)
        name = self._check(body, station.commands)
        if not isinstance(name, CommandName):
            reason, detail = name
            return Rejection(reason, detail, topic, body.command_id, env.key_id, True,
                             body.counter)
        window = self.store.load(env.key_id)
        verdict = window.check(body.counter)
        if verdict is ReplayVerdict.REPLAYED:
            return Rejection(RejectReason.REPLAYED, f"counter {body.counter} of key "
                             f"{env.key_id} was already accepted", topic, body.command_id,
                             env.key_id, True, body.counter)
        if verdict is ReplayVerdict.TOO_OLD:
            return Rejection(RejectReason.COUNTER_TOO_OLD, f"counter {body.counter} of key "
                             f"{env.key_id} is below the replay window (highest accepted "
                             f"{window.highest}, window {window.size})", topic,
                             body.command_id, env.key_id, True, body.counter)
        with self._clock_lock:  # authenticated and fresh: a sample of the ground's clock
            ground_now = self.clock.observe(env.key_id, body.issued_at, now, mono)
            floor = self.clock.floor
        timing = self._timing(body, ground_now, now)
        if timing is not None:
            return Rejection(timing[0], timing[1], topic, body.command_id, env.key_id, True,
                             body.counter)
        try:
            self.store.save(env.key_id, window.accept(body.counter), now)
            if floor is not None:
                self.store.save_floor(floor)
        except (OSError, sqlite3.Error) as err:
            log.error("replay store write failed for key %s: %s", env.key_id, err)
            if name not in FAIL_SAFE_COMMANDS:
                return Rejection(RejectReason.STORE_UNAVAILABLE, f"cannot persist the counter "
                                 f"({type(err).__name__}); only stop/estop are accepted", topic,
                                 body.command_id, env.key_id, True, body.counter)
        return AuthorizedCommand(env.key_id, station.role, body.counter, body.command_id,
                                 name, body.issued_at, body.expires_at,
                                 body.args, env.body, topic)

    def _check(self, body: CommandBody, allowed: frozenset[CommandName]
               ) -> CommandName | tuple[RejectReason, str]:
        """The command's name when the key may send it, else why not (timing apart)."""
        name = body.name
        if name is None:
            return (RejectReason.UNKNOWN_COMMAND, f"unknown command {body.command[:32]!r} "
                    f"(expected one of {', '.join(sorted(ALL_COMMANDS))})")
        if name not in allowed:
            return (RejectReason.UNAUTHORISED, f"this key may not send {body.command!r} "
                    f"(allowed: {', '.join(sorted(allowed))})")
        if body.expires_at <= body.issued_at:
            return (RejectReason.MALFORMED, f"expires_at {body.expires_at} is not after "
                    f"issued_at {body.issued_at}")
        return name

    def _timing(self, body: CommandBody, ground_now: float, rover_wall: float
                ) -> tuple[RejectReason, str] | None:
        timing = self.config.timing
        if timing.exempt(str(body.command)):
            return None
        verdict = timing_verdict(body.issued_at, body.expires_at, ground_now, timing)
        if verdict is None:
            return None
        offset = ground_now - rover_wall
        note = f" (ground time estimated {offset:+.1f} s from the rover's clock)" \
            if abs(offset) >= 0.05 else ""
        return RejectReason(verdict[0].value), verdict[1] + note


__all__ = [
    "FAIL_SAFE_COMMANDS",
    "AuthorizedCommand",
    "Rejection",
    "SignedCommandAuthenticator",
]
