"""The signed ground-command wire format (docs/commands.md), both directions.

Theory of operation
-------------------
A ground station publishes on ``{prefix}/{rig}/cmd`` an *envelope*::

    {"v": 1, "alg": "ed25519", "key": "ops-1", "payload": "<base64>", "sig": "<base64>"}

``payload`` is the base64 of the exact *body* bytes that were signed; the body
is the JSON command the controller parses (``control.core.commands``) plus the
replay counter::

    {"v": 1, "counter": 1732540000123, "id": "c-17", "command": "arm", "args": {},
     "issued_at": 1732540000.1, "expires_at": 1732540030.1}

The signature covers ``SIGN_DOMAIN || u16be(len(topic)) || topic || body``:
bytes, not re-encoded JSON, so no canonicalisation is needed and the rover
verifies exactly what the station signed; the topic (hence the rig id) is
bound, so a command for one rig cannot be replayed to another rig that trusts
the same key.

Rules: UTF-8 only; no duplicate keys, no NaN/Infinity, no unknown fields (a
parser differential is an attack surface); base64 is RFC 4648 standard
alphabet with padding, canonical (re-encodes to the same text). Decoding never
raises anything but ``WireRefusal`` (a reason code and a detail), which the
authenticator turns into a ``Rejection``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NoReturn

from nacl.signing import SigningKey

from rig_common import finite_in
from rig_common.bounded import short_repr
from telemetry.contract.json_fields import JsonObject, JsonValue
from telemetry.contract.names import CommandName

WIRE_VERSION = 1
ALGORITHM = "ed25519"
SIGN_DOMAIN = b"regolith-rig/cmd/v1\x00"
MAX_ENVELOPE_BYTES = 8192
MAX_BODY_BYTES = 4096  # also the limit of a plain command (control.security.command_intake)
MAX_COUNTER = (1 << 63) - 1
MAX_NESTING = 32  # arrays and objects inside each other; no command needs more than 3
_ID_RE = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces
ENVELOPE_FIELDS = frozenset({"v", "alg", "key", "payload", "sig"})
BODY_FIELDS = frozenset({"v", "counter", "id", "command", "args", "issued_at", "expires_at"})


class RejectReason(enum.StrEnum):
    """Why a command was refused; the value is the code in the ack (``reason: detail``)."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    MALFORMED = "malformed"  # missing field, wrong type, unknown field, bad version
    BAD_ENCODING = "bad_encoding"  # base64
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_COMMAND = "unknown_command"
    UNAUTHORISED = "unauthorised"
    EXPIRED = "expired"
    STALE = "stale"  # issued longer ago than the timestamp window
    FUTURE = "future"  # issued further in the future than the clock-skew allowance
    TTL_TOO_LONG = "ttl_too_long"
    REPLAYED = "replayed"  # counter already accepted
    COUNTER_TOO_OLD = "counter_too_old"  # below the replay window (reordered too far)
    STORE_UNAVAILABLE = "store_unavailable"  # replay store failed: fail closed
    BUSY = "busy"  # the rover's inbound command queue was full: not executed


class WireRefusal(Exception):
    """Internal: a decoding or checking step refused the message."""

    def __init__(self, reason: RejectReason, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}")


@dataclass(frozen=True, slots=True)
class SignedEnvelope:
    """The signed command envelope, decoded (``telemetry.contract.payloads.Envelope`` is the
    unrelated header of every downlink message)."""

    key_id: str
    body: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class CommandBody:
    """The signed body. ``command`` is the name as sent: ``name`` is its ``CommandName``
    (``None`` for a name the rover does not know, refused after the signature check)."""

    counter: int
    command_id: str
    command: str
    issued_at: float
    expires_at: float
    args: JsonObject = field(default_factory=dict)

    @property
    def name(self) -> CommandName | None:
        return CommandName.lookup(self.command)


def signing_bytes(topic: str, body: bytes) -> bytes:
    """The exact bytes an Ed25519 signature covers (docs/commands.md, "Signing")."""
    t = topic.encode("utf-8")
    if len(t) > 0xFFFF:
        raise ValueError(f"topic is {len(t)} bytes, at most 65535")
    return SIGN_DOMAIN + len(t).to_bytes(2, "big") + t + body


# --- ground side ------------------------------------------------------------------------


