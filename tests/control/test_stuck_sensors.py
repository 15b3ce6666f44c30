"""Stuck sensors on real, noiseless sensors (control.core.stuck_sensors): a channel is
suspect when it does not respond to what the rig does, not merely when it is flat."""

from __future__ import annotations

import pytest

from control.core.config import InterlockConfig, MassConfig
from control.core.interlocks import Interlocks
from control.core.mass_estimator import MassEstimator
from control.core.step_messages import SetpointCommand
from control.core.stuck_sensors import ResponseTracker

from .helpers import meas

CFG = InterlockConfig()
DT = 0.01
ALL_FAST = ("drum_current", "drum_speed", "cut_depth", "arm_current", "bucket_load", "pitch",
            "roll", "motor_temp", "battery_voltage", "battery_current", "vibration",
            "arm_position")


def flat(seconds: float, **moving: float) -> dict[str, float]:
    """unchanged_for: every fast channel flat for *seconds*, those in *moving* for theirs."""
    out = dict.fromkeys(ALL_FAST, seconds)
    out.update(moving)
    return out


def stuck_trips(rep) -> list[str]:
    return [t.name for t in rep.active if t.name.startswith("stuck:")]


def test_a_still_rig_with_noiseless_sensors_never_trips() -> None:
    """The issue's case: a firmware whose position channel has no noise faulted the
    controller with 'arm_position sensor stuck for 1.00 s' (failed before the fix)."""
    il = Interlocks(CFG)
    t = 0.0
    for _ in range(1000):  # 10 s, every channel bit-identical the whole time
        t += DT
        rep = il.update(t, DT, meas(unchanged_for=flat(t)))
        assert not stuck_trips(rep), rep.summary()


def test_still_arm_with_steady_set_points_never_trips() -> None:
    il = Interlocks(CFG)
    hold = SetpointCommand(drum_speed=0.0, cut_depth=-0.3)
    t = 0.0
    for _ in range(1000):
        t += DT
        rep = il.update(t, DT, meas(unchanged_for=flat(t)), True, hold)
        assert not stuck_trips(rep), rep.summary()


def test_a_channel_declared_noisy_trips_when_flat() -> None:
    il = Interlocks(CFG)
    m = meas(unchanged_for=flat(1.2), noisy=frozenset({"vibration"}))
    rep = il.update(DT, DT, m)
    assert stuck_trips(rep) == ["stuck:vibration"]
    assert "vibration sensor stuck for 1.2 s" in rep.summary()


def test_the_configuration_can_declare_a_channel_noisy_for_an_old_firmware() -> None:
    il = Interlocks(InterlockConfig(noisy_channels=("pitch",)))
    rep = il.update(DT, DT, meas(unchanged_for=flat(1.5)))
    assert stuck_trips(rep) == ["stuck:pitch"]


def drive_arm(il: Interlocks, follows: bool, seconds: float = 3.0):
    """The arm set-point steps down 5 cm at t=1 s; its encoder follows or does not."""
    t, rep, moved_at = 0.0, None, None
    for _ in range(round(seconds / DT)):
        t += DT
        target = -0.3 if t < 1.0 else -0.35
        if follows and t >= 1.0:
            moved_at = t  # the encoder changes every step while the arm travels
        arm_flat = t - moved_at if moved_at is not None else t
        m = meas(unchanged_for=flat(t, arm_position=arm_flat, arm_current=arm_flat))
        rep = il.update(t, DT, m, True, SetpointCommand(0.0, target))
        if stuck_trips(rep):
            return t, rep
    return t, rep


def test_arm_commanded_but_position_does_not_follow_trips_after_stuck_s() -> None:
    t, rep = drive_arm(Interlocks(CFG), follows=False)
    assert "stuck:arm_position" in stuck_trips(rep)
    assert 1.0 + CFG.stuck_s - DT <= t <= 1.0 + CFG.stuck_s + 2 * DT
    assert "after the arm depth set-point moved" in rep.summary()


def test_arm_that_follows_its_set_point_does_not_trip() -> None:
    _t, rep = drive_arm(Interlocks(CFG), follows=True)
    assert not stuck_trips(rep)


