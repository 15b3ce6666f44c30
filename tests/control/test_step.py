"""The pure control step: commands, mission flow, link loss, e-stop, staleness."""

from dataclasses import replace

from control.core.commands import CommandName, GroundCommand
from control.core.mission import MissionPlan, MissionSite
from control.core.step import (
    ControlCore,
    EstopRequest,
    FirmwareEventSeen,
    FirmwareRequest,
    LinkDown,
    LinkUp,
)
from control.core.supervisor import Mode
from firmware_bridge.messages import CommandCode, EventCode, Status

from .helpers import NOMINAL, SIM_CAPABILITIES, Driver, config, meas

PLAN = MissionPlan("t", (MissionSite("A", 2.0, 0.0, 20.0, 3),), dump_x=0.0, dump_y=0.0)
WALL = 1_000_000.0


def cmd(command: CommandName, cid: str = "c", ttl: float = 5.0, **args) -> GroundCommand:
    return GroundCommand(cid, command, WALL + ttl, WALL, dict(args))


def armed_driver(plan: MissionPlan | None = PLAN, **sections: dict) -> Driver:
    d = Driver(ControlCore(config(**sections), plan))
    d.connect()
    assert d.core.mode is Mode.IDLE
    assert d.core.handle_command(cmd(CommandName.ARM), d.now, WALL).accepted
    d.step()  # ENABLE request goes out
    d.step()  # ... and is accepted
    assert d.core.motors_enabled
    return d


def requests(d: Driver, code: CommandCode) -> list[FirmwareRequest]:
    return [r for o in d.outputs for r in o.requests
            if isinstance(r, FirmwareRequest) and r.code is code]


def test_arm_requires_idle_and_no_interlock():
    d = Driver(ControlCore(config(), PLAN))
    d.connect()
    stale = meas(age=5.0)
    d.step(stale)
    ack = d.core.handle_command(cmd(CommandName.ARM), d.now, WALL)
    assert not ack.accepted and "fast sensor stream" in ack.reason
    for _ in range(100):
        d.step()
    assert d.core.handle_command(cmd(CommandName.ARM, "c2"), d.now, WALL).accepted
    assert d.core.mode is Mode.ARMED


def test_start_drives_to_the_site_then_digs():
    d = armed_driver()
    assert d.core.handle_command(cmd(CommandName.START), d.now, WALL).accepted
    d.step()
    assert d.core.mode is Mode.DRIVING
    drive = requests(d, CommandCode.DRIVE_TO)[-1]
    assert drive.args[:2] == (2.0, 0.0)
    d.step(meas(x=2.0))  # DONE for the drive
    d.step(meas(x=2.0))
    assert d.core.mode is Mode.DIGGING
    out = d.step(meas(x=2.0))
    assert out.setpoints is not None and out.setpoints.drum_speed > 0


def test_full_bucket_stows_drives_and_dumps_then_rearms():
    # the sequence without drive_overlap (tests/control/test_drive_overlap.py: with it)
    d = armed_driver(strategy={"drive_overlap": False})
    d.core.handle_command(cmd(CommandName.START), d.now, WALL)
    at_site = meas(x=2.0, cut_depth=0.03, drum_speed=6.0, drum_current=9.0)
    for _ in range(3):
        d.step(at_site)
    assert d.core.mode is Mode.DIGGING
    full = replace(at_site, bucket_load=29.0)
    for _ in range(100):
        d.step(full)
        if d.core.mode is Mode.STOWING:
            break
    modes = [e.mode for o in d.outputs for e in o.events if hasattr(e, "mode")]
    assert Mode.FULL in modes and Mode.STOWING in modes
    # stowed -> drive to the dump
    d.step(replace(full, cut_depth=-0.3))
    d.step(replace(full, cut_depth=-0.3))
    assert d.core.mode is Mode.DRIVING
    for _ in range(3):
        d.step(replace(full, x=0.0, cut_depth=-0.3))
        if d.core.mode is Mode.DUMPING:
            break
    assert d.core.mode is Mode.DUMPING
    d.step(replace(full, x=0.0, cut_depth=-0.3, bucket_load=0.1), auto_ok=False)
    d.step(replace(full, x=0.0, cut_depth=-0.3, bucket_load=0.1))
    assert d.core.stats.cycles == 1
    assert abs(d.core.mission.sites[0].delivered_kg - 28.9) < 0.5
    d.step(replace(full, x=0.0, cut_depth=-0.3, bucket_load=0.1))
    assert d.core.mission.complete  # 28.9 kg >= the 20 kg target: stopped, motors off
    assert d.core.mode is Mode.IDLE and not d.core.motors_enabled


