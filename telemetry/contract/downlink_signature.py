"""Rover signatures on the downlink messages operators act on (docs/telemetry.md, "Signed
downlink").

Theory of operation:

* The rover signs each state, event, ack, status and ledger payload with its own
  Ed25519 key (the key that signs the ledger) when the payload is encoded,
  once, before it enters the outbox. The signature is one more JSON field at
  the end of the payload, ``"sig"`` (standard base64 of 64 bytes), so a
  ``mosquitto_sub`` reader and a decoder that does not know it still read the
  message; it composes with any typed payload class, since it works on the
  encoded bytes.
* What is signed: ``b"rig-downlink-v1\\0" + topic + b"\\0" + payload`` where
  ``payload`` is the encoded message without the ``sig`` field and with both
  delivery flags false (the publisher rewrites ``historical`` and ``resend`` at
  send time; they say how the message travelled, not what the rig said). The
  topic is signed so that a genuine payload cannot be replayed under another
  kind or another rig; the envelope (rig, boot, seq) inside it keeps replays of
  the same message duplicates.
* Batches and statistics stay unsigned: 10+ messages a second per rig of
  numbers nobody acts on one by one (the console acts on state, events and
  acks); the cost figure is in ``bench/bench_downlink_signature.py``.
* The ground verifies with the rig's public key from its own configuration
  (never a key the message names): :func:`verify_payload` returns a
  :class:`Verdict`; it never raises on wire garbage.
"""

from __future__ import annotations

import base64
import binascii
import enum

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from telemetry.contract.errors import PayloadEncodeError
from telemetry.contract.payloads import clear_delivery_flags

__all__ = ["SIGNED_KINDS", "Verdict", "sign_payload", "split_signature", "verify_payload"]

#: Topic kinds whose payloads the rover signs.
SIGNED_KINDS = frozenset({"state", "event", "ack", "status", "ledger"})

_DOMAIN = b"rig-downlink-v1\0"
_FIELD = b',"sig":"'
_SIG_B64 = 88  # base64 of 64 bytes
_SUFFIX = len(_FIELD) + _SIG_B64 + 2  # ,"sig":"<88>"}


class Verdict(enum.Enum):
    VERIFIED = "verified"  # signed by the configured key of that rig
    UNSIGNED = "unsigned"  # no signature field
    BAD_SIGNATURE = "bad_signature"  # a signature that does not verify


def _signed_bytes(topic: str, payload: bytes) -> bytes:
    return _DOMAIN + topic.encode("utf-8") + b"\0" + payload


def sign_payload(key: SigningKey, topic: str, payload: bytes) -> bytes:
    """``payload`` (a JSON payload from ``encode``, flags false) with its ``sig`` field."""
    if not (payload.startswith(b"{") and payload.endswith(b"}")):
        raise PayloadEncodeError("expected an encode() JSON payload to sign")
    sig = key.sign(_signed_bytes(topic, payload)).signature
    return payload[:-1] + _FIELD + base64.b64encode(sig) + b'"}'


def split_signature(payload: bytes) -> tuple[bytes, bytes | None]:
    """(the payload without its ``sig`` field, the signature or ``None``)."""
    if len(payload) <= _SUFFIX or not payload.endswith(b'"}') \
            or payload[-_SUFFIX:-_SUFFIX + len(_FIELD)] != _FIELD:
        return payload, None
    try:
        sig = base64.b64decode(payload[-_SUFFIX + len(_FIELD):-2], validate=True)
    except (binascii.Error, ValueError):
        return payload, None
    return payload[:-_SUFFIX] + b"}", sig


def verify_payload(key: VerifyKey, topic: str, payload: bytes) -> Verdict:
    """Check a received payload against the rig's public key; never raises."""
    body, sig = split_signature(bytes(payload))
    if sig is None:
        return Verdict.UNSIGNED
    try:
        key.verify(_signed_bytes(topic, clear_delivery_flags(body)), sig)
    except (BadSignatureError, ValueError):
        return Verdict.BAD_SIGNATURE
    return Verdict.VERIFIED
