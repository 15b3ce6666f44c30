"""Command history: who sent what to which rig, when, and the rover's ack (sans-I/O).

Three sources feed one record per ``(rig, command_id)``:

* ``note_sent``: this ground station signed and published it (knows the user);
* ``note_uplink``: the signed envelope was seen on the command topic (any
  station: the key id and the body are readable, the signature is the rover's
  business, so ``verified`` stays false here);
* ``note_ack``: the rover's ack. The first ack wins: a QoS 1 duplicate of an
  accepted command is acked ``replayed`` afterwards (docs/commands.md).
* ``note_forged_ack``: an ack that failed the rig's signature check (the fleet
  model checks it, when rig keys are configured): counted, never believed.

An ack whose command was never seen still gets a record (``command`` = "?").
Records are bounded per rig (oldest dropped, counted).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from telemetry.contract.json_fields import JsonObject, JsonValue

__all__ = ["CommandLog", "CommandRecord", "CommandStatus"]


class CommandStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    TIMEOUT = "timeout"  # no ack within the sender's timeout (a late ack still counts)


@dataclass(frozen=True, slots=True)
class CommandRecord:
    rig: str
    command_id: str
    command: str
    args: Mapping[str, JsonValue] = field(default_factory=dict)
    key_id: str = ""
    sent_by: str = ""  # the console user (empty for commands other stations sent)
    sent_at: float | None = None  # ground wall clock
    status: CommandStatus = CommandStatus.PENDING
    reason: str = ""
    acked_at: float | None = None
    # acks for this command that did not carry the rig's signature: ignored, but shown
    forged_acks: int = 0
    forged_claim: str = ""  # what the last one claimed ("rejected: <reason>")

    def as_dict(self) -> JsonObject:
        return {"rig": self.rig, "command_id": self.command_id, "command": self.command,
                "args": dict(self.args), "key_id": self.key_id, "sent_by": self.sent_by,
                "sent_at": self.sent_at, "status": self.status.value, "reason": self.reason,
                "acked_at": self.acked_at, "forged_acks": self.forged_acks,
                "forged_claim": self.forged_claim}


class CommandLog:
    def __init__(self, max_per_rig: int = 500) -> None:
        self.max_per_rig = max_per_rig
        self.dropped = 0
        self.version = 0
        self._rigs: dict[str, OrderedDict[str, CommandRecord]] = {}

    def for_rig(self, rig: str) -> list[CommandRecord]:
        """Newest first."""
        return list(reversed(self._rigs.get(rig, {}).values()))

    def get(self, rig: str, command_id: str) -> CommandRecord | None:
        return self._rigs.get(rig, {}).get(command_id)

    def note_sent(self, rig: str, command_id: str, command: str, args: Mapping[str, JsonValue], *,
                  key_id: str, user: str, now: float) -> CommandRecord:
        old = self.get(rig, command_id)
        if old is None:
            rec = CommandRecord(rig, command_id, command, dict(args), key_id, user, now)
        else:
            rec = replace(old, command=command, args=dict(args), key_id=key_id, sent_by=user,
                          sent_at=old.sent_at or now)
        return self._put(rec)

    def note_uplink(self, rig: str, command_id: str, command: str,
                    args: Mapping[str, JsonValue], *,
                    key_id: str, now: float) -> CommandRecord:
        old = self.get(rig, command_id)
        if old is None:
            return self._put(CommandRecord(rig, command_id, command, dict(args), key_id, "", now))
        if old.command == "?":  # the ack came first
            return self._put(replace(old, command=command, args=dict(args), key_id=key_id))
        return old

    def note_ack(self, rig: str, command_id: str, accepted: bool, reason: str,
                 now: float) -> CommandRecord:
        old = self.get(rig, command_id) or CommandRecord(rig, command_id, "?")
        if old.status in (CommandStatus.ACCEPTED, CommandStatus.REJECTED):
            return old  # the first ack wins
        status = CommandStatus.ACCEPTED if accepted else CommandStatus.REJECTED
        return self._put(replace(old, status=status, reason=reason, acked_at=now))

    def note_forged_ack(self, rig: str, command_id: str, accepted: bool,
                        reason: str) -> CommandRecord | None:
        """An ack without the rig's valid signature: it changes no status, it is counted."""
        old = self.get(rig, command_id)
        if old is None:
            return None  # not a command anyone here knows: nothing to show it against
        claim = "accepted" if accepted else f"rejected{': ' + reason if reason else ''}"
        return self._put(replace(old, forged_acks=old.forged_acks + 1, forged_claim=claim))

    def note_timeout(self, rig: str, command_id: str) -> CommandRecord | None:
        old = self.get(rig, command_id)
        if old is None or old.status is not CommandStatus.PENDING:
            return old
        return self._put(replace(old, status=CommandStatus.TIMEOUT))

    def _put(self, rec: CommandRecord) -> CommandRecord:
        records = self._rigs.setdefault(rec.rig, OrderedDict())
        records[rec.command_id] = rec
        while len(records) > self.max_per_rig:
            records.popitem(last=False)
            self.dropped += 1
        self.version += 1
        return rec