def test_link_loss_comes_back_idle_and_needs_a_new_arm():
    d = armed_driver()
    d.core.handle_command(cmd(CommandName.START), d.now, WALL)
    d.step()
    d.step(notices=(LinkDown("rx: silence"),))
    assert d.core.mode is Mode.DISCONNECTED
    assert not d.core.mission_running and not d.core.motors_enabled
    out = d.step(notices=(LinkUp("sim", reconnect=True, capabilities=SIM_CAPABILITIES),))
    assert d.core.mode is Mode.IDLE
    for _ in range(50):
        out = d.step()
        assert out.setpoints is None
        assert not any(isinstance(r, FirmwareRequest) and r.code is CommandCode.ENABLE
                       for r in out.requests)


def test_stale_sensors_never_produce_setpoints():
    d = armed_driver()
    out = d.step(meas(age=0.3))
    assert out.setpoints is not None
    out = d.step(meas(age=0.6))  # beyond interlocks.sensor_stale_s (0.5)
    assert out.setpoints is None
    assert d.core.mode is Mode.FAULT


def test_estop_command_latches_and_reset_never_restarts_motion():
    d = armed_driver()
    d.core.handle_command(cmd(CommandName.START), d.now, WALL)
    d.step()
    assert d.core.handle_command(cmd(CommandName.ESTOP, "e"), d.now, WALL).accepted
    out = d.step(status=Status.ESTOP)
    assert d.core.mode is Mode.ESTOP
    assert any(isinstance(r, EstopRequest) for o in d.outputs for r in o.requests)
    assert d.core.handle_command(cmd(CommandName.RESET_ESTOP, "r"), d.now, WALL).accepted
    d.step(status=Status.ESTOP)
    d.step(status=0)
    assert d.core.mode is Mode.IDLE
    for _ in range(100):
        out = d.step(status=0)
        assert out.setpoints is None
    assert not d.core.mission_running


def test_reset_refused_while_immediate_cause_present():
    d = armed_driver()
    tilted = meas(pitch=30.0)
    d.step(tilted)
    assert d.core.mode is Mode.ESTOP
    ack = d.core.handle_command(cmd(CommandName.RESET_ESTOP, "r"), d.now, WALL)
    assert not ack.accepted and "cause still present" in ack.reason and "tilt" in ack.reason


def test_firmware_estop_event_and_watchdog_stop():
    d = armed_driver()
    d.step(notices=(FirmwareEventSeen(EventCode.WATCHDOG_STOP, 300.0, "silent"),))
    assert d.core.mode is Mode.FAULT
    d2 = armed_driver()
    d2.step(notices=(FirmwareEventSeen(EventCode.ESTOP_LATCHED, 0.0, "panel"),))
    assert d2.core.mode is Mode.ESTOP


def test_late_command_is_rejected_not_executed():
    d = Driver(ControlCore(config(), PLAN))
    d.connect()
    late = GroundCommand("old", CommandName.ARM, WALL - 0.1, WALL - 2)
    ack = d.core.handle_command(late, d.now, WALL)
    assert not ack.accepted and "expired" in ack.reason
    assert d.core.mode is Mode.IDLE


def test_dump_rejected_while_digging():
    d = armed_driver()
    d.core.handle_command(cmd(CommandName.START), d.now, WALL)
    for _ in range(3):
        d.step(meas(x=2.0, cut_depth=0.04))
    assert d.core.mode is Mode.DIGGING
    ack = d.core.handle_command(cmd(CommandName.DUMP, "d"), d.now, WALL)
    assert not ack.accepted and "digging" in ack.reason


def test_set_param_within_bounds_only():
    d = armed_driver()
    ok = d.core.handle_command(cmd(CommandName.SET_PARAM, "p", name="current_target_a",
                                   value=12.0), d.now, WALL)
    assert ok.accepted and d.core.strategy.config.current_target_a == 12.0
    bad = d.core.handle_command(cmd(CommandName.SET_PARAM, "p2", name="current_target_a",
                                    value=99.0), d.now, WALL)
    assert not bad.accepted and "outside" in bad.reason
    unknown = d.core.handle_command(cmd(CommandName.SET_PARAM, "p3", name="x", value=1),
                                    d.now, WALL)
    assert not unknown.accepted and "unknown parameter" in unknown.reason


