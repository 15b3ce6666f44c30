"""Typed downlink messages and their wire encodings (docs/telemetry.md, "Payloads").

Theory of operation:

* Every downlink payload is a map whose first two keys are ``historical`` and
  ``resend`` followed by the common envelope (``v``, ``type``, ``rig``, ``boot``,
  ``seq``, ``t_rig``, ``t_mono``) and the type-specific fields.
* State, events, acks, ledger records and status are JSON (human-readable with
  ``mosquitto_sub``); batches and statistics are CBOR with RFC 8746 typed arrays
  (compact and exact for float samples).
* The outbox stores payloads encoded once, at enqueue time, with both flags
  false. The publisher learns only at send time whether a message is historical
  (drained from a backlog) or a resend, so :func:`set_delivery_flags` rewrites
  the fixed-layout prefix in O(1) instead of decoding and re-encoding.
* The state (:class:`~telemetry.contract.rig_state.RigState`), the status info
  (:class:`~telemetry.contract.status_info.RigInfo`) and the fields of the events
  the ground acts on (``event_details``) are typed; ``decode`` validates them and
  names the bad field. Event ``fields`` of other kinds and ledger records are
  arbitrary JSON (a ledger record is checked by ``ledger_format``, whose hash
  covers the record exactly as received).
* ``decode`` raises only :class:`PayloadDecodeError` on any malformed input.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import cbor2
import numpy as np

from rig_common import finite_in
from telemetry.contract.cbor_arrays import array_from_cbor, array_to_cbor
from telemetry.contract.errors import PayloadDecodeError, PayloadEncodeError
from telemetry.contract.event_details import EventDetail, event_detail
from telemetry.contract.json_fields import JsonObject, JsonValue
from telemetry.contract.names import EventKind, TopicKind
from telemetry.contract.rig_state import RigState
from telemetry.contract.status_info import RigInfo
from telemetry.contract.topics import Severity

__all__ = [
    "SCHEMA_VERSION",
    "AckMessage",
    "BatchBlock",
    "BatchMessage",
    "DownlinkMessage",
    "Envelope",
    "EventMessage",
    "LedgerMessage",
    "StateMessage",
    "StatsBlock",
    "StatsMessage",
    "StatusMessage",
    "clear_delivery_flags",
    "decode",
    "encode",
    "set_delivery_flags",
    "topic_kind",
]

SCHEMA_VERSION = 1
MAX_COUNT = (1 << 63) - 1  # the largest boot and seq: SQLite's and PostgreSQL's bigint


@dataclass(frozen=True, slots=True)
class Envelope:
    """Fields every downlink message carries (docs/telemetry.md, "Envelope")."""

    rig: str
    boot: int
    seq: int
    t_rig: float  # rig wall-clock time, Unix seconds
    t_mono: float  # rig monotonic time, seconds since an arbitrary point in this boot
    historical: bool = False
    resend: bool = False


@dataclass(frozen=True, slots=True)
class StatusMessage:
    envelope: Envelope
    online: bool
    info: RigInfo = field(default_factory=RigInfo)
    #: offline because the rover shut down cleanly (it said so itself); an offline status
    #: without it is the broker's last will: the controller crashed, hung or lost its link
    shutdown: bool = False


@dataclass(frozen=True, slots=True)
class StateMessage:
    envelope: Envelope
    state: RigState


@dataclass(frozen=True, slots=True)
class EventMessage:
    envelope: Envelope
    kind: EventKind | str  # decoded as an EventKind; a kind this side does not know stays str
    severity: Severity
    text: str
    fields: Mapping[str, JsonValue] = field(default_factory=dict)
    count: int = 1  # > 1 when repeats were throttled into this one message
    first_t_rig: float | None = None  # rig time of the first of ``count`` repeats

    @property
    def detail(self) -> EventDetail | None:
        """The typed fields of the kinds the ground acts on (``event_details``), else None."""
        return event_detail(self.kind, self.fields)


@dataclass(frozen=True, slots=True)
class AckMessage:
    envelope: Envelope
    command_id: str
    accepted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LedgerMessage:
    envelope: Envelope
    record: Mapping[str, JsonValue]  # a ledger_format entry, hashed as received


@dataclass(frozen=True, slots=True, eq=False)
class BatchBlock:
    """Rows of one sample stream: ``samples`` has shape (n_samples, n_channels); sample i
    is at rig time t0_rig + i * period_s. Built once by the rover's sensor feed and
    carried as it is into the :class:`BatchMessage`."""

    stream: str
    channels: tuple[str, ...]
    units: tuple[str, ...]
    t0_rig: float
    period_s: float
    samples: np.ndarray

    def __post_init__(self) -> None:  # a list of rows or names is taken as given
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "samples", np.asarray(self.samples))


@dataclass(frozen=True, slots=True, eq=False)
class StatsBlock:
    """Windowed statistics of one stream: each ``values`` entry is one number per channel."""

    stream: str
    channels: tuple[str, ...]
    units: tuple[str, ...]
    t0_rig: float
    window_s: float
    count: int
    values: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "units", tuple(self.units))
        object.__setattr__(self, "values", {k: np.asarray(v) for k, v in self.values.items()})


class _BlockFields:
    """Read a message's block fields on the message (``msg.samples``, ``msg.stream``)."""

    __slots__ = ()
    block: BatchBlock | StatsBlock

    @property
    def stream(self) -> str:
        return self.block.stream

    @property
    def channels(self) -> tuple[str, ...]:
        return self.block.channels

    @property
    def units(self) -> tuple[str, ...]:
        return self.block.units

    @property
    def t0_rig(self) -> float:
        return self.block.t0_rig


