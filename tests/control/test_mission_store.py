"""The mission store: one row per mission, durable across a SIGKILL, written off the loop
after the ledger entries a record counts; ``read_resume`` reconciles it with the ledger."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
from dataclasses import replace

import pytest
from nacl.signing import SigningKey

from control.core.events import ControlEvent, EventKind, Severity
from control.core.mission import MissionPlan, MissionSite, plan_identity
from control.core.mission_record import MissionRecord, SiteRecord
from control.runtime.ledger_writer import LedgerWriter
from control.runtime.mission_store import MissionJournal, MissionStore, read_resume
from control.security.ledger import Ledger

PLAN = MissionPlan("m", (MissionSite("A", 2.0, 0.0, 45.0), MissionSite("B", 0.0, 2.0, 45.0)))
HASH = plan_identity(PLAN)
KEY = SigningKey(bytes(range(60, 92)))


def rec(mission_id: str = "m-1", **over) -> MissionRecord:
    base = MissionRecord(mission_id, HASH, "m", 0, (SiteRecord("A", 20.0, 1), SiteRecord("B")))
    return replace(base, **over)


def test_one_active_mission_and_the_others_kept_as_history(tmp_path) -> None:
    clock = iter(range(100, 200))
    store = MissionStore(tmp_path / "m.db", lambda: float(next(clock)))
    assert store.active() is None
    store.commit(rec(phase="digging"))
    store.commit(rec(phase="dumping", dumps=1))
    assert store.active() == rec(phase="dumping", dumps=1)
    store.commit(rec("m-2"))
    assert store.active().mission_id == "m-2"
    history = store.history()
    assert [(h[2].mission_id, h[1] is None) for h in history] == [("m-1", False), ("m-2", True)]
    assert history[0][2].phase == "dumping"  # the old mission's last progress stays
    store.close()


def test_a_committed_record_survives_a_sigkill(tmp_path) -> None:
    path = tmp_path / "m.db"
    code = (
        "import os, signal, sys\n"
        "from control.runtime.mission_store import MissionStore\n"
        "from control.core.mission_record import MissionRecord\n"
        "s = MissionStore(sys.argv[1], lambda: 1.0)\n"
        "s.commit(MissionRecord.from_json(sys.argv[2]))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    done = subprocess.run([sys.executable, "-c", code, str(path),
                           rec(phase="lifting").to_json()], timeout=60)
    assert done.returncode == -signal.SIGKILL
    assert MissionStore(path, lambda: 2.0).active() == rec(phase="lifting")


def test_an_unreadable_record_is_ended_not_resumed(tmp_path, caplog) -> None:
    store = MissionStore(tmp_path / "m.db", lambda: 1.0)
    store.commit(rec())
    store._db.execute("UPDATE missions SET record = '{\"v\": 9}'")
    assert store.active() is None
    assert "unreadable" in caplog.text


async def test_the_journal_writes_on_the_ledgers_thread_after_the_dumps(tmp_path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.jsonl", KEY, "rig-1")
    writer = LedgerWriter(ledger)
    store = MissionStore(tmp_path / "m.db", lambda: 1.0)
    seen: list[tuple[str, int]] = []
    commit = store.commit

    def spy(record: MissionRecord) -> None:
        seen.append((threading.current_thread().name, ledger.count))
        commit(record)

    store.commit = spy  # type: ignore[method-assign]
    journal = MissionJournal(store, writer.after_booked)
    writer.book(ControlEvent(1.0, EventKind.BUCKET_DUMPED, Severity.INFO, "dumped",
                             {"mass_kg": 12.5, "site": "A", "x": 2.0, "y": 0.0, "cycle": 1}),
                100.0, 1_700_000_000.0)
    journal.save(rec(dumps=1))
    journal.save(rec(dumps=1))  # the same record: written once
    await journal.close()
    await writer.close()
    assert len(seen) == 1
    thread, entries = seen[0]
    assert thread.startswith("ledger") and thread != threading.main_thread().name
    assert entries == 1  # the dump the record counts was on disk first
    assert store.active() == rec(dumps=1)
    ledger.close()


async def test_read_resume_takes_the_ledgers_mass_since_the_mission_began(tmp_path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.jsonl", KEY, "rig-1")
    writer = LedgerWriter(ledger)
    for i, (site, kg) in enumerate([("A", 30.0), ("A", 27.5), ("A", 20.0)]):
        writer.book(ControlEvent(1.0, EventKind.BUCKET_DUMPED, Severity.INFO, "d",
                                 {"mass_kg": kg, "site": site, "x": 2.0, "y": 0.0,
                                  "cycle": i}), 100.0 * (i + 1), 1_700_000_000.0 + i)
    await writer.close()
    store = MissionStore(tmp_path / "m.db", lambda: 1.0)
    store.commit(rec(ledger_start=1, dumps=1))  # began after entry 0 (another mission's)
    resume, plan_hash = await asyncio.get_running_loop().run_in_executor(
        None, read_resume, PLAN, store, ledger)
    assert plan_hash == HASH and resume.resumed
    assert resume.progress.sites[0].delivered_kg == pytest.approx(47.5)
    assert resume.progress.sites[0].done and resume.progress.current.site.name == "B"
    other = replace(PLAN, name="m", sites=PLAN.sites[:1])
    fresh, _ = read_resume(other, store, ledger)
    assert not fresh.resumed and fresh.progress.ledger_start == 3
    assert fresh.progress.mission_id == "m-2"
    ledger.close()


def test_a_relative_state_path_is_beside_the_outbox_not_in_the_working_directory(
        tmp_path) -> None:
    """Every real-stack test wrote one rig-control-mission.db in the repository's root, and
    a later test's controller resumed another test's mission from it."""
    from control.cli import mission_state_path
    from control.core.config import load_config

    cfg = load_config(None, ground={"outbox_path": str(tmp_path / "spool" / "outbox.db")})
    assert mission_state_path(cfg) == tmp_path / "spool" / "rig-control-mission.db"
    absolute = load_config(None, mission={"state_path": str(tmp_path / "m.db")})
    assert mission_state_path(absolute) == tmp_path / "m.db"
    # '' keeps none, as the configuration reference says (the loader refused it)
    config = tmp_path / "none.toml"
    config.write_text('[mission]\nstate_path = ""\n')
    assert mission_state_path(load_config(config)) is None
