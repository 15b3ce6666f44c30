"""What the ground knows about every rig, built from the messages it receives (sans-I/O).

:class:`FleetModel` is the core shared by ``rig-ground watch``, the
:class:`~telemetry.ground.client.GroundClient` and the web console: messages in
(with the ground's receive time), a per-rig :class:`RigView` out, plus the
alarm table, the command history and the same sequence accounting as
``record``. Rules:

* Historical messages (drained from a backlog) never update the live state,
  values or alarms; their events are logged, flagged historical.
* Alarms (``telemetry.ground.alarms``): an ``interlock_tripped`` event raises
  ``interlock:<name>``, its ``interlock_cleared`` event or a newer state that no
  longer lists it clears it (a state older than the latest event about an
  interlock never overrides that event: events overtake states in the rover's
  outbox); a live value beyond a red limit for the limit's ``hold_s`` (rig
  time) raises ``limit:<channel>``, back within it clears it; a state whose
  ``clock_offset_s`` is beyond the ``clock_offset`` red limit raises
  ``limit:clock_offset`` (cleared by one within it); a state whose ``storage``
  says full (the rover's disk is full or read-only) raises ``rig:storage``
  (cleared by one that does not); any other alarm event is a one-off
  ``event:<kind>``.
* A rig whose retained status says offline, or that sent nothing for
  ``silent_after_s``, has its active alarms marked stale (:meth:`tick`).
* ``rig:offline`` (``telemetry.ground.offline``): an offline status that is not
  the rover's clean goodbye (the broker's last will), or an online rig silent
  for ``silent_after_s`` while the ground's own link was up; any live message
  clears it. A broker outage on the ground's side raises nothing per rig.
* With ``rig_keys`` (rig id -> the rover's public key), state, events, acks,
  status and ledger messages are believed only with the rig's signature
  (``_believed``); a rig without a configured key is shown as unverified.
* Uplink commands seen on ``{prefix}/{rig}/cmd`` and acks feed the command
  history; ledger records are kept by index; the public safety zone and feed
  (``public/{prefix}/{rig}/...``) are kept as received.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from nacl.signing import VerifyKey

from telemetry.contract import CauseKind, EventKind, Severity, parse_topic
from telemetry.contract.command_wire import WireRefusal, decode_body, decode_envelope
from telemetry.contract.downlink_signature import SIGNED_KINDS, Verdict, verify_payload
from telemetry.contract.errors import PayloadDecodeError
from telemetry.contract.event_details import InterlockChange
from telemetry.contract.json_fields import JsonObject, JsonValue
from telemetry.contract.ledger_record import ReceivedRecord
from telemetry.contract.payloads import (
    AckMessage,
    BatchMessage,
    EventMessage,
    LedgerMessage,
    StateMessage,
    StatusMessage,
)
from telemetry.contract.public_payload import PublicKind, decode_public
from telemetry.contract.rig_state import RigState
from telemetry.contract.status_info import RigInfo
from telemetry.ground.accounting import SequenceAccounting
from telemetry.ground.alarm_text import clock_text, interlock_text, limit_text, storage_text
from telemetry.ground.alarms import AlarmState, AlarmTable
from telemetry.ground.command_log import CommandLog
from telemetry.ground.event_log import EventLog
from telemetry.ground.intake import Malformed, Sighting, UplinkSeen, classify
from telemetry.ground.limits import LimitLevel, LimitSet
from telemetry.ground.offline import OfflineRule
from telemetry.mqtt.adapter import InboundMessage

__all__ = ["ChannelValue", "EventRecord", "FleetModel", "RigView", "public_filter"]

_MAX_EVENTS = 200
_MAX_LEDGER = 100_000
_MAX_TRAIL = 600
#: channels one rig's view keeps (batches are unsigned: a broker client could name a
#: new channel in every batch); the first ones named stay, later names are counted
MAX_CHANNELS = 512


def public_filter(prefix: str, rig: str | None = None) -> str:
    """Subscription filter of the public topics (docs/commands.md, "Public topics")."""
    return f"public/{prefix}/{rig or '+'}/#"


@dataclass(frozen=True, slots=True)
class ChannelValue:
    stream: str
    name: str
    unit: str
    value: float
    level: LimitLevel
    t_rig: float


@dataclass(frozen=True, slots=True)
class EventRecord:
    t_rig: float  # the rover's wall clock
    t_ground: float  # ... corrected by its known clock offset (docs/commands.md, "Timing")
    seq: int
    kind: str
    severity: Severity
    text: str
    fields: Mapping[str, JsonValue]
    count: int
    historical: bool

    def as_dict(self) -> JsonObject:
        return {"t_rig": self.t_rig, "t": self.t_ground, "seq": self.seq, "kind": self.kind,
                "severity": self.severity.value, "text": self.text,
                "fields": dict(self.fields), "count": self.count,
                "historical": self.historical}


@dataclass(slots=True)
class RigView:
    rig: str
    online: bool | None = None  # from the retained status; None: never told
    shutdown: bool = False  # offline by the rover's own clean goodbye (not its last will)
    silent: bool = False  # nothing received for silent_after_s
    info: RigInfo = field(default_factory=RigInfo)
    boot: int | None = None
    state: RigState | None = None  # the latest live state
    state_t_rig: float | None = None
    channels: dict[str, ChannelValue] = field(default_factory=dict)
    channels_refused: int = 0  # values of channels beyond MAX_CHANNELS, ignored
    first_seen: float = 0.0
    last_seen: float = 0.0
    messages: int = 0
    events: deque[EventRecord] = field(default_factory=lambda: deque(maxlen=_MAX_EVENTS))
    ledger: dict[int, Mapping[str, JsonValue]] = field(default_factory=dict)  # by index
    safety_zone: JsonObject | None = None  # the public topics, shown as received
    public_feed: JsonObject | None = None
    trail: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=_MAX_TRAIL))
    interlock_event_t: dict[str, float] = field(default_factory=dict)
    red_since: dict[str, float] = field(default_factory=dict)  # channel -> rig time
    # True: the ground has this rig's key and believes only what it signed; False: no key
    # (anyone on the broker may be speaking); None: no rig keys configured at all
    verified: bool | None = None
    forged: int = 0  # messages under its name that failed the signature check (dropped)
    state_seen_at: float | None = None  # ground time of the latest live state
    state_period_s: float | None = None  # smoothed interval between live states

    def stale_after_s(self) -> float:
        """How long without a state before its values are stale: three expected periods,
        at least 1 s (a 10 Hz rig is stale after 1 s, a 1 Hz one after 3 s)."""
        return max(1.0, 3.0 * (self.state_period_s or 0.0))

    def state_age_s(self, now: float) -> float | None:
        return None if self.state_seen_at is None else max(0.0, now - self.state_seen_at)

    @property
    def reachable(self) -> bool:
        """Online by its retained status and not silent."""
        return bool(self.online) and not self.silent

    @property
    def mode(self) -> str:
        mode = self.state.mode if self.state is not None else None
        return mode if mode is not None else "unknown"

    @property
    def position(self) -> tuple[float, float] | None:
        return self.state.position if self.state is not None else None


#: rigs one ground model tracks; a rig beyond them is refused and counted (anyone who
#: can publish could otherwise make the ground keep state for a million invented rigs);
#: a rig whose key the ground has is always tracked
MAX_RIGS = 256


class FleetModel:
    def __init__(self, prefix: str, *, limits: LimitSet | None = None,
                 alarms: AlarmTable | None = None, silent_after_s: float = 10.0,
                 rig_keys: Mapping[str, VerifyKey] | None = None,
                 drop_unverified: bool = False, max_rigs: int = MAX_RIGS) -> None:
        self.prefix = prefix
        self.max_rigs = max_rigs
        self.rigs_refused = 0  # messages of rigs beyond max_rigs, dropped
        self.rig_keys = rig_keys
        self.drop_unverified = drop_unverified
        self.forged = 0  # signed kinds failing the check of a rig whose key we have
        self.unverified = 0  # signed kinds from rigs whose key we do not have
        self.limits = limits or LimitSet()
        self.alarms = alarms or AlarmTable()
        self.commands = CommandLog()
        self.accounting = SequenceAccounting()
        self.silent_after_s = silent_after_s
        self.rigs: dict[str, RigView] = {}
        self.messages = 0
        self.link_up = False
        self.link_drops = 0
        self.offline = OfflineRule(self.alarms, silent_after_s=silent_after_s)
        # every alarm occurrence and event, kept after the alarm table lets them go
        self.log = EventLog()
        self.alarms.observers.append(
            lambda a: self.log.note_alarm(a, self.rigs[a.rig].verified
                                          if a.rig in self.rigs else None))

    def set_link(self, up: bool, now: float | None = None) -> None:
        """The ground's broker link went up or down (``now``: when, if the caller knows)."""
        if self.link_up and not up:
            self.link_drops += 1
        self.link_up = up
        self.offline.link(up, now)

    def rig(self, rig_id: str, now: float) -> RigView:
        view = self.rigs.get(rig_id)
        if view is None:
            verified = None if self.rig_keys is None else rig_id in self.rig_keys
            view = self.rigs[rig_id] = RigView(rig_id, first_seen=now, verified=verified)
        return view

    # ------------------------------------------------------------------ intake
    def handle(self, message: InboundMessage, now: float) -> Sighting | None:
        """Take one message; returns it decoded unless it was a duplicate or not telemetry."""
        if message.topic.startswith("public/"):
            self._public(message, now)
            return None
        seen = classify(self.prefix, message.topic, message.payload)
        if isinstance(seen, UplinkSeen):
            self._uplink(seen.rig, seen.payload, now)
            return None
        if isinstance(seen, Malformed):
            self.accounting.malformed += 1
            return None
        if self.rig_keys is not None and seen.stream.split("/")[0] in SIGNED_KINDS \
                and not self._believed(seen):
            return None
        return self.take(seen, now)

    def _believed(self, seen: Sighting) -> bool:
        """Check a signed kind against the rig's key (docs/telemetry.md, "Signed downlink").

        A rig whose key we have: only what it signed counts; anything else under its
        name is dropped and counted (an ack, against its command). A rig whose key we
        do not have: kept and shown unverified, or dropped with ``drop_unverified``."""
        assert self.rig_keys is not None
        key = self.rig_keys.get(seen.rig)
        if key is None:
            self.unverified += 1
            return not self.drop_unverified
        if verify_payload(key, seen.topic, seen.payload) is Verdict.VERIFIED:
            return True
        self.forged += 1
        if seen.rig in self.rigs:
            self.rigs[seen.rig].forged += 1
        if isinstance(seen.message, AckMessage):
            self.commands.note_forged_ack(seen.rig, seen.message.command_id,
                                          seen.message.accepted, seen.message.reason)
        return False

    def take(self, seen: Sighting, now: float) -> Sighting | None:
        """A message already classified (a replayed recording feeds these directly)."""
        if seen.rig not in self.rigs and len(self.rigs) >= self.max_rigs \
                and not (self.rig_keys is not None and seen.rig in self.rig_keys):
            self.rigs_refused += 1
            return None
        self.messages += 1
        view = self.rig(seen.rig, now)
        msg, env = seen.message, seen.message.envelope
        view.messages += 1
        view.last_seen = now
        view.boot = env.boot if view.boot is None else max(view.boot, env.boot)
        if isinstance(msg, StatusMessage):
            self._status(view, msg, now)
            return seen
        if self.accounting.observe(seen.rig, seen.stream, env.boot, env.seq,
                                   env.resend) in ("duplicate", "untracked"):
            return None  # seen before, or a stream beyond the accounting's bound
        if not env.historical:
            view.silent = False
            self.offline.heard(view.rig, now)
        match msg:
            case StateMessage() if not env.historical:
                self._state(view, msg, now)
            case BatchMessage() if not env.historical:
                self._batch(view, msg, now)
            case EventMessage():
                self._event(view, msg, now)
            case AckMessage():
                self.commands.note_ack(seen.rig, msg.command_id, msg.accepted, msg.reason, now)
            case LedgerMessage():
                index = ReceivedRecord.of(msg.record).index
                if index is not None and len(view.ledger) < _MAX_LEDGER:
                    view.ledger.setdefault(index, msg.record)
        return seen

    def tick(self, now: float) -> None:
        """Spot silent rigs (their alarms go stale, an online one raises ``rig:offline``
        while the ground's link is up) and expire cleared alarms."""
        self.offline.tick(now)
        for view in self.rigs.values():
            if not view.silent and view.last_seen and \
                    now - view.last_seen >= self.silent_after_s:
                view.silent = True
                self.alarms.mark_stale(view.rig, now)
            if view.last_seen:
                self.offline.check_silence(view.rig, view.online, view.last_seen, now,
                                           view.state_period_s)
        self.alarms.expire(now)

    # ------------------------------------------------------------------ kinds
    def _status(self, view: RigView, msg: StatusMessage, now: float) -> None:
        view.online = msg.online
        view.shutdown = not msg.online and msg.shutdown
        view.info = msg.info
        if msg.online:
            view.silent = False
        else:
            self.alarms.mark_stale(view.rig, now)
        self.offline.status(view.rig, msg.online, msg.shutdown, now)

    def _state(self, view: RigView, msg: StateMessage, now: float) -> None:
        t = msg.envelope.t_rig
        if view.state_t_rig is not None and t < view.state_t_rig:
            return
        view.state, view.state_t_rig = msg.state, t
        if view.state_seen_at is not None:
            gap = max(0.0, now - view.state_seen_at)
            view.state_period_s = gap if view.state_period_s is None else \
                0.8 * view.state_period_s + 0.2 * min(gap, 10.0)
        view.state_seen_at = now
        position = msg.state.position
        if position is not None and (not view.trail or view.trail[-1] != position):
            view.trail.append(position)
        self._clock(view, msg.state.clock_offset_s, now)
        self._storage(view, msg.state, now)
        present = []
        for name in set(msg.state.interlocks):
            cause = CauseKind.INTERLOCK.cause(name)
            if view.interlock_event_t.get(name, -math.inf) > t:
                continue  # an event newer than this state decides
            present.append(cause)
            alarm = self.alarms.get(view.rig, cause)
            if alarm is None or alarm.state is not AlarmState.ACTIVE:
                self.alarms.raise_alarm(view.rig, cause, Severity.ALARM,
                                        interlock_text(name), now)
        newer = {CauseKind.INTERLOCK.cause(n) for n, et in view.interlock_event_t.items()
                 if et > t}
        self.alarms.clear_absent(view.rig, CauseKind.INTERLOCK, set(present) | newer, now)

    def _clock(self, view: RigView, offset: float | None, now: float) -> None:
        """``limit:clock_offset`` while the rover's clock is off beyond the red limit."""
        limit = self.limits.get("clock_offset")
        if limit is None or offset is None or not math.isfinite(offset):
            return
        cause = CauseKind.LIMIT.cause("clock_offset")
        if limit.level(float(offset)) is LimitLevel.RED:
            alarm = self.alarms.get(view.rig, cause)
            if alarm is None or alarm.state is not AlarmState.ACTIVE:
                self.alarms.raise_alarm(view.rig, cause, Severity.ALARM,
                                        clock_text(float(offset), limit), now)
        else:
            self.alarms.clear(view.rig, cause, now)

    def _storage(self, view: RigView, state: RigState, now: float) -> None:
        """``rig:storage`` while the rover's outbox cannot write to its disk."""
        storage, cause = state.storage, CauseKind.RIG.cause("storage")
        if storage is None:
            return
        if storage.full:
            alarm = self.alarms.get(view.rig, cause)
            if alarm is None or alarm.state is not AlarmState.ACTIVE:
                self.alarms.raise_alarm(view.rig, cause, Severity.ALARM, storage_text(storage),
                                        now)
        else:
            self.alarms.clear(view.rig, cause, now)

    def _batch(self, view: RigView, msg: BatchMessage, now: float) -> None:
        if not len(msg.samples):
            return
        last = msg.samples[-1]
        t = msg.t0_rig + msg.period_s * (len(msg.samples) - 1)
        for i, name in enumerate(msg.channels):
            if name not in view.channels and len(view.channels) >= MAX_CHANNELS:
                view.channels_refused += 1
                continue
            value = float(last[i])
            level = self.limits.level(name, value)
            view.channels[name] = ChannelValue(msg.stream, name, msg.units[i], value, level, t)
            limit = self.limits.get(name)
            if limit is None:
                continue
            cause = CauseKind.LIMIT.cause(name)
            if level is LimitLevel.RED:
                since = view.red_since.setdefault(name, t)
                if t - since >= limit.hold_s:  # red long enough (rig time), like the interlock
                    self.alarms.raise_alarm(view.rig, cause, Severity.ALARM,
                                            limit_text(name, value, msg.units[i], limit), now)
            elif level is not LimitLevel.UNKNOWN:
                view.red_since.pop(name, None)
                self.alarms.clear(view.rig, cause, now)

    def _event(self, view: RigView, msg: EventMessage, now: float) -> None:
        env = msg.envelope
        offset = view.state.clock_offset_s if view.state is not None else None
        view.events.appendleft(EventRecord(env.t_rig, env.t_rig + (offset or 0.0), env.seq,
                                           msg.kind, msg.severity, msg.text, msg.fields,
                                           msg.count, env.historical))
        self.log.note_event(view.rig, msg.kind, msg.severity, msg.text, now,
                            verified=view.verified, t_rig=env.t_rig,
                            historical=env.historical, count=msg.count)
        change = msg.detail if isinstance(msg.detail, InterlockChange) else None
        if change is not None:
            view.interlock_event_t[change.name] = max(
                env.t_rig, view.interlock_event_t.get(change.name, -math.inf))
        if env.historical:
            return
        if change is not None and msg.kind is EventKind.INTERLOCK_CLEARED:
            self.alarms.clear(view.rig, CauseKind.INTERLOCK.cause(change.name), now)
        elif change is not None and msg.severity.is_alarm:  # tripped
            self.alarms.raise_alarm(view.rig, CauseKind.INTERLOCK.cause(change.name),
                                    msg.severity, msg.text, now)
        elif msg.severity.is_alarm:
            self.alarms.raise_alarm(view.rig, CauseKind.EVENT.cause(msg.kind), msg.severity,
                                    msg.text, now, one_off=True)

    def _uplink(self, rig: str, payload: bytes, now: float) -> None:
        try:
            envelope = decode_envelope(payload)
            body = decode_body(envelope.body)
        except WireRefusal:
            return  # not ours to judge: the rover acks it as rejected
        self.commands.note_uplink(rig, body.command_id, body.command, body.args,
                                  key_id=envelope.key_id, now=now)

    def _public(self, message: InboundMessage, now: float) -> None:
        parts = message.topic.split("/")
        head = ["public", *self.prefix.split("/")]
        if len(parts) != len(head) + 2 or parts[:len(head)] != head:
            return
        rig_id, kind = parts[-2], parts[-1]
        if parse_topic(self.prefix, f"{self.prefix}/{rig_id}/state") is None:
            self.accounting.malformed += 1  # not a rig id of the contract
            return
        try:
            public = decode_public(message.payload)
        except PayloadDecodeError:
            self.accounting.malformed += 1
            return
        if public.rig != rig_id:
            self.accounting.malformed += 1
            return
        view = self.rig(rig_id, now)
        if kind == PublicKind.SAFETY_ZONE:
            view.safety_zone = public.body
        elif kind == PublicKind.FEED:
            view.public_feed = public.body

