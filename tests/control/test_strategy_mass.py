"""Excavation strategy (PI, stall recovery, obstacle) and the mass estimator."""

from control.core.config import MassConfig, StrategyConfig
from control.core.mass_estimator import MassEstimator
from control.core.strategy import DigPhase, ExcavationStrategy

from .helpers import meas

S = StrategyConfig()


def cutting(now: float = 0.0) -> ExcavationStrategy:
    st = ExcavationStrategy(S)
    st.reset(now, -0.3)
    out = st.update(now, 0.01, meas(cut_depth=0.0, drum_speed=6.0), 0.0)
    assert out.phase is DigPhase.CUTTING or st.phase is DigPhase.CUTTING
    return st


def test_approach_then_pi_deepens_under_target_and_backs_off_over_it():
    st = ExcavationStrategy(S)
    st.reset(0.0, -0.3)
    out = st.update(0.01, 0.01, meas(cut_depth=-0.2), 0.0)
    assert out.phase is DigPhase.APPROACHING and out.drum_speed == S.dig_speed_rad_s
    st.update(0.02, 0.01, meas(cut_depth=0.0), 0.0)
    t, depth = 0.02, 0.0
    for _ in range(300):
        t += 0.01
        depth = st.update(t, 0.01, meas(cut_depth=depth, drum_current=5.0, drum_speed=6.0),
                          0.0).cut_depth
    assert depth > 0.03
    for _ in range(300):
        t += 0.01
        out = st.update(t, 0.01, meas(cut_depth=depth, drum_current=16.0, drum_speed=6.0), 0.0)
    assert out.cut_depth < depth
    assert S.min_depth_m <= out.cut_depth <= S.max_depth_m


def test_tilt_shrinks_the_depth_ceiling():
    st = ExcavationStrategy(S)
    assert st.ceiling(0.0) == S.max_depth_m
    assert st.ceiling(S.tilt_soft_deg * 1.5) < S.max_depth_m
    assert st.ceiling(S.tilt_soft_deg * 2.5) == S.min_depth_m


def test_stall_backs_off_reverses_retries_then_reports_obstacle():
    st = cutting()
    t = 2.0  # past the spin-up grace
    stalled = meas(cut_depth=0.05, drum_current=20.0, drum_speed=0.0)
    phases, obstacle, stalls = [], False, 0
    for _ in range(5000):
        t += 0.01
        out = st.update(t, 0.01, stalled, 0.0)
        phases.append(out.phase)
        stalls += out.stalled
        if out.obstacle:
            obstacle = True
            break
    assert obstacle and stalls == S.max_stall_retries + 1
    assert DigPhase.BACKING_OFF in phases and DigPhase.REVERSING in phases
    rev = [p for p in phases if p is DigPhase.REVERSING]
    assert rev
    assert st.phase is DigPhase.GAVE_UP


def test_reverse_speed_is_negative_and_recovery_resumes_cutting():
    st = cutting()
    t = 2.0
    for _ in range(40):
        t += 0.01
        out = st.update(t, 0.01, meas(cut_depth=0.05, drum_current=20.0, drum_speed=0.0), 0.0)
        if out.stalled:
            break
    speeds = []
    for _ in range(200):
        t += 0.01
        out = st.update(t, 0.01, meas(cut_depth=0.03, drum_current=5.0, drum_speed=6.0), 0.0)
        speeds.append(out.drum_speed)
    assert min(speeds) == -S.reverse_speed_rad_s
    assert st.phase is DigPhase.CUTTING


def test_full_bucket_after_hold_time():
    st = cutting()
    out = st.update(1.0, 0.01, meas(cut_depth=0.03), 28.0)
    assert not out.bucket_full
    out = st.update(1.0 + S.full_hold_s, 0.01, meas(cut_depth=0.03), 28.0)
    assert out.bucket_full


def feed(est: MassEstimator, seconds: float, cell_fn, current=9.0, t0=0.0, cutting=True):
    t = t0
    model_kg_per_s = None
    for _ in range(round(seconds / 0.01)):
        t += 0.01
        r = est.update(t, 0.01, meas(drum_current=current, drum_speed=6.0,
                                     bucket_load=cell_fn(t, est)), cutting)
        model_kg_per_s = r
    return t, model_kg_per_s


def test_healthy_cell_is_trusted_and_calibrates_the_model():
    est = MassEstimator(MassConfig())
    t, r = feed(est, 10.0, lambda t, e: e.last.model_kg * 1.1)
    assert r.load_cell_ok and abs(r.estimate_kg - r.load_cell_kg) < 1e-9
    est.dump_started()
    est.update(t + 0.01, 0.01, meas(bucket_load=0.0), False)
    est.emptied()
    assert 1.0 < est.gain < 1.1


def test_frozen_or_disagreeing_cell_is_distrusted_and_model_used():
    est = MassEstimator(MassConfig())
    _t, r = feed(est, 10.0, lambda t, e: 0.0)  # the cell says empty while we dig
    assert not r.load_cell_ok and "disagrees" in est.fault_reason
    assert r.estimate_kg == r.model_kg > 5.0
    est2 = MassEstimator(MassConfig())
    r2 = est2.update(0.01, 0.01, meas(bucket_load=3.0, unchanged_for={"bucket_load": 1.5},
                                      noisy=frozenset({"bucket_load"})), True)
    assert not r2.load_cell_ok and "frozen" in est2.fault_reason
