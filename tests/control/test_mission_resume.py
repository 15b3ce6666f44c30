"""A restarted controller resumes its mission: the record, its reconciliation with the
ledger, reading the rig after the start, and ``new_mission`` (pure; plain numbers for time)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from control.core.commands import CommandContext, CommandName, GroundCommand, check_command
from control.core.events import ControlEvent, EventKind
from control.core.mission import MissionPlan, MissionProgress, MissionSite, plan_identity
from control.core.mission_record import (
    LedgerTally,
    MissionRecord,
    MissionRecordError,
    SiteRecord,
    reconcile,
    record_of,
    tally_ledger,
)
from control.core.step import ControlCore, FirmwareRequest, LinkUp
from control.core.supervisor import Mode
from firmware_bridge.messages import CommandCode

from .helpers import SIM_CAPABILITIES, Driver, config, meas

PLAN = MissionPlan("m", (MissionSite("A", 2.0, 0.0, 45.0, 6), MissionSite("B", 0.0, 2.0, 45.0, 6)),
                   dump_x=0.0, dump_y=0.0)
HASH = plan_identity(PLAN)
WALL = 1_000_000.0


def cmd(name: CommandName, cid: str = "c") -> GroundCommand:
    return GroundCommand(cid, name, WALL + 5.0, WALL)


def record(**over) -> MissionRecord:
    base = MissionRecord("m-1", HASH, "m", 3, (SiteRecord("A", 20.0, 1), SiteRecord("B")),
                         "armed", "A", 0.0, 1, False)
    return replace(base, **over)


def events(d: Driver, kind: EventKind) -> list[ControlEvent]:
    return [e for o in d.outputs for e in o.events
            if isinstance(e, ControlEvent) and e.kind is kind]


# --- identity and the record ---------------------------------------------------------------


def test_plan_identity_follows_the_content_not_the_object() -> None:
    same = MissionPlan("m", tuple(PLAN.sites), dump_x=0.0, dump_y=0.0)
    assert plan_identity(same) == HASH
    moved = replace(PLAN, sites=(replace(PLAN.sites[0], target_kg=50.0), PLAN.sites[1]))
    assert plan_identity(moved) != HASH


def test_a_record_round_trips_and_a_bad_field_is_named() -> None:
    r = record(phase="dumping", bucket_kg=8.25, complete=True)
    assert MissionRecord.from_json(r.to_json()) == r
    broken = r.to_json().replace('"dumps":1', '"dumps":-1')
    with pytest.raises(MissionRecordError) as info:
        MissionRecord.from_json(broken)
    assert info.value.key == "dumps" and "-1" in str(info.value)
    bad_site = r.to_json().replace('"delivered_kg":20.0', '"delivered_kg":"lots"')
    with pytest.raises(MissionRecordError) as info:
        MissionRecord.from_json(bad_site)
    assert info.value.key == "sites[0].delivered_kg"
    with pytest.raises(MissionRecordError):
        MissionRecord.from_json("not json")


# --- reconciliation -------------------------------------------------------------------------


def test_the_same_plan_resumes_with_the_ledgers_mass() -> None:
    tally = tally_ledger([{"site": "A", "mass_g": 27_500}, {"site": "A", "mass_g": 20_000}])
    r = reconcile(PLAN, HASH, record(), tally, ledger_count=5)
    assert r.resumed and r.progress.mission_id == "m-1" and r.progress.ledger_start == 3
    a, b = r.progress.sites
    assert a.delivered_kg == pytest.approx(47.5) and a.done and a.cycles == 1
    assert b.delivered_kg == 0.0 and r.progress.current is b
    assert r.progress.dumps == 2
    assert any("ledger has 47.5 kg" in n for n in r.notes)


def test_without_a_ledger_the_record_counts() -> None:
    r = reconcile(PLAN, HASH, record(), None, ledger_count=0)
    assert r.progress.sites[0].delivered_kg == 20.0 and r.progress.dumps == 1


def test_another_plan_begins_a_new_mission_at_the_ledgers_end() -> None:
    old = record(plan_hash="0" * 64)
    r = reconcile(PLAN, HASH, old, None, ledger_count=9)
    assert not r.resumed and r.replaced == old
    assert r.progress.mission_id == "m-2" and r.progress.ledger_start == 9
    assert r.progress.delivered_kg == 0.0
    first = reconcile(PLAN, HASH, None, None, ledger_count=0)
    assert first.progress.mission_id == "m-1" and not first.resumed


def test_a_dump_cut_short_before_its_booking_is_found() -> None:
    taken = record(phase="dumping", bucket_kg=12.0, dumps=1)
    unbooked = reconcile(PLAN, HASH, taken, LedgerTally(1, {"A": 20.0}), 4)
    assert unbooked.interrupted_dump_kg == 12.0 and unbooked.dig_site == 0
    booked = reconcile(PLAN, HASH, taken, LedgerTally(2, {"A": 32.0}), 5)
    assert booked.interrupted_dump_kg == 0.0  # the ledger has it: nothing to book again


# --- the core after a restart -----------------------------------------------------------------


def resumed_driver(r_record: MissionRecord | None, tally: LedgerTally | None,
                   watchdog_tripped: bool = True) -> Driver:
    core = ControlCore(config(strategy={"drive_overlap": False}), PLAN)
    core.resume(reconcile(PLAN, HASH, r_record, tally, 4), HASH)
    d = Driver(core)
    d.step(notices=(LinkUp("sim", capabilities=SIM_CAPABILITIES,
                           watchdog_tripped=watchdog_tripped),))
    return d


def arm_and_start(d: Driver, m) -> None:
    assert d.core.handle_command(cmd(CommandName.ARM, "arm"), d.now, WALL).accepted
    d.step(m)
    d.step(m)
    assert d.core.handle_command(cmd(CommandName.START, "start"), d.now, WALL).accepted


def test_a_loaded_bucket_in_the_soil_is_lifted_and_dumped_before_the_mission_goes_on() -> None:
    d = resumed_driver(record(phase="digging"), LedgerTally(1, {"A": 20.0}))
    in_soil = meas(x=2.0, cut_depth=0.04, bucket_load=8.2)
    arm_and_start(d, in_soil)
    for _ in range(20):  # 0.2 s: the filters have not settled, nothing moves
        d.step(in_soil)
    assert not d.core.recovered and d.core.mode is Mode.ARMED
    assert not [r for o in d.outputs for r in o.requests
                if isinstance(r, FirmwareRequest) and r.code is not CommandCode.ENABLE]
    for _ in range(60):
        d.step(in_soil)
    assert d.core.recovered
    [ev] = events(d, EventKind.MISSION_RESUMED)
    assert ev.text.startswith("resumed: site A 20.0 / 45 kg, site B 0.0 / 45 kg, bucket 8.2 kg")
    assert "drum in the soil" in ev.text and ev.data["watchdog_tripped"]
    assert d.core.snapshot().resumed.bucket_kg == 8.2
    assert d.core.snapshot().to_json()["resumed"]["text"] == ev.text
    assert events(d, EventKind.WATCHDOG_TRIPPED)
    codes = [r.code for o in d.outputs for r in o.requests if isinstance(r, FirmwareRequest)]
    assert CommandCode.STOW in codes  # the drum out of the soil first
    stowed = replace(in_soil, cut_depth=-0.3)
    for _ in range(10):
        d.step(stowed)
    assert d.core.mode is Mode.DRIVING  # to the dump, with the load
    drive = [r for o in d.outputs for r in o.requests
             if isinstance(r, FirmwareRequest) and r.code is CommandCode.DRIVE_TO][-1]
    assert drive.args[:2] == (0.0, 0.0)
    at_dump = replace(stowed, x=0.0)
    for _ in range(5):
        d.step(at_dump)
        if d.core.mode is Mode.DUMPING:
            break
    d.step(replace(at_dump, bucket_load=0.0), auto_ok=False)
    d.step(replace(at_dump, bucket_load=0.0))
    [dumped] = events(d, EventKind.BUCKET_DUMPED)
    assert dumped.data["site"] == "A" and dumped.data["mass_kg"] == pytest.approx(8.2, abs=0.3)
    assert d.core.mission.sites[0].delivered_kg == pytest.approx(28.2, abs=0.3)


def test_a_site_the_ledger_says_is_done_is_not_dug_again() -> None:
    d = resumed_driver(record(), LedgerTally(2, {"A": 47.5}))
    empty = meas(x=0.0, cut_depth=-0.3, bucket_load=0.0)
    arm_and_start(d, empty)
    for _ in range(80):
        d.step(empty)
        if d.core.mode is Mode.DRIVING:
            break
    drive = [r for o in d.outputs for r in o.requests
             if isinstance(r, FirmwareRequest) and r.code is CommandCode.DRIVE_TO][-1]
    assert drive.args[:2] == (0.0, 2.0)  # site B, not A
    assert "resumed: site A 47.5 / 45 kg" in events(d, EventKind.MISSION_RESUMED)[0].text


def test_a_dump_cut_short_is_booked_for_what_left_the_bucket() -> None:
    d = resumed_driver(record(phase="dumping", bucket_kg=12.0), LedgerTally(1, {"A": 20.0}))
    for _ in range(80):
        d.step(meas(x=0.0, cut_depth=-0.3, bucket_load=3.0))
    [booked] = events(d, EventKind.BUCKET_DUMPED)
    assert booked.data["mass_kg"] == pytest.approx(9.0, abs=0.05)
    assert booked.data["site"] == "A" and booked.data["interrupted"]
    assert d.core.mission.sites[0].delivered_kg == pytest.approx(29.0, abs=0.05)
    assert d.core.carrying  # the 3 kg left go to the dump next
    assert d.core.mission_record().dumps == 2


def test_new_mission_is_an_explicit_act_refused_while_the_mission_runs() -> None:
    view = CommandContext(Mode.DIGGING, mission_running=True)
    assert "stop first" in check_command(cmd(CommandName.NEW_MISSION), view)
    assert check_command(cmd(CommandName.NEW_MISSION), CommandContext(Mode.IDLE)) is None
    d = resumed_driver(record(), LedgerTally(2, {"A": 47.5}))
    assert d.core.handle_command(cmd(CommandName.NEW_MISSION, "nm"), d.now, WALL).accepted
    d.step()
    [ev] = events(d, EventKind.MISSION_REPLACED)
    assert ev.data["previous"]["mission_id"] == "m-1"
    assert ev.data["previous"]["sites"][0]["delivered_kg"] == 47.5
    assert d.core.mission.mission_id == "m-2" and d.core.mission.delivered_kg == 0.0
    assert d.core.mission.ledger_start == 3 + 2  # after the old mission's two dumps
    assert record_of(d.core.mission, HASH, "idle", None, 0.0).mission_id == "m-2"


def test_a_core_never_resumed_does_not_wait() -> None:
    core = ControlCore(config(), PLAN)
    assert core.recovered and core.snapshot().resumed is None
    progress = MissionProgress(PLAN)
    assert progress.credit(None, 5.0) is None and progress.dumps == 1