def encode_body(body: CommandBody) -> bytes:
    """Body bytes (compact JSON, UTF-8). Raises ``ValueError`` for unencodable content."""
    if not _ID_RE.match(body.command_id):
        raise ValueError(f"id: expected 1-128 printable ASCII characters, got {body.command_id!r}")
    if not 0 < body.counter <= MAX_COUNTER:
        raise ValueError(f"counter: expected 1..2^63-1, got {body.counter}")
    obj = {"v": WIRE_VERSION, "counter": body.counter, "id": body.command_id,
           "command": body.command, "args": dict(body.args), "issued_at": body.issued_at,
           "expires_at": body.expires_at}
    data = json.dumps(obj, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode()
    if len(data) > MAX_BODY_BYTES:
        raise ValueError(f"body is {len(data)} bytes, at most {MAX_BODY_BYTES}")
    return data


def sign_envelope(key_id: str, signing_key: SigningKey, topic: str, body: bytes) -> bytes:
    """The envelope to publish on ``topic``: body signed with ``signing_key``."""
    sig = signing_key.sign(signing_bytes(topic, body)).signature
    obj = {"v": WIRE_VERSION, "alg": ALGORITHM, "key": key_id,
           "payload": base64.b64encode(body).decode("ascii"),
           "sig": base64.b64encode(sig).decode("ascii")}
    return json.dumps(obj, separators=(",", ":")).encode()


# --- rover side -------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, JsonValue]]) -> JsonObject:
    out: JsonObject = {}
    for k, v in pairs:
        if k in out:
            raise WireRefusal(RejectReason.MALFORMED, f"duplicate field {k!r}")
        out[k] = v
    return out


def _no_constants(name: str) -> NoReturn:
    raise WireRefusal(RejectReason.NOT_JSON, f"{name} is not allowed in JSON")


def _nesting(data: bytes) -> int:
    """How deeply arrays and objects nest in ``data`` (brackets inside strings ignored).

    Bounding this before ``json.loads`` keeps the decoder total: deep nesting would
    otherwise raise ``RecursionError``, at a depth that depends on the caller's stack."""
    if data.count(b"[") + data.count(b"{") <= MAX_NESTING:
        return 0  # cannot nest deeper than it has brackets: skip the scan
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return deepest


def strict_json_object(data: bytes, what: str) -> JsonObject:
    """Parse UTF-8 JSON that must be an object; raises only ``WireRefusal``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WireRefusal(RejectReason.NOT_JSON,
                          f"{what} is not UTF-8 (byte {err.start})") from None
    if _nesting(data) > MAX_NESTING:
        raise WireRefusal(RejectReason.NOT_JSON,
                          f"{what} nests deeper than {MAX_NESTING} levels")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except WireRefusal:
        raise
    except RecursionError:  # pragma: no cover - _nesting refuses deep input first
        raise WireRefusal(RejectReason.NOT_JSON, f"{what} nests too deeply") from None
    except ValueError as err:  # JSONDecodeError, int too long
        raise WireRefusal(RejectReason.NOT_JSON, f"{what} is not JSON: {err}") from None
    if not isinstance(obj, dict):
        raise WireRefusal(RejectReason.MALFORMED,
                          f"{what}: expected a JSON object, got {type(obj).__name__}")
    return obj


def b64decode_strict(value: object, name: str, *, expect_len: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise WireRefusal(RejectReason.MALFORMED,
                          f"{name!r} must be a base64 string, got {type(value).__name__}")
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as err:
        raise WireRefusal(RejectReason.BAD_ENCODING, f"{name!r} is not valid base64: "
                          f"{err}") from None
    if base64.b64encode(raw).decode("ascii") != value:
        raise WireRefusal(RejectReason.BAD_ENCODING, f"{name!r} is not canonical base64")
    if expect_len is not None and len(raw) != expect_len:
        raise WireRefusal(RejectReason.BAD_ENCODING,
                          f"{name!r}: expected {expect_len} bytes, got {len(raw)}")
    return raw


def decode_envelope(data: bytes) -> SignedEnvelope:
    """Structure of the envelope (no crypto yet); raises only ``WireRefusal``."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise WireRefusal(RejectReason.TOO_LARGE,
                          f"payload is {len(data)} bytes, at most {MAX_ENVELOPE_BYTES} accepted")
    obj = strict_json_object(data, "payload")
    if "sig" not in obj:
        if "command" in obj or "payload" in obj:
            raise WireRefusal(RejectReason.UNSIGNED,
                              "command is not signed (no 'sig' field); see docs/commands.md")
        raise WireRefusal(RejectReason.MALFORMED, "missing field 'sig'")
    for name in ("v", "alg", "key", "payload"):
        if name not in obj:
            raise WireRefusal(RejectReason.MALFORMED, f"missing field {name!r}")
    unknown = sorted(set(obj) - ENVELOPE_FIELDS)
    if unknown:
        raise WireRefusal(RejectReason.MALFORMED, f"unknown field {unknown[0][:32]!r}")
    if type(obj["v"]) is not int or obj["v"] != WIRE_VERSION:
        raise WireRefusal(RejectReason.MALFORMED,
                          f"'v': expected {WIRE_VERSION}, got {short_repr(obj['v'])}")
    if obj["alg"] != ALGORITHM:
        raise WireRefusal(RejectReason.MALFORMED,
                          f"'alg': expected {ALGORITHM!r}, got {short_repr(obj['alg'])}")
    key_id = obj["key"]
    if not isinstance(key_id, str) or not 1 <= len(key_id) <= 64:
        raise WireRefusal(RejectReason.MALFORMED,
                          f"'key': expected a key id string, got {short_repr(key_id)}")
    sig = b64decode_strict(obj["sig"], "sig", expect_len=64)
    body = b64decode_strict(obj["payload"], "payload")
    if len(body) > MAX_BODY_BYTES:
        raise WireRefusal(RejectReason.TOO_LARGE,
                          f"signed body is {len(body)} bytes, at most {MAX_BODY_BYTES}")
    return SignedEnvelope(key_id, body, sig)


