"""Extraction ledger entries: canonical form, hashing, signing, and end-to-end verification.

Theory of operation
-------------------
Each dump becomes one entry, one JSON object per line (docs/commands.md,
"Extraction ledger")::

    {"cycle":3,"energy_j":5120,"index":2,"key":"9f2c...","mass_g":18250,
     "prev":"<sha256 hex of entry 1>","rig":"rig-1","site":"A","t_ms":1732540123456,
     "v":1,"x_mm":3012,"y_mm":-15,"hash":"<sha256 hex>","sig":"<base64 Ed25519>"}

The *body* is every field but ``hash`` and ``sig``. Its canonical bytes are
``json.dumps(body, sort_keys=True, separators=(",", ":"))``: all values are
integers (milliseconds, millimetres, grams, joules) or short ASCII names, so
every language produces the same bytes without a float-formatting rule.
``hash = sha256(LEDGER_DOMAIN || canonical)`` and ``sig`` is the rover key's
Ed25519 signature over the same bytes. ``prev`` is the previous entry's hash
(64 zeros for entry 0), so removing, inserting or reordering entries breaks
the chain, and changing any field breaks the hash and the signature.

``verify_ledger`` checks a sequence of lines in order and stops at the first
broken entry (what follows it cannot be trusted), then compares the totals per
site of the intact prefix with the quotas. A chain cannot reveal entries cut
off *at the end*: compare ``head`` with the last entry the rover published.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from rig_common import finite_in, int_in
from telemetry.contract.json_fields import JsonObject, JsonValue
from telemetry.contract.keys import fingerprint

LEDGER_VERSION = 1
LEDGER_DOMAIN = b"regolith-rig/ledger/v1\x00"
GENESIS = "0" * 64
BODY_FIELDS = ("cycle", "energy_j", "index", "key", "mass_g", "prev", "rig", "site", "t_ms",
               "v", "x_mm", "y_mm")
_INT_FIELDS = ("cycle", "energy_j", "index", "mass_g", "t_ms", "v", "x_mm", "y_mm")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]{0,64}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _value_error(key: str, problem: str) -> ValueError:
    return ValueError(f"{key}: {problem}")


@dataclass(frozen=True, slots=True)
class DumpRecord:
    """What the controller knows about one dump (the input of ``Ledger.append``)."""

    time: float  # rig wall clock, Unix seconds
    x: float  # where the mass was dug, m (site frame)
    y: float
    mass_kg: float
    energy_j: float
    cycle_id: int
    site: str = ""  # dig site name from the site plan ("" if none)

    def check(self) -> None:
        """Raise ``ValueError`` naming the field for a record that cannot be ledgered."""
        for name in ("time", "x", "y", "mass_kg", "energy_j"):
            finite_in(getattr(self, name), f"DumpRecord.{name}", error=_value_error)
        if self.mass_kg < 0 or self.energy_j < 0:
            raise ValueError(f"DumpRecord: mass and energy must be >= 0, got "
                             f"{self.mass_kg} kg, {self.energy_j} J")
        int_in(self.cycle_id, "DumpRecord.cycle_id", 0, error=_value_error)
        if not isinstance(self.site, str) or not _NAME_RE.match(self.site):
            raise ValueError(f"DumpRecord.site: expected 0-64 characters of [A-Za-z0-9_.-], "
                             f"got {self.site!r}")


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    body: Mapping[str, JsonValue]
    hash: str
    sig: str

    @property
    def index(self) -> int:
        return int(self.body["index"])

    @property
    def site(self) -> str:
        return str(self.body["site"])

    @property
    def mass_g(self) -> int:
        return int(self.body["mass_g"])

    @property
    def mass_kg(self) -> float:
        return self.mass_g / 1000.0

    def record(self) -> JsonObject:
        """The whole signed entry as a dict (the ``record`` of the MQTT ledger message)."""
        return {**self.body, "hash": self.hash, "sig": self.sig}

    def line(self) -> str:
        return json.dumps(self.record(), sort_keys=True, separators=(",", ":")) + "\n"


def canonical(body: Mapping[str, JsonValue]) -> bytes:
    return json.dumps(dict(body), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode("ascii")


def entry_hash(body: Mapping[str, JsonValue]) -> str:
    return hashlib.sha256(LEDGER_DOMAIN + canonical(body)).hexdigest()


def make_entry(record: DumpRecord, *, rig: str, index: int, prev: str,
               signing_key: SigningKey) -> LedgerEntry:
    """Sign one entry (pure apart from the signature)."""
    record.check()
    body = {
        "v": LEDGER_VERSION, "rig": rig, "index": index, "prev": prev,
        "t_ms": round(record.time * 1000), "cycle": record.cycle_id, "site": record.site,
        "x_mm": round(record.x * 1000), "y_mm": round(record.y * 1000),
        "mass_g": round(record.mass_kg * 1000), "energy_j": round(record.energy_j),
        "key": fingerprint(signing_key),
    }
    data = LEDGER_DOMAIN + canonical(body)
    sig = base64.b64encode(signing_key.sign(data).signature).decode("ascii")
    return LedgerEntry(body, hashlib.sha256(data).hexdigest(), sig)


# --- verification -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BrokenEntry:
    line: int  # 1-based line (or position) in the input
    index: int | None  # the entry's own index field, when readable
    reason: str

    def __str__(self) -> str:
        idx = f" (entry {self.index})" if self.index is not None else ""
        return f"line {self.line}{idx}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LedgerReport:
    entries: int  # intact entries before the first broken one
    head: str  # hash of the last intact entry (GENESIS if none)
    totals_kg: Mapping[str, float]
    broken: BrokenEntry | None = None
    quota_violations: tuple[str, ...] = ()
    rig: str | None = None
    quotas_kg: Mapping[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.quota_violations


def check_entry(obj: object, *, expected_index: int, prev: str, key: VerifyKey,
                rig: str | None) -> tuple[LedgerEntry | None, str]:
    """One entry against its position in the chain: (entry, "") or (None, reason)."""
    if not isinstance(obj, dict):
        return None, f"expected a JSON object, got {type(obj).__name__}"
    missing = [f for f in (*BODY_FIELDS, "hash", "sig") if f not in obj]
    if missing:
        return None, f"missing field {missing[0]!r}"
    extra = sorted(set(obj) - {*BODY_FIELDS, "hash", "sig"})
    if extra:
        return None, f"unknown field {extra[0][:32]!r}"
    for f in _INT_FIELDS:
        if type(obj[f]) is not int:
            return None, f"{f!r}: expected an integer, got {obj[f]!r}"[:120]
    for f in ("rig", "site", "key", "prev", "hash", "sig"):
        if not isinstance(obj[f], str):
            return None, f"{f!r}: expected a string, got {type(obj[f]).__name__}"
    if obj["v"] != LEDGER_VERSION:
        return None, f"'v': expected {LEDGER_VERSION}, got {obj['v']}"
    if not _NAME_RE.match(obj["site"]) or not obj["rig"] or not _NAME_RE.match(obj["rig"]):
        return None, "'rig'/'site': expected names of [A-Za-z0-9_.-]"
    body = {f: obj[f] for f in BODY_FIELDS}
    if obj["index"] != expected_index:
        hint = "an entry is missing" if obj["index"] > expected_index else \
            "an entry is repeated or out of order"
        return None, f"index {obj['index']}, expected {expected_index} ({hint})"
    if obj["prev"] != prev:
        return None, f"'prev' does not match the hash of entry {expected_index - 1} " \
                     f"(chain broken: entry inserted, removed or reordered)"
    if rig is not None and obj["rig"] != rig:
        return None, f"rig {obj['rig']!r}, the ledger belongs to {rig!r}"
    if obj["key"] != fingerprint(key):
        return None, f"signed by key {obj['key'][:16]!r}, expected {fingerprint(key)}"
    if obj["mass_g"] < 0 or obj["energy_j"] < 0 or obj["cycle"] < 0:
        return None, "negative mass, energy or cycle"
    data = LEDGER_DOMAIN + canonical(body)
    digest = hashlib.sha256(data).hexdigest()
    if obj["hash"] != digest:
        return None, "hash does not match the entry's content (entry altered)"
    try:
        sig = base64.b64decode(obj["sig"].encode("ascii"), validate=True)
        key.verify(data, sig)
    except (BadSignatureError, binascii.Error, ValueError, UnicodeEncodeError):
        return None, "signature does not verify with the rover key"
    return LedgerEntry(body, digest, obj["sig"]), ""


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, JsonValue]]) -> JsonObject:
    out: JsonObject = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(f"duplicate field {k[:32]!r}")
        out[k] = v
    return out


def parse_line(text: str) -> JsonValue:
    """JSON with duplicate keys refused (a parser differential could hide a change)."""
    return json.loads(text, object_pairs_hook=_no_duplicates)


def verify_ledger(lines: Iterable[str | bytes | Mapping[str, JsonValue]], key: VerifyKey, *,
                  quotas_kg: Mapping[str, float] | None = None,
                  rig: str | None = None) -> LedgerReport:
    """Check a whole ledger in order; stop at the first broken entry. Never raises on data.

    ``quotas_kg`` (site -> kg) also checks the totals; ``rig`` pins the rig id."""
    prev, index = GENESIS, 0
    grams: dict[str, int] = {}
    first_over: dict[str, int] = {}
    broken: BrokenEntry | None = None
    quotas = dict(quotas_kg or {})
    for lineno, item in enumerate(lines, start=1):
        if isinstance(item, bytes | str):
            text = item.decode("utf-8", "replace") if isinstance(item, bytes) else item
            if not text.strip():
                broken = BrokenEntry(lineno, None, "empty line")
                break
            try:
                obj: JsonValue = parse_line(text)
            except _DuplicateKey as err:
                broken = BrokenEntry(lineno, None, str(err))
                break
            except (ValueError, RecursionError) as err:
                broken = BrokenEntry(lineno, None, f"not JSON: {err}"[:200])
                break
        else:
            obj = dict(item)
        entry, reason = check_entry(obj, expected_index=index, prev=prev, key=key, rig=rig)
        if entry is None:
            idx = obj.get("index") if isinstance(obj, dict) else None
            broken = BrokenEntry(lineno, idx if type(idx) is int else None, reason)
            break
        rig = rig or str(entry.body["rig"])
        grams[entry.site] = grams.get(entry.site, 0) + int(entry.body["mass_g"])
        quota = quotas.get(entry.site)
        if quota is not None and grams[entry.site] > round(quota * 1000):
            first_over.setdefault(entry.site, entry.index)
        prev, index = entry.hash, index + 1
    totals = {site: g / 1000.0 for site, g in sorted(grams.items())}
    violations = []
    if quotas_kg is not None:
        for site, kg in totals.items():
            if site not in quotas:
                violations.append(f"{kg:.3f} kg extracted at undeclared site {site!r}")
            elif site in first_over:
                violations.append(f"site {site!r}: {kg:.3f} kg extracted, quota "
                                  f"{quotas[site]:g} kg (first exceeded at entry "
                                  f"{first_over[site]})")
    return LedgerReport(index, prev, totals, broken, tuple(violations), rig, quotas)


__all__ = [
    "GENESIS",
    "LEDGER_DOMAIN",
    "BrokenEntry",
    "DumpRecord",
    "LedgerEntry",
    "LedgerReport",
    "canonical",
    "check_entry",
    "entry_hash",
    "make_entry",
    "parse_line",
    "verify_ledger",
]
