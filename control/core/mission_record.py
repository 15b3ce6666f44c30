"""The mission's durable record, and how a restarted controller resumes from it.

Theory of operation
-------------------
A ``MissionRecord`` is what must outlive the process: the mission's identity
(``mission_id``, the plan's ``plan_identity`` hash, ``ledger_start``: how many
ledger entries existed when the mission began), per-site progress (delivered
kg, digs, why a site was abandoned), the mode the rig was in, the site whose
soil the bucket holds, the bucket's estimate and the number of dumps booked.
``record_of`` takes it from the core's state; the app stores it at every mode
change (``control.runtime.mission_store``, off the loop).

``reconcile`` runs once at start, with the record the store kept and the
``LedgerTally`` of the signed ledger since ``ledger_start``:

* no record, or a record of another plan (another hash): a new mission, which
  starts at the ledger's current length (the old record stays in the store's
  history);
* a record of this plan: the same mission. The ledger is the truth for dumped
  mass: each site's delivered kg is the ledger's total for it since the
  mission began (without a ledger, the record's). A record taken in
  ``dumping`` that counts fewer dumps than the ledger has was booked after all;
  one that counts as many had its dump cut short before it was booked: the
  ``Resume`` carries the bucket the dump began with, and the core books what
  left the bucket once the load cell reads again.

Rules: pure, no I/O, no clock. ``MissionRecordError`` (a ``ControlError`` and
``ValueError``) names the field of a record that cannot be read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ControlError
from .mission import MissionPlan, MissionProgress, SiteProgress

__all__ = ["RECORD_VERSION", "LedgerTally", "MissionRecord", "MissionRecordError", "Resume",
           "SiteRecord", "reconcile", "record_of", "tally_ledger"]

RECORD_VERSION = 1


class MissionRecordError(ControlError, ValueError):
    """A stored mission record is malformed; ``key`` names the field."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"mission record {key}: {problem}")


@dataclass(frozen=True, slots=True)
class SiteRecord:
    name: str
    delivered_kg: float = 0.0
    cycles: int = 0
    abandoned: str = ""


