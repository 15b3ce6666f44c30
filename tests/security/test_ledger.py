"""The extraction ledger: durable appends, re-opening, and tamper detection."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from control.security import (
    GENESIS,
    DumpRecord,
    Ledger,
    LedgerCorruptError,
    verify_ledger,
)

ROVER = SigningKey(bytes(range(100, 132)))
OTHER = SigningKey(bytes(range(50, 82)))
T0 = 1_750_000_000.0


def dump(i: int, site: str = "A", mass: float = 18.25) -> DumpRecord:
    return DumpRecord(time=T0 + 60 * i, x=3.0 + 0.01 * i, y=-0.015, mass_kg=mass,
                      energy_j=5120.4 + i, cycle_id=i + 1, site=site)


def write_ledger(path: Path, n: int = 6) -> list[str]:
    with Ledger.open(path, ROVER, "rig-1") as ledger:
        for i in range(n):
            ledger.append(dump(i, "A" if i % 2 == 0 else "B"))
    return path.read_text().splitlines()


def first_broken(lines: list[str]) -> tuple[int, int | None, str]:
    report = verify_ledger(lines, ROVER.verify_key)
    assert report.broken is not None, "tampering went unnoticed"
    return report.broken.line, report.broken.index, report.broken.reason


def test_entries_chain_sign_and_carry_integers(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with Ledger.open(path, ROVER, "rig-1") as ledger:
        e0 = ledger.append(dump(0))
        e1 = ledger.append(dump(1))
        assert e0.body["prev"] == GENESIS and e1.body["prev"] == e0.hash
        assert ledger.head == e1.hash and ledger.count == 2
        assert e0.body["mass_g"] == 18250 and e0.body["x_mm"] == 3000
        assert e0.body["t_ms"] == int(T0 * 1000)
        record = e1.record()  # the MQTT ledger message's record
        assert json.loads(json.dumps(record)) == json.loads(e1.line())
        assert ledger.totals_kg() == {"A": 36.5}
    report = verify_ledger(path.read_text().splitlines(), ROVER.verify_key)
    assert report.ok and report.entries == 2 and report.head == e1.hash


def test_reopen_continues_the_chain_and_totals(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    write_ledger(path, 3)
    with Ledger.open(path, ROVER, "rig-1") as ledger:
        assert ledger.count == 3
        assert ledger.totals_kg() == {"A": 36.5, "B": 18.25}
        ledger.append(dump(3, "B"))
    assert verify_ledger(path.read_text().splitlines(), ROVER.verify_key).entries == 4


def test_torn_last_line_is_dropped_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    lines = write_ledger(path, 2)
    with open(path, "ab") as fh:  # a crash in the middle of the third append
        fh.write(lines[1][: len(lines[1]) // 2].encode())
    with Ledger.open(path, ROVER, "rig-1") as ledger:
        assert ledger.count == 2
        ledger.append(dump(2))
    assert verify_ledger(path.read_text().splitlines(), ROVER.verify_key).ok


def test_reopen_refuses_a_tampered_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    lines = write_ledger(path, 3)
    obj = json.loads(lines[1])
    obj["mass_g"] = 1
    lines[1] = json.dumps(obj)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(LedgerCorruptError) as info:
        Ledger.open(path, ROVER, "rig-1")
    assert info.value.line == 2 and info.value.index == 1


def test_reopen_with_another_rig_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    write_ledger(path, 1)
    with pytest.raises(LedgerCorruptError, match="rig-1"):
        Ledger.open(path, ROVER, "rig-2")


def test_bad_records_are_refused_before_writing(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "l.jsonl", ROVER, "rig-1") as ledger:
        for bad in (DumpRecord(T0, float("nan"), 0, 1, 1, 1), DumpRecord(T0, 0, 0, -1, 1, 1),
                    DumpRecord(T0, 0, 0, 1, 1, -1), DumpRecord(T0, 0, 0, 1, 1, 1, "a b")):
            with pytest.raises(ValueError, match="DumpRecord"):
                ledger.append(bad)
        assert ledger.count == 0
    assert (tmp_path / "l.jsonl").read_text() == ""


# --- tampering: the first broken entry is reported -------------------------------------

def test_mass_changed(tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl")
    obj = json.loads(lines[3])
    obj["mass_g"] -= 5000
    lines[3] = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    assert first_broken(lines) == (4, 3, "hash does not match the entry's content "
                                         "(entry altered)")


def test_mass_changed_and_hash_recomputed(tmp_path: Path) -> None:
    from telemetry.contract.ledger_format import BODY_FIELDS, entry_hash
    lines = write_ledger(tmp_path / "l.jsonl")
    obj = json.loads(lines[2])
    obj["mass_g"] = 1
    obj["hash"] = entry_hash({f: obj[f] for f in BODY_FIELDS})
    lines[2] = json.dumps(obj)
    line, index, reason = first_broken(lines)
    assert (line, index) == (3, 2) and "signature" in reason


def test_entry_removed(tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl")
    del lines[2]
    line, index, reason = first_broken(lines)
    assert (line, index) == (3, 3) and "index 3, expected 2" in reason and "missing" in reason


def test_entries_reordered(tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl")
    lines[1], lines[4] = lines[4], lines[1]
    line, index, reason = first_broken(lines)
    assert (line, index) == (2, 4) and "expected 1" in reason


def test_entry_renumbered_to_hide_a_removal(tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl")
    del lines[2]
    obj = json.loads(lines[2])
    obj["index"] = 2
    lines[2] = json.dumps(obj)
    line, index, reason = first_broken(lines)
    assert (line, index) == (3, 2) and "chain broken" in reason


def test_signatures_swapped(tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl")
    a, b = json.loads(lines[1]), json.loads(lines[2])
    a["sig"], b["sig"] = b["sig"], a["sig"]
    lines[1], lines[2] = json.dumps(a), json.dumps(b)
    line, index, reason = first_broken(lines)
    assert (line, index) == (2, 1) and "signature" in reason


def test_ledger_forged_with_another_key(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    with Ledger.open(path, OTHER, "rig-1") as ledger:
        ledger.append(dump(0))
    line, index, reason = first_broken(path.read_text().splitlines())
    assert (line, index) == (1, 0) and "signed by key" in reason


def test_duplicate_key_trick_is_refused(tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl", 2)
    lines[1] = '{"mass_g":999999,' + lines[1][1:]
    assert first_broken(lines)[2] == "duplicate field 'mass_g'"


@pytest.mark.parametrize("garbage", ["", "not json", "[]", '{"index": 0}',
                                     '{"index": "0"}', "\x00" * 10])
def test_garbage_lines_are_reported_not_raised(garbage: str, tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl", 2)
    lines.insert(1, garbage)
    assert first_broken(lines)[0] == 2


def test_bad_base64_signature(tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl", 2)
    obj = json.loads(lines[0])
    obj["sig"] = "!" + obj["sig"][1:]
    lines[0] = json.dumps(obj)
    assert first_broken(lines)[:2] == (1, 0)
    obj["sig"] = base64.b64encode(b"short").decode()
    lines[0] = json.dumps(obj)
    assert first_broken(lines)[:2] == (1, 0)


def test_totals_against_quota(tmp_path: Path) -> None:
    lines = write_ledger(tmp_path / "l.jsonl", 6)  # A: 3 x 18.25, B: 3 x 18.25
    ok = verify_ledger(lines, ROVER.verify_key, quotas_kg={"A": 60, "B": 60})
    assert ok.ok and ok.totals_kg == {"A": 54.75, "B": 54.75}
    over = verify_ledger(lines, ROVER.verify_key, quotas_kg={"A": 50, "B": 60})
    assert not over.ok and over.broken is None
    assert over.quota_violations == ("site 'A': 54.750 kg extracted, quota 50 kg "
                                     "(first exceeded at entry 4)",)
    undeclared = verify_ledger(lines, ROVER.verify_key, quotas_kg={"A": 60})
    assert "undeclared site 'B'" in undeclared.quota_violations[0]


def test_append_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    with Ledger.open(tmp_path / "l.jsonl", ROVER, "rig-1") as ledger:
        before = len(synced)
        ledger.append(dump(0))
        assert len(synced) == before + 1


def test_failed_write_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from control.security import LedgerError
    path = tmp_path / "l.jsonl"
    with Ledger.open(path, ROVER, "rig-1") as ledger:
        ledger.append(dump(0))
        real_write = os.write

        def half_then_fail(fd: int, data: bytes) -> int:
            if fd == ledger._fd and len(data) > 10:
                real_write(fd, data[:10])
                raise OSError(28, "No space left on device")
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", half_then_fail)
        with pytest.raises(LedgerError, match="No space left"):
            ledger.append(dump(1))
        monkeypatch.setattr(os, "write", real_write)
        assert ledger.count == 1
        ledger.append(dump(1))
    assert verify_ledger(path.read_text().splitlines(), ROVER.verify_key).entries == 2
