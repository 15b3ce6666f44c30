"""Verify the ledger entries a ground station *received* (sans-I/O).

``verify_ledger`` (the contract) checks a whole ledger from entry 0. A ground
station that joined late, or that was offline for a while, holds a run of
entries starting later: :func:`check_received` verifies that run from its first
entry (its ``prev`` is taken on trust, everything after it is chained and
signature-checked), and says so (``partial``). Gaps inside the run break it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nacl.signing import VerifyKey

from telemetry.contract.json_fields import JsonValue
from telemetry.contract.ledger_format import GENESIS, check_entry
from telemetry.contract.ledger_record import ReceivedRecord

__all__ = ["ReceivedLedger", "check_received"]


@dataclass(frozen=True, slots=True)
class ReceivedLedger:
    entries: int  # intact entries from the first received one
    first_index: int | None
    head: str  # hash of the last intact entry
    broken: str | None = None  # "entry 7: hash does not match..."
    totals_kg: Mapping[str, float] = field(default_factory=dict)  # of the intact entries

    @property
    def partial(self) -> bool:
        """The run does not start at entry 0 (earlier entries were not received)."""
        return bool(self.first_index)

    @property
    def ok(self) -> bool:
        return self.broken is None


def check_received(records: Sequence[Mapping[str, JsonValue]], key: VerifyKey,
                   rig: str | None = None) -> ReceivedLedger:
    """Check ``records`` (in index order) as one chain; never raises on bad data."""
    if not records:
        return ReceivedLedger(0, None, GENESIS)
    head = ReceivedRecord.of(records[0])
    first = head.index
    expected = first if first is not None and first >= 0 else 0
    prev = (head.prev or "") if expected > 0 else GENESIS
    grams: dict[str, int] = {}
    for pos, rec in enumerate(records):
        entry, reason = check_entry(dict(rec), expected_index=expected, prev=prev, key=key,
                                    rig=rig)
        if entry is None:
            return ReceivedLedger(pos, expected if pos == 0 else first, prev,
                                  f"entry {ReceivedRecord.of(rec).index}: {reason}",
                                  _kg(grams))
        grams[entry.site] = grams.get(entry.site, 0) + entry.mass_g
        prev, expected = entry.hash, expected + 1
    return ReceivedLedger(len(records), first, prev, None,
                          _kg(grams))


def _kg(grams: Mapping[str, int]) -> dict[str, float]:
    return {site: g / 1000.0 for site, g in sorted(grams.items())}
