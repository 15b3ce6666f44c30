"""What the controller needs of the telemetry downlink (``telemetry.rover.downlink.Downlink``).

A structural ``Protocol``: the real downlink satisfies it, and so does any test
stand-in with these members. Every ``publish_*`` stores the message durably and
returns at once (no network wait); the controller treats a failure of one as a
logged error, never as a reason to stop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from telemetry.contract.json_fields import JsonValue
from telemetry.contract.payloads import BatchBlock, StatsBlock
from telemetry.contract.rig_state import RigState, StorageReport

from ..core.events import EventKind, Severity

__all__ = ["DownlinkPort", "DownlinkSettings", "UplinkMessage"]


class DownlinkSettings(Protocol):
    @property
    def broker_url(self) -> str | None:
        """``None``: outbox only, no ground link to watch."""
        ...


class UplinkMessage(Protocol):
    """One raw message from the command topic."""

    @property
    def payload(self) -> bytes: ...


class DownlinkPort(Protocol):
    @property
    def config(self) -> DownlinkSettings: ...

    @property
    def connected(self) -> bool:
        """The broker connection is up (as far as the client knows)."""
        ...

    def link_ok(self, now: float | None = None) -> bool:
        """The broker acknowledged something within the downlink's ``link_loss_s``."""
        ...

    def publish_state(self, state: RigState) -> object: ...

    def publish_event(self, kind: EventKind, severity: Severity, text: str,
                      **fields: JsonValue) -> object: ...

    def publish_batch(self, block: BatchBlock) -> object: ...

    def publish_stats(self, block: StatsBlock) -> object: ...

    def publish_ack(self, command_id: str, accepted: bool, reason: str = "") -> object: ...

    def publish_public(self, name: str, topic: str, payload: bytes, *,
                       retain: bool = True) -> object: ...

    def publish_ledger(self, record: Mapping[str, JsonValue]) -> object: ...

    def storage_status(self) -> StorageReport | None:
        """The outbox's storage (full, why, dropped, budget) for the state message."""
        ...

    def commands(self) -> AsyncIterator[UplinkMessage]:
        """Raw command-topic messages until the downlink closes."""
        ...