@dataclass(frozen=True, slots=True, eq=False)
class BatchMessage(_BlockFields):
    envelope: Envelope
    block: BatchBlock

    @property
    def period_s(self) -> float:
        return self.block.period_s

    @property
    def samples(self) -> np.ndarray:
        return self.block.samples


@dataclass(frozen=True, slots=True, eq=False)
class StatsMessage(_BlockFields):
    envelope: Envelope
    block: StatsBlock

    @property
    def window_s(self) -> float:
        return self.block.window_s

    @property
    def count(self) -> int:
        return self.block.count

    @property
    def values(self) -> Mapping[str, np.ndarray]:
        return self.block.values


DownlinkMessage = (
    StatusMessage | StateMessage | EventMessage | AckMessage | LedgerMessage
    | BatchMessage | StatsMessage
)

#: The topic kind (and the envelope's ``type``) of each message class.
_TOPIC_KINDS: Final[dict[type, TopicKind]] = {
    StatusMessage: TopicKind.STATUS,
    StateMessage: TopicKind.STATE,
    EventMessage: TopicKind.EVENT,
    AckMessage: TopicKind.ACK,
    LedgerMessage: TopicKind.LEDGER,
    BatchMessage: TopicKind.BATCH,
    StatsMessage: TopicKind.STATS,
}
_JSON_TYPES = {cls: kind for cls, kind in _TOPIC_KINDS.items()
               if kind not in (TopicKind.BATCH, TopicKind.STATS)}
_CBOR_TYPES = {BatchMessage: TopicKind.BATCH, StatsMessage: TopicKind.STATS}


def topic_kind(msg: DownlinkMessage) -> TopicKind:
    """The kind of topic *msg* is published on (its envelope's ``type``)."""
    return _TOPIC_KINDS[type(msg)]

# The fixed prefixes that set_delivery_flags rewrites.
_JSON_PREFIX = {
    (h, r): f'{{"historical":{str(h).lower()},"resend":{str(r).lower()},'.encode()
    for h in (False, True)
    for r in (False, True)
}
_CBOR_FLAG_OFFSETS = (12, 20)  # after the 1-byte map header, see _cbor_head
_CBOR_FALSE, _CBOR_TRUE = 0xF4, 0xF5


def _head(env: Envelope, kind: TopicKind) -> dict[str, object]:
    return {
        "historical": env.historical,
        "resend": env.resend,
        "v": SCHEMA_VERSION,
        "type": kind.value,
        "rig": env.rig,
        "boot": env.boot,
        "seq": env.seq,
        "t_rig": env.t_rig,
        "t_mono": env.t_mono,
    }