def _number(obj: Mapping[str, JsonValue], name: str) -> float:
    return finite_in(obj[name], name, error=_malformed)


def _malformed(key: str, problem: str) -> WireRefusal:
    return WireRefusal(RejectReason.MALFORMED, f"{key!r}: {problem}")


def decode_body(body: bytes) -> CommandBody:
    """Fields of the (already authenticated) body; raises only ``WireRefusal``."""
    obj = strict_json_object(body, "signed body")
    for name in sorted(BODY_FIELDS):
        if name not in obj:
            raise WireRefusal(RejectReason.MALFORMED, f"signed body: missing field {name!r}")
    unknown = sorted(set(obj) - BODY_FIELDS)
    if unknown:
        raise WireRefusal(RejectReason.MALFORMED,
                          f"signed body: unknown field {unknown[0][:32]!r}")
    if type(obj["v"]) is not int or obj["v"] != WIRE_VERSION:
        raise WireRefusal(RejectReason.MALFORMED,
                          f"signed body 'v': expected {WIRE_VERSION}, got {short_repr(obj['v'])}")
    counter = obj["counter"]
    if type(counter) is not int or not 0 < counter <= MAX_COUNTER:
        raise WireRefusal(RejectReason.MALFORMED,
                          f"'counter': expected an integer in 1..2^63-1, got {short_repr(counter)}")
    cid = obj["id"]
    if not isinstance(cid, str) or not _ID_RE.match(cid):
        raise WireRefusal(RejectReason.MALFORMED,
                          f"'id': expected 1-128 printable ASCII characters, got {short_repr(cid)}")
    name = obj["command"]
    if not isinstance(name, str):
        raise WireRefusal(RejectReason.MALFORMED,
                          f"'command': expected a string, got {type(name).__name__}")
    args = obj["args"]
    if not isinstance(args, dict):
        raise WireRefusal(RejectReason.MALFORMED,
                          f"'args': expected an object, got {type(args).__name__}")
    return CommandBody(counter, cid, name, _number(obj, "issued_at"),
                       _number(obj, "expires_at"), args)


def peek_command_id(body: bytes) -> str:
    """Best-effort id of an *unauthenticated* body for the rejection ack ("" if none).

    Only printable ASCII ids of at most 128 characters are echoed."""
    try:
        obj = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return ""
    cid = obj.get("id") if isinstance(obj, dict) else None
    return cid if isinstance(cid, str) and _ID_RE.match(cid) else ""


def peek_payload_command_id(payload: bytes) -> str:
    """Best-effort id of any command-topic payload, signed or plain ("" if none).

    For acking a payload the rover will not decode (a full inbound queue); never
    raises. The id is unauthenticated: it only names the ack."""
    if len(payload) > MAX_ENVELOPE_BYTES:
        return ""
    try:
        return peek_command_id(decode_envelope(payload).body)
    except WireRefusal:
        return peek_command_id(payload)


__all__ = [
    "ALGORITHM",
    "MAX_BODY_BYTES",
    "MAX_ENVELOPE_BYTES",
    "SIGN_DOMAIN",
    "WIRE_VERSION",
    "CommandBody",
    "RejectReason",
    "SignedEnvelope",
    "WireRefusal",
    "b64decode_strict",
    "decode_body",
    "decode_envelope",
    "encode_body",
    "peek_command_id",
    "peek_payload_command_id",
    "sign_envelope",
    "signing_bytes",
    "strict_json_object",
]
