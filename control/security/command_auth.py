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
   rights (``unauthorised``), the timing rules of ``control.core.command_timing``
   (``expired``, ``future``, ``stale``, ``ttl_too_long``) and the replay window
   (``replayed``, ``counter_too_old``);
5. only then the key's counter is persisted (``store_unavailable`` if that
   fails: fail closed, except that a ``stop``/``estop`` still goes through,
   because refusing a stop is the unsafe direction).

The controller's command gate is ``admit(raw, now_wall)``: the same verdict, with
an accepted command already turned into the ``control.core.commands.GroundCommand``
the core applies (decoded once, here; timing checked once, here, against
``SecurityConfig.timing``, which the controller fills from ``[ground]``). The
controller acks a ``Rejection`` as rejected with ``rejection.ack_reason``,
raises a ``command_rejected`` event with ``rejection.event_fields()``, and does
nothing else with it: nothing about a rejected command reaches the firmware.
``verify(topic, raw, now_wall)`` gives the ``AuthorizedCommand`` with the exact signed
body bytes (``payload``), for tools that keep them.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

from nacl.exceptions import BadSignatureError

from control.core.command_timing import timing_verdict
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

    def __init__(self, config: SecurityConfig, store: ReplayStore, topic: str) -> None:
        self.config = config
        self.store = store
        self.topic = topic
        self.accepted = 0
        self.rejected: dict[RejectReason, int] = {}

    # --- the seam ---------------------------------------------------------------------
    def verify(self, topic: str, payload: bytes, now_wall: float
               ) -> AuthorizedCommand | Rejection:
        """Check one message received on ``topic`` at rover wall-clock ``now_wall``."""
        try:
            result = self._verify(topic, bytes(payload), now_wall)
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

    def admit(self, raw: bytes, now_wall: float) -> GroundCommand | Rejection:
        """``control.core.policy.CommandAuthenticator``: the command to apply, or why not."""
        result = self.verify(self.topic, raw, now_wall)
        return result if isinstance(result, Rejection) else result.to_command()

    # --- checks -----------------------------------------------------------------------
    def _verify(self, topic: str, payload: bytes, now: float) -> AuthorizedCommand | Rejection:
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
        name = self._check(body, station.commands, now)
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
        try:
            self.store.save(env.key_id, window.accept(body.counter), now)
        except (OSError, sqlite3.Error) as err:
            log.error("replay store write failed for key %s: %s", env.key_id, err)
            if name not in FAIL_SAFE_COMMANDS:
                return Rejection(RejectReason.STORE_UNAVAILABLE, f"cannot persist the counter "
                                 f"({type(err).__name__}); only stop/estop are accepted", topic,
                                 body.command_id, env.key_id, True, body.counter)
        return AuthorizedCommand(env.key_id, station.role, body.counter, body.command_id,
                                 name, body.issued_at, body.expires_at,
                                 body.args, env.body, topic)

    def _check(self, body: CommandBody, allowed: frozenset[CommandName], now: float
               ) -> CommandName | tuple[RejectReason, str]:
        """The command's name when the key may send it now, else why not."""
        cfg = self.config
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
        timing = timing_verdict(body.issued_at, body.expires_at, now, cfg.timing)
        return name if timing is None else timing


__all__ = [
    "FAIL_SAFE_COMMANDS",
    "AuthorizedCommand",
    "Rejection",
    "SignedCommandAuthenticator",
]