def encode(msg: DownlinkMessage) -> bytes:
    """Encode a message; raises ``PayloadEncodeError`` on unencodable content."""
    if type(msg) in _JSON_TYPES:
        body = _head(msg.envelope, _JSON_TYPES[type(msg)])
        match msg:
            case StatusMessage():
                body.update(online=msg.online, info=msg.info.to_json())
                if msg.shutdown:
                    body["shutdown"] = True
            case StateMessage():
                body["state"] = msg.state.to_json()
            case EventMessage():
                body.update(kind=msg.kind, severity=Severity(msg.severity).value, text=msg.text,
                            fields=dict(msg.fields), count=msg.count)
                if msg.first_t_rig is not None:
                    body["first_t_rig"] = msg.first_t_rig
            case AckMessage():
                body.update(command_id=msg.command_id, accepted=msg.accepted, reason=msg.reason)
            case LedgerMessage():
                body["record"] = dict(msg.record)
        try:
            return json.dumps(body, separators=(",", ":"), allow_nan=False,
                              ensure_ascii=False).encode()
        except (TypeError, ValueError) as err:
            raise PayloadEncodeError(f"{body['type']} payload is not JSON-encodable: {err}") \
                from err
    if type(msg) in _CBOR_TYPES:
        body = _head(msg.envelope, _CBOR_TYPES[type(msg)])
        channels, units = list(msg.channels), list(msg.units)
        if len(units) != len(channels):
            raise PayloadEncodeError(f"expected {len(channels)} units, got {len(units)}")
        body.update(stream=msg.stream, channels=channels, units=units, t0_rig=msg.t0_rig)
        if isinstance(msg, BatchMessage):
            if msg.samples.ndim != 2 or msg.samples.shape[1] != len(channels):
                raise PayloadEncodeError(
                    f"expected samples of shape (n, {len(channels)}), got {msg.samples.shape}"
                )
            body.update(period_s=msg.period_s, samples=array_to_cbor(msg.samples))
        else:
            values = {}
            for name, arr in msg.values.items():
                arr = np.asarray(arr)
                if arr.shape != (len(channels),):
                    raise PayloadEncodeError(
                        f"stats {name!r}: expected shape ({len(channels)},), got {arr.shape}"
                    )
                values[name] = array_to_cbor(arr)
            body.update(window_s=msg.window_s, count=msg.count, values=values)
        data = cbor2.dumps(body)
        assert data[0] == 0xA0 + len(body), "envelope map must use a 1-byte header"
        return data
    raise PayloadEncodeError(f"expected a downlink message, got {type(msg).__name__}")


def clear_delivery_flags(data: bytes) -> bytes:
    """A JSON payload as :func:`encode` made it: both delivery flags false (the form the
    rover signs, ``downlink_signature``). Other bytes are returned as they are."""
    for prefix in _JSON_PREFIX.values():
        if data.startswith(prefix):
            return _JSON_PREFIX[(False, False)] + data[len(prefix):]
    return data


def set_delivery_flags(data: bytes, *, historical: bool, resend: bool) -> bytes:
    """Return ``data`` (as produced by :func:`encode`) with the two flags set."""
    if not (historical or resend):
        return data
    if data[:1] == b"{":
        old = _JSON_PREFIX[(False, False)]
        if not data.startswith(old):
            raise PayloadEncodeError("expected an encode() JSON payload with both flags false")
        return _JSON_PREFIX[(historical, resend)] + data[len(old):]
    out = bytearray(data)
    for offset, flag in zip(_CBOR_FLAG_OFFSETS, (historical, resend), strict=True):
        if out[offset] not in (_CBOR_FALSE, _CBOR_TRUE):
            raise PayloadEncodeError("expected an encode() CBOR payload")
        out[offset] = _CBOR_TRUE if flag else _CBOR_FALSE
    return bytes(out)


# ---------------------------------------------------------------- decoding