@pytest.mark.parametrize(("reads", "trips"), [(3.0, True), (0.0, False)])
def test_drum_speed_flat_after_the_set_point_moved(reads: float, trips: bool) -> None:
    """Frozen at a turning value: stuck. Reading standstill: a stall for the strategy
    (a jammed drum must not read as a failed sensor)."""
    il = Interlocks(CFG)
    t, rep = 0.0, None
    for _ in range(300):
        t += DT
        sp = SetpointCommand(0.0 if t < 0.5 else 6.0, -0.3)
        rep = il.update(t, DT, meas(drum_speed=reads, unchanged_for=flat(t, drum_current=0.0,
                                                                       vibration=0.0)),
                        True, sp)
    assert ("stuck:drum_speed" in stuck_trips(rep)) is trips


def test_nothing_is_judged_by_cause_while_no_set_points_are_sent() -> None:
    il = Interlocks(CFG)
    t = 0.0
    for i in range(300):
        t += DT
        sp = SetpointCommand(6.0, -0.35) if i == 0 else None  # then the motors went off
        rep = il.update(t, DT, meas(drum_speed=3.0, unchanged_for=flat(t)), True, sp)
        assert not stuck_trips(rep)


def test_response_tracker_counts_only_after_the_cause_moves() -> None:
    tr = ResponseTracker(threshold=1.0)
    assert tr.update(0.0, DT, 10.0, 0.0) == 0.0  # first sight: the reference
    assert tr.update(1.0, DT, 11.0, 0.5) == 0.0  # moved less than the threshold
    assert tr.update(2.0, DT, 12.0, 1.5) == 0.0  # moved: the clock starts now
    assert tr.update(2.5, DT, 12.5, 1.5) == pytest.approx(0.5)
    assert tr.update(2.6, DT, 0.0, 1.5) == 0.0  # the channel changed: it responds
    assert tr.update(2.7, DT, 0.1, None) == 0.0  # no cause: nothing to judge


def feed_cell(est: MassEstimator, seconds: float, cutting: bool, noisy: frozenset[str]):
    t, r = 0.0, None
    for _ in range(round(seconds / DT)):
        t += DT
        r = est.update(t, DT, meas(drum_current=9.0, drum_speed=6.0, bucket_load=3.0,
                                   unchanged_for={"bucket_load": t}, noisy=noisy), cutting)
    return r


def test_load_cell_frozen_while_the_load_grows_is_distrusted() -> None:
    est = MassEstimator(MassConfig())
    r = feed_cell(est, 8.0, cutting=True, noisy=frozenset())
    assert not r.load_cell_ok and "frozen" in est.fault_reason


def test_still_load_cell_with_a_still_load_is_trusted() -> None:
    est = MassEstimator(MassConfig())
    r = feed_cell(est, 8.0, cutting=False, noisy=frozenset())
    assert r.load_cell_ok, est.fault_reason


def test_a_mission_on_realistic_sensors_completes_without_a_stuck_trip() -> None:
    """End to end in lockstep (core, compiled filters, simulated firmware and plant):
    noiseless, quantised sensors whose table declares no noise floor. Before the fix
    every still channel tripped a stuck-sensor stop within a second of arming."""
    from control.core.config import load_config
    from control.core.mission import MissionPlan, MissionSite
    from rig_bench.lockstep import LockstepRunner
    from sim_hw.rig import RigConfig

    mission = MissionPlan("short", (MissionSite("A", 1.0, 0.0, 25.0, 3),))
    runner = LockstepRunner(load_config(None, loop={"rate_hz": 50.0}),
                            RigConfig(seed=4, batch_ms=10.0, sensors="realistic"), mission)
    try:
        assert all(c.noise_floor_counts == 0 for c in runner.rig._info().channels)
        result = runner.run(max_s=600.0)
        stuck = [ev.text for ev in result.events if getattr(ev, "data", {}).get("name", "")
                 .startswith("stuck")]
        assert not stuck, stuck
        assert result.complete and runner.rig.plant.state.dumped >= 24.5
        assert runner.core.mass.load_cell_ok, runner.core.mass.fault_reason
    finally:
        runner.close()


def test_a_stuck_trip_clears_when_the_firmware_no_longer_declares_the_noise() -> None:
    il = Interlocks(CFG)
    rep = il.update(DT, DT, meas(unchanged_for=flat(1.5), noisy=frozenset({"pitch"})))
    assert stuck_trips(rep) == ["stuck:pitch"]
    t = DT
    for _ in range(100):  # a new session with a firmware that declares nothing
        t += DT
        rep = il.update(t, DT, meas(unchanged_for=flat(1.5 + t)))
    assert not stuck_trips(rep)