@dataclass(frozen=True, slots=True)
class MissionRecord:
    mission_id: str
    plan_hash: str
    plan_name: str
    ledger_start: int = 0
    sites: tuple[SiteRecord, ...] = ()
    phase: str = "idle"  # the supervisor's mode when the record was taken
    dig_site: str = ""  # the site whose soil the bucket holds ("" when none)
    bucket_kg: float = 0.0  # the bucket's estimate when the record was taken
    dumps: int = 0  # dumps booked for this mission
    complete: bool = False

    def to_json(self) -> str:
        return json.dumps({"v": RECORD_VERSION, **asdict(self)}, sort_keys=True,
                          separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> MissionRecord:
        """Raises ``MissionRecordError`` naming the field."""
        try:
            data = json.loads(text)
        except ValueError as err:
            raise MissionRecordError("<json>", f"expected a JSON object, got {err}") from err
        if not isinstance(data, dict):
            raise MissionRecordError("<json>", f"expected an object, got {type(data).__name__}")
        if data.get("v") != RECORD_VERSION:
            raise MissionRecordError("v", f"expected {RECORD_VERSION}, got {data.get('v')!r}")
        sites = data.get("sites")
        if not isinstance(sites, list):
            raise MissionRecordError("sites", f"expected a list, got {type(sites).__name__}")
        return cls(
            _typed(data, "mission_id", str), _typed(data, "plan_hash", str),
            _typed(data, "plan_name", str), _count(data, "ledger_start"),
            tuple(_site(s, i) for i, s in enumerate(sites)), _typed(data, "phase", str),
            _typed(data, "dig_site", str), _kg(data, "bucket_kg"), _count(data, "dumps"),
            _typed(data, "complete", bool))


def _typed(data: Mapping[str, Any], key: str, kind: type) -> Any:
    value = data.get(key)
    if not isinstance(value, kind):
        raise MissionRecordError(key, f"expected {kind.__name__}, got {value!r}")
    return value


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    if type(value) is not int or value < 0:
        raise MissionRecordError(key, f"expected an integer >= 0, got {value!r}")
    return value


def _kg(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value < 0:
        raise MissionRecordError(key, f"expected a finite number >= 0, got {value!r}")
    return float(value)


def _site(obj: Any, i: int) -> SiteRecord:
    if not isinstance(obj, dict):
        raise MissionRecordError(f"sites[{i}]", f"expected an object, got {obj!r}")
    try:
        return SiteRecord(_typed(obj, "name", str), _kg(obj, "delivered_kg"),
                          _count(obj, "cycles"), _typed(obj, "abandoned", str))
    except MissionRecordError as err:
        raise MissionRecordError(f"sites[{i}].{err.key}", err.problem) from None


def record_of(progress: MissionProgress, plan_hash: str, phase: str, dig_site: int | None,
              bucket_kg: float) -> MissionRecord:
    """The record of the core's state now (``dig_site``: index of the site being dug)."""
    bucket = bucket_kg if math.isfinite(bucket_kg) and bucket_kg > 0 else 0.0
    return MissionRecord(
        progress.mission_id, plan_hash, progress.plan.name, progress.ledger_start,
        tuple(SiteRecord(s.site.name, round(s.delivered_kg, 3), s.cycles, s.abandoned)
              for s in progress.sites),
        phase, progress.sites[dig_site].site.name if dig_site is not None else "",
        round(bucket, 3), progress.dumps, progress.complete)


@dataclass(frozen=True, slots=True)
class LedgerTally:
    """The signed ledger's entries since a mission began."""

    entries: int = 0
    kg_by_site: Mapping[str, float] = field(default_factory=dict)


def tally_ledger(records: Iterable[Mapping[str, Any]]) -> LedgerTally:
    """Sum ledger-topic records (``site``, ``mass_g``) per site."""
    grams: dict[str, int] = {}
    n = 0
    for r in records:
        n += 1
        site = str(r.get("site", ""))
        grams[site] = grams.get(site, 0) + int(r.get("mass_g", 0))
    return LedgerTally(n, {s: g / 1000.0 for s, g in grams.items()})


@dataclass(frozen=True, slots=True)
class Resume:
    """What the core starts from (``ControlCore.resume``)."""

    progress: MissionProgress
    resumed: bool  # the same mission as the record's (else a new one)
    phase: str = "idle"  # the mode the previous process left the rig in
    dig_site: int | None = None  # index of the site whose soil the bucket holds
    interrupted_dump_kg: float = 0.0  # a dump cut short before it was booked began with this
    replaced: MissionRecord | None = None  # a different plan's record, now history
    notes: tuple[str, ...] = ()  # what reconciliation changed, for the log


def new_mission_id(plan: MissionPlan, previous: MissionRecord | None) -> str:
    """``<plan name>-<n>``, n one more than the previous record's when it had the form."""
    n = 1
    if previous is not None:
        tail = previous.mission_id.rsplit("-", 1)[-1]
        n = int(tail) + 1 if tail.isdigit() else 1
    return f"{plan.name}-{n}"


def reconcile(plan: MissionPlan, plan_hash: str, record: MissionRecord | None,
              tally: LedgerTally | None, ledger_count: int) -> Resume:
    """Resume *record*'s mission against the ledger, or begin a new one (module doc)."""
    if record is None or record.plan_hash != plan_hash:
        progress = MissionProgress(plan, mission_id=new_mission_id(plan, record),
                                   ledger_start=ledger_count)
        return Resume(progress, False, replaced=record)
    notes: list[str] = []
    by_name = {s.name: s for s in record.sites}
    sites = []
    for s in plan.sites:
        kept = by_name.get(s.name, SiteRecord(s.name))
        delivered = kept.delivered_kg
        if tally is not None:
            delivered = tally.kg_by_site.get(s.name, 0.0)
            if abs(delivered - kept.delivered_kg) > 0.01:
                notes.append(f"site {s.name}: the ledger has {delivered:.1f} kg, the record "
                             f"{kept.delivered_kg:.1f} kg (the ledger counts)")
        sites.append(SiteProgress(s, delivered, kept.cycles, kept.abandoned))
    dumps = record.dumps if tally is None else tally.entries
    progress = MissionProgress(plan, sites, record.mission_id, record.ledger_start, dumps)
    names = [s.name for s in plan.sites]
    dig_site = names.index(record.dig_site) if record.dig_site in names else None
    interrupted = 0.0
    if record.phase == "dumping" and dumps <= record.dumps:
        interrupted = record.bucket_kg  # the dump was cut short before its booking
    return Resume(progress, True, record.phase, dig_site, interrupted, notes=tuple(notes))