def _get(body: Mapping[str, object], key: str, types: type | tuple[type, ...]) -> Any:
    if key not in body:
        raise PayloadDecodeError(f"missing field {key!r}")
    value = body[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise PayloadDecodeError(f"field {key!r}: expected {types}, got bool")
    if not isinstance(value, types):
        raise PayloadDecodeError(f"field {key!r}: expected {types}, got {type(value).__name__}")
    return value


def _count(body: Mapping[str, object], key: str) -> int:
    """A boot or sequence number: 0 .. 2**63 - 1 (what every store keeps as an integer)."""
    value: int = _get(body, key, int)
    if not 0 <= value <= MAX_COUNT:
        raise PayloadDecodeError(f"field {key!r}: expected 0 .. 2**63 - 1, got {value}")
    return value


def _number(body: Mapping[str, object], key: str) -> float:
    return finite_in(_get(body, key, (int, float)), key, error=_field_error)


def _field_error(key: str, problem: str) -> PayloadDecodeError:
    return PayloadDecodeError(f"field {key!r}: {problem}")


def _names(body: Mapping[str, object], key: str) -> tuple[str, ...]:
    value = _get(body, key, list)
    if not all(isinstance(v, str) for v in value):
        raise PayloadDecodeError(f"field {key!r}: expected a list of strings")
    return tuple(value)


def _envelope(body: Mapping[str, object]) -> Envelope:
    version = _get(body, "v", int)
    if version != SCHEMA_VERSION:
        raise PayloadDecodeError(f"expected schema v{SCHEMA_VERSION}, got v{version}")
    return Envelope(
        rig=_get(body, "rig", str),
        boot=_count(body, "boot"),
        seq=_count(body, "seq"),
        t_rig=_number(body, "t_rig"),
        t_mono=_number(body, "t_mono"),
        historical=_get(body, "historical", bool),
        resend=_get(body, "resend", bool),
    )


def _load(data: bytes) -> dict[str, object]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise PayloadDecodeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    try:
        if data[:1] == b"{":
            body = json.loads(data)
        elif data and 0xA0 <= data[0] <= 0xBF:
            body = cbor2.loads(data)
        else:
            raise PayloadDecodeError(f"expected a JSON object or CBOR map, got {data[:8]!r}")
    except PayloadDecodeError:
        raise
    except Exception as err:  # any parser failure is wire garbage, by contract
        raise PayloadDecodeError(f"unparseable payload: {err}") from err
    if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
        raise PayloadDecodeError("expected a map with string keys")
    return body


def decode(data: bytes) -> DownlinkMessage:
    """Decode any downlink payload. Raises only ``PayloadDecodeError``."""
    body = _load(data)
    env = _envelope(body)
    kind = _get(body, "type", str)
    try:
        match kind:
            case TopicKind.STATUS:
                return StatusMessage(env, _get(body, "online", bool),
                                     RigInfo.from_json(_get(body, "info", dict)),
                                     shutdown=_get(body, "shutdown", bool)
                                     if "shutdown" in body else False)
            case TopicKind.STATE:
                return StateMessage(env, RigState.from_json(_get(body, "state", dict)))
            case TopicKind.EVENT:
                return _decode_event(env, body)
            case TopicKind.ACK:
                return AckMessage(env, _get(body, "command_id", str),
                                  _get(body, "accepted", bool), _get(body, "reason", str))
            case TopicKind.LEDGER:
                return LedgerMessage(env, _get(body, "record", dict))
            case TopicKind.BATCH | TopicKind.STATS:
                return _decode_arrays(kind, env, body)
    except ValueError as err:  # e.g. unknown severity
        if isinstance(err, PayloadDecodeError):
            raise
        raise PayloadDecodeError(str(err)) from err
    raise PayloadDecodeError(f"unknown payload type {kind!r}")


def _decode_event(env: Envelope, body: Mapping[str, object]) -> EventMessage:
    first = body.get("first_t_rig")
    wire_kind = _get(body, "kind", str)
    fields: JsonObject = _get(body, "fields", dict)
    event_detail(wire_kind, fields)  # the kinds the ground acts on must decode
    return EventMessage(
        env,
        kind=EventKind.lookup(wire_kind) or wire_kind,
        severity=Severity(_get(body, "severity", str)),
        text=_get(body, "text", str),
        fields=fields,
        count=_get(body, "count", int),
        first_t_rig=None if first is None else _number(body, "first_t_rig"),
    )


def _decode_arrays(kind: str, env: Envelope, body: Mapping[str, object]) -> DownlinkMessage:
    channels, units = _names(body, "channels"), _names(body, "units")
    if len(units) != len(channels):
        raise PayloadDecodeError(f"expected {len(channels)} units, got {len(units)}")
    stream = _get(body, "stream", str)
    t0 = _number(body, "t0_rig")
    if kind == TopicKind.BATCH:
        samples = array_from_cbor(body.get("samples"), "samples")
        if samples.ndim != 2 or samples.shape[1] != len(channels):
            raise PayloadDecodeError(
                f"samples: expected shape (n, {len(channels)}), got {samples.shape}"
            )
        return BatchMessage(env, BatchBlock(stream, channels, units, t0,
                                            _number(body, "period_s"), samples))
    raw_values = _get(body, "values", dict)
    values = {}
    for name, raw in raw_values.items():
        arr = array_from_cbor(raw, f"values.{name}")
        if arr.shape != (len(channels),):
            raise PayloadDecodeError(f"values.{name}: expected {len(channels)} values")
        values[str(name)] = arr
    return StatsMessage(env, StatsBlock(stream, channels, units, t0, _number(body, "window_s"),
                                        _get(body, "count", int), values))