def test_mission_completes_and_stops():
    plan = MissionPlan("t", (MissionSite("A", 0.0, 0.0, 1.0, 3),))
    d = armed_driver(plan)
    d.core.mission.sites[0].delivered_kg = 1.0
    d.core.mission_running = True
    d.step(NOMINAL)
    assert d.core.mode is Mode.IDLE
    kinds = [getattr(e, "kind", "") for o in d.outputs for e in o.events]
    assert "mission_completed" in kinds


def test_last_dump_after_a_link_loss_still_completes_the_mission():
    """A link loss while carrying the last load clears mission_running; the re-armed rig
    dumps it all the same, and then the mission must be declared complete (nobody can
    START a complete mission, so nothing else would ever declare it)."""
    d = armed_driver()
    d.core.handle_command(cmd(CommandName.START), d.now, WALL)
    at_site = meas(x=2.0, cut_depth=0.03, drum_speed=6.0, drum_current=9.0)
    full = replace(at_site, bucket_load=29.0)
    for _ in range(100):
        d.step(full)
        if d.core.mode is Mode.STOWING:
            break
    stowed = replace(full, cut_depth=-0.3)
    d.step(stowed)
    d.step(stowed)
    assert d.core.mode is Mode.DRIVING  # to the dump, carrying
    d.step(stowed, notices=(LinkDown("tx: silence"),))
    d.step(stowed, notices=(LinkUp("sim", reconnect=True, capabilities=SIM_CAPABILITIES),))
    assert d.core.mode is Mode.IDLE and not d.core.mission_running
    assert d.core.handle_command(cmd(CommandName.ARM, "op-2"), d.now, WALL).accepted
    at_dump = replace(stowed, x=0.0)
    for _ in range(5):
        d.step(at_dump)
        if d.core.mode is Mode.DUMPING:
            break
    assert d.core.mode is Mode.DUMPING
    emptied = replace(at_dump, bucket_load=0.1)
    for _ in range(3):
        d.step(emptied)
    assert d.core.mission.complete
    kinds = [getattr(e, "kind", "") for o in d.outputs for e in o.events]
    assert kinds.count("mission_completed") == 1
    assert d.core.mode is Mode.IDLE and not d.core.motors_enabled
    for _ in range(5):  # declared once, not on every step
        d.step(emptied)
    assert [getattr(e, "kind", "") for o in d.outputs for e in o.events].count(
        "mission_completed") == 1


def test_a_dig_cut_short_lifts_the_drum_out_before_driving_on():
    """Site A's cycle budget used up by a dig a link loss cut short, the drum still in the
    soil: after re-arm and START the next drive waits for a STOW (the firmware refuses
    DRIVE_TO while digging, BUSY, and the mission would never move on)."""
    plan = MissionPlan("t", (MissionSite("A", 2.0, 0.0, 20.0, 1),
                             MissionSite("B", 4.0, 0.0, 20.0, 3)), dump_x=0.0, dump_y=0.0)
    d = armed_driver(plan)
    assert d.core.handle_command(cmd(CommandName.START), d.now, WALL).accepted
    in_soil = meas(x=2.0, cut_depth=0.035, drum_speed=6.0, drum_current=9.0)
    for _ in range(5):
        d.step(in_soil)
    assert d.core.mode is Mode.DIGGING and d.core.mission.sites[0].cycles == 1
    d.step(in_soil, notices=(LinkDown("tx: silence"),))
    d.step(in_soil, notices=(LinkUp("sim", reconnect=True, capabilities=SIM_CAPABILITIES),))
    assert d.core.handle_command(cmd(CommandName.ARM, "op-2"), d.now, WALL).accepted
    d.step(in_soil)
    d.step(in_soil)
    assert d.core.handle_command(cmd(CommandName.START, "s-2"), d.now, WALL).accepted
    first = len(d.outputs)
    for _ in range(3):
        d.step(in_soil)
    sent = [(r.code, r.args[:2]) for o in d.outputs[first:] for r in o.requests
            if isinstance(r, FirmwareRequest)]
    # (the test double answers each request at the next step: the STOW is done at once)
    assert sent[:2] == [(CommandCode.STOW, ()), (CommandCode.DRIVE_TO, (4.0, 0.0))], sent


def test_armed_rig_declares_a_mission_completed_while_it_was_stopped():
    """The last site given up (obstacle) just before a link loss: the re-armed rig has
    nothing to dump, and the mission is declared complete without a START."""
    d = armed_driver()
    d.core.mission.sites[0].abandoned = "obstacle"
    assert not d.core.mission_running
    d.step(NOMINAL)
    kinds = [getattr(e, "kind", "") for o in d.outputs for e in o.events]
    assert kinds.count("mission_completed") == 1
    assert d.core.mode is Mode.IDLE and not d.core.motors_enabled
