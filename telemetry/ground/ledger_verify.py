"""``rig-ground ledger verify FILE``: check an extraction ledger end to end.

``FILE`` is the rover's ledger (JSONL, one signed entry per line) or a
recording written by ``rig-ground record``, a SQLite file or a
``postgresql://`` store (its ``ledger`` messages, of ``--rig`` if given, are taken
in index order, exact duplicates dropped). Checks the hash chain, every
signature against the rover's public key (``--rover-key``, a ``.pub``/``.key``
file or 64 hex characters, obtained out of band: never from the ledger
itself), and, with ``--site-plan`` or ``--quota``, the totals per site against
the permitted quotas. Prints the first broken entry, if any.
Exit status: 0 intact and within quota, 1 broken or over quota, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

from telemetry.contract import TopicKind
from telemetry.contract.errors import KeyFileError, SitePlanError
from telemetry.contract.json_fields import JsonValue
from telemetry.contract.keys import load_public_key
from telemetry.contract.ledger_format import LedgerReport, verify_ledger
from telemetry.contract.ledger_record import ReceivedRecord
from telemetry.contract.site_plan import site_plan_from_dict
from telemetry.ground.stores import StoreError, redact_url

__all__ = ["load_entries", "register", "verify_file"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


def load_entries(source: str | Path, rig: str | None = None
                 ) -> list[bytes] | list[Mapping[str, JsonValue]]:
    """Lines of a JSONL ledger, or the ledger records of a recording (as dicts).

    Raises ``OSError`` (file) or ``telemetry.ground.stores.StoreError`` (store)."""
    from telemetry.ground.stores import StoreKind, parse_target

    if parse_target(source, "file").kind is StoreKind.SQLITE:
        path = Path(parse_target(source).location)
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
        if head != _SQLITE_MAGIC:
            data = path.read_bytes()
            lines = data.split(b"\n")
            return lines[:-1] if lines and lines[-1] == b"" else lines
    from telemetry.ground._sync import run_sync

    records = run_sync(_ledger_records(source, rig))
    return sorted(records.values(), key=_index_or_minus_one)


def _index_or_minus_one(record: Mapping[str, JsonValue]) -> int:
    index = ReceivedRecord.of(record).index
    return -1 if index is None else index


async def _ledger_records(source: str | Path, rig: str | None
                          ) -> dict[str, Mapping[str, JsonValue]]:
    from telemetry.contract.errors import PayloadDecodeError
    from telemetry.contract.payloads import LedgerMessage, decode
    from telemetry.ground.stores import open_store

    store = await open_store(source)
    records: dict[str, Mapping[str, JsonValue]] = {}
    try:
        async for row in store.rows(type_=TopicKind.LEDGER.value, rig=rig):
            try:
                msg = decode(row.payload)
            except PayloadDecodeError:
                continue
            if isinstance(msg, LedgerMessage):
                records.setdefault(json.dumps(msg.record, sort_keys=True), msg.record)
    finally:
        await store.close()
    return records


def _quotas(args: argparse.Namespace) -> dict[str, float] | None:
    quotas: dict[str, float] | None = None
    if args.site_plan:
        with open(args.site_plan, "rb") as fh:
            data = tomllib.load(fh)
        section = data.get("site_plan", data)
        plan = site_plan_from_dict(section)
        quotas = {s.name: s.quota_kg for s in plan.sites}
    for item in args.quota or ():
        site, sep, kg = item.partition("=")
        if not sep:
            raise ValueError(f"--quota {item!r}: expected SITE=KG")
        quotas = quotas or {}
        quotas[site] = float(kg)
    return quotas


def verify_file(path: str | Path, rover_key: str, *,
                quotas_kg: Mapping[str, float] | None = None,
                rig: str | None = None) -> LedgerReport:
    _, key = load_public_key(rover_key)
    return verify_ledger(load_entries(path, rig), key, quotas_kg=quotas_kg, rig=rig)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ledger", help="extraction ledger tools")
    sub = p.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    v = sub.add_parser("verify", help="check chain, signatures and quotas of a ledger")
    v.add_argument("file", help="ledger JSONL, a `record` file or a postgresql://... store")
    v.add_argument("--rover-key", required=True,
                   help="rover public key: .pub file or 64 hex characters")
    v.add_argument("--site-plan", type=Path,
                   help="TOML with [site_plan] (the rover config) for the quotas")
    v.add_argument("--quota", action="append", metavar="SITE=KG", help="quota of one site")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=_main, needs_broker=False)


def _main(args: argparse.Namespace, settings: object) -> int:
    try:
        quotas = _quotas(args)
        report = verify_file(args.file, args.rover_key, quotas_kg=quotas, rig=args.rig)
    except (OSError, KeyFileError, SitePlanError, ValueError, StoreError,
            tomllib.TOMLDecodeError) as err:
        print(f"rig-ground ledger verify: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({
            "ok": report.ok, "entries": report.entries, "head": report.head, "rig": report.rig,
            "totals_kg": dict(report.totals_kg), "quotas_kg": dict(report.quotas_kg),
            "broken": None if report.broken is None else {
                "line": report.broken.line, "index": report.broken.index,
                "reason": report.broken.reason},
            "quota_violations": list(report.quota_violations)}, indent=2))
    else:
        print(f"{redact_url(args.file)}: {report.entries} intact entries, rig {report.rig or '-'}, "
              f"head {report.head[:16]}")
        for site, kg in report.totals_kg.items():
            quota = report.quotas_kg.get(site)
            print(f"  site {site or '(none)'}: {kg:.3f} kg"
                  + (f" of {quota:g} kg permitted" if quota is not None else ""))
        if report.broken is not None:
            print(f"FIRST BROKEN ENTRY: {report.broken}")
        for v in report.quota_violations:
            print(f"QUOTA EXCEEDED: {v}")
        print("OK" if report.ok else "FAILED")
    return 0 if report.ok else 1
