"""A received ledger record as the ground shows it (docs/commands.md, "Extraction ledger").

The ledger topic carries each signed entry as a JSON object; its hash and
signature cover the object exactly as received, so the ground keeps that object
for verification (``ledger_format.check_entry``) and reads its fields through
:class:`ReceivedRecord`. Reading never refuses: a field that is absent or of the
wrong type is ``None`` here, and verification says what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ReceivedRecord"]


def _int(record: Mapping[str, object], key: str) -> int | None:
    value = record.get(key)
    return value if type(value) is int else None


def _str(record: Mapping[str, object], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class ReceivedRecord:
    index: int | None
    prev: str | None  # hash of the previous entry
    t_ms: int | None  # rig wall clock, Unix milliseconds
    cycle: int | None
    site: str | None
    x_mm: int | None
    y_mm: int | None
    mass_g: int | None
    energy_j: int | None
    hash: str | None

    @property
    def mass_kg(self) -> float | None:
        return None if self.mass_g is None else self.mass_g / 1000.0

    @property
    def x_m(self) -> float | None:
        return None if self.x_mm is None else self.x_mm / 1000.0

    @property
    def y_m(self) -> float | None:
        return None if self.y_mm is None else self.y_mm / 1000.0

    @classmethod
    def of(cls, record: Mapping[str, object]) -> ReceivedRecord:
        return cls(_int(record, "index"), _str(record, "prev"), _int(record, "t_ms"),
                   _int(record, "cycle"), _str(record, "site"), _int(record, "x_mm"),
                   _int(record, "y_mm"), _int(record, "mass_g"), _int(record, "energy_j"),
                   _str(record, "hash"))
