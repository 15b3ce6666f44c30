"""The power-limited strategy as a pure step object (plain numbers for time)."""

from __future__ import annotations

import pytest

from control.core.config import StrategyConfig, StrategyKind, load_config
from control.core.errors import ConfigError
from control.core.power_strategy import PowerLimitedStrategy
from control.core.strategy import DigPhase, ExcavationStrategy, make_strategy

from .helpers import meas

S = StrategyConfig()
DT = 0.02
SPEED = S.dig_speed_rad_s


def cutting(depth: float = 0.03) -> tuple[PowerLimitedStrategy, float]:
    st = PowerLimitedStrategy(S)
    st.reset(0.0, -0.3)
    st.update(DT, DT, meas(cut_depth=depth, drum_speed=SPEED, drum_current=S.load_current_a),
              0.0)
    assert st.phase is DigPhase.CUTTING
    return st, DT


def test_kind_selects_the_strategy_and_bad_kinds_name_the_key() -> None:
    assert isinstance(make_strategy(S), PowerLimitedStrategy)
    assert isinstance(make_strategy(StrategyConfig(kind=StrategyKind.PI_CURRENT)),
                      ExcavationStrategy)
    cfg = load_config(None, strategy={"kind": "pi_current"})
    assert cfg.strategy.kind is StrategyKind.PI_CURRENT
    with pytest.raises(ConfigError, match=r"strategy\.kind: expected one of power_limited, "
                                          r"pi_current, got 'fast'"):
        load_config(None, strategy={"kind": "fast"})
    with pytest.raises(ConfigError, match=r"strategy\.load_current_a"):
        load_config(None, strategy={"load_current_a": 19.5})  # above the interlock


def test_approach_waits_for_the_drum_then_descends_at_full_rate_to_contact() -> None:
    st = PowerLimitedStrategy(S)
    st.reset(0.0, -0.3)
    slow = st.update(0.02, DT, meas(cut_depth=-0.1, drum_speed=1.0, drum_current=1.5), 0.0)
    assert slow.phase is DigPhase.APPROACHING and slow.drum_speed == SPEED
    assert slow.cut_depth <= -S.contact_margin_m  # never into the soil with a slow drum
    fast = st.update(0.04, DT, meas(cut_depth=-0.1, drum_speed=SPEED, drum_current=1.5), 0.0)
    # far below the current budget: the command leads the arm by more than the 2.5 cm the
    # firmware's arm loop needs to move at its full rate
    assert fast.cut_depth >= -0.1 + 0.025
    touch = st.update(0.06, DT, meas(cut_depth=-0.004, drum_speed=SPEED, drum_current=1.5),
                      0.0)
    assert touch.phase is DigPhase.CUTTING and st.phase is DigPhase.CUTTING


@pytest.mark.parametrize("current", [8.0, 12.0, 15.5, 16.5, 17.4])
def test_depth_leads_the_arm_in_proportion_to_the_current_error(current: float) -> None:
    st, t = cutting()
    out = st.update(t + DT, DT, meas(cut_depth=0.03, drum_speed=SPEED, drum_current=current),
                    0.0)
    expected = 0.03 + S.depth_gain_m_per_a * (S.load_current_a - current)
    assert out.cut_depth == pytest.approx(min(expected, S.max_depth_m))
    assert out.drum_speed == SPEED and out.phase is DigPhase.CUTTING


def test_depth_is_capped_by_max_depth_and_by_tilt() -> None:
    st, t = cutting(0.09)
    deep = st.update(t + DT, DT, meas(cut_depth=0.09, drum_speed=SPEED, drum_current=2.0), 0.0)
    assert deep.cut_depth == S.max_depth_m
    tilted = st.update(t + 2 * DT, DT, meas(cut_depth=0.09, drum_speed=SPEED, drum_current=2.0,
                                            pitch=1.5 * S.tilt_soft_deg), 0.0)
    assert tilted.cut_depth == pytest.approx(0.5 * S.max_depth_m)


@pytest.mark.parametrize("kw", [{"drum_current": 18.0}, {"drum_current": 16.5, "drum_speed": 4.0}])
def test_rock_strike_lifts_at_the_arms_full_rate(kw: dict) -> None:
    st, t = cutting(0.06)
    out = st.update(t + DT, DT, meas(**{"cut_depth": 0.06, "drum_speed": SPEED, **kw}), 0.0)
    assert out.cut_depth <= 0.06 - 0.025  # at least the firmware's full-rate lead, upwards
    assert not out.stalled  # a strike is not a stall
    back = st.update(t + 2 * DT, DT, meas(cut_depth=0.04, drum_speed=SPEED, drum_current=10.0),
                     0.0)
    assert back.cut_depth > 0.04  # broken out: it digs back in


def test_lift_out_starts_before_the_mark_and_reports_full_out_of_the_soil() -> None:
    st, t = cutting(0.05)
    mark = S.full_fraction * S.bucket_capacity_kg
    load, out = 10.0, None
    for _ in range(2000):
        t += DT
        load += 3.0 * DT  # 3 kg/s at 5 cm
        out = st.update(t, DT, meas(cut_depth=0.05, drum_speed=SPEED, drum_current=15.0), load)
        if st.lifting_out:
            break
    assert out is not None and st.lifting_out and not out.bucket_full
    # started early enough that lifting 5 cm at the arm's rate (half the rate on average)
    # plus the margin lands on the mark
    lift_s = 0.05 / S.arm_rate_m_s
    assert load + 3.0 * (lift_s / 2 + S.lift_out_margin_s) == pytest.approx(mark, abs=0.2)
    assert out.cut_depth < 0.0  # the drum is sent out of the soil, still turning
    assert out.drum_speed == SPEED
    mid = st.update(t + DT, DT, meas(cut_depth=0.02, drum_speed=SPEED, drum_current=9.0), load)
    assert not mid.bucket_full and mid.cut_depth < 0.0
    done = st.update(t + 2 * DT, DT, meas(cut_depth=-0.001, drum_speed=SPEED, drum_current=2.0),
                     load + 1.0)
    assert done.bucket_full


def test_stall_counts_once_per_episode_and_repeated_stalls_are_an_obstacle() -> None:
    st, t = cutting(0.05)
    stalled = meas(cut_depth=0.05, drum_speed=0.0, drum_current=20.0)
    free = meas(cut_depth=0.02, drum_speed=SPEED, drum_current=10.0)
    counted = []
    for _episode in range(S.max_stall_retries + 1):
        n = 0
        for _ in range(round(1.0 / DT)):
            t += DT
            out = st.update(t, DT, stalled, 0.0)
            n += out.stalled
            assert out.cut_depth < 0.05  # lifting the whole time
        counted.append(n)
        for _ in range(5):
            t += DT
            st.update(t, DT, free, 0.0)
    assert counted[:-1] == [1] * S.max_stall_retries
    assert st.phase is DigPhase.GAVE_UP and st.stalls == S.max_stall_retries + 1
    gave_up = st.update(t + DT, DT, free, 0.0)
    assert gave_up.drum_speed == 0.0 and gave_up.cut_depth < 0.0


def test_firmware_stall_event_counts_and_stalls_far_apart_are_no_obstacle() -> None:
    st, t = cutting(0.05)
    free = meas(cut_depth=0.05, drum_speed=SPEED, drum_current=15.0)
    for _ in range(S.max_stall_retries + 3):
        t += S.obstacle_window_s + 1.0
        out = st.update(t, DT, meas(cut_depth=0.05, drum_speed=0.1, drum_current=20.0), 0.0,
                        firmware_stall=True)
        assert out.stalled and not out.obstacle
        st.update(t + DT, DT, free, 0.0)
    assert st.phase is DigPhase.CUTTING


def test_no_information_holds_the_depth() -> None:
    st, t = cutting(0.04)
    a = st.update(t + DT, DT, meas(cut_depth=0.04, drum_speed=SPEED, drum_current=12.0), 0.0)
    b = st.update(t + 2 * DT, DT, meas(cut_depth=float("nan"), drum_speed=SPEED,
                                       drum_current=12.0), 0.0)
    assert b.cut_depth == a.cut_depth


def test_a_drum_slowed_for_a_quota_is_no_rock_and_still_enters_the_soil() -> None:
    # the core scales the strategy's speed down near a site quota: slow, normal load
    st, t = cutting(0.05)
    out = st.update(t + DT, DT, meas(cut_depth=0.05, drum_speed=3.0, drum_current=12.0), 0.0)
    assert out.cut_depth == pytest.approx(0.05 + S.depth_gain_m_per_a * (S.load_current_a - 12))
    # a dig that starts slowed: the drum enters the soil once it has turned spin_up_s
    st = PowerLimitedStrategy(S)
    st.reset(0.0, -0.02)
    t, out = 0.0, None
    slowed = meas(cut_depth=-0.02, drum_speed=3.0, drum_current=1.2)
    while t < S.spin_up_s - DT / 2:
        t += DT
        out = st.update(t, DT, slowed, 0.0)
        assert out.cut_depth <= -S.contact_margin_m
    out = st.update(t + 2 * DT, DT, slowed, 0.0)
    assert out.cut_depth > 0.0
