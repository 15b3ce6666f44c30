"""Commands when the rover's clock disagrees with the ground's (issue 22, part A).

Pure: the authenticator gets the rover's wall clock and monotonic clock as numbers.
``NOW`` is the ground's time; the rover's wall clock reads ``NOW + skew``.
"""

from __future__ import annotations

import pytest

from control.core.command_timing import CommandTiming
from control.core.config import ConfigError, load_config
from control.security import (
    AuthorizedCommand,
    GroundClock,
    GroundClockConfig,
    MemoryReplayStore,
    Rejection,
    RejectReason,
    SignedCommandAuthenticator,
    SqliteReplayStore,
)
from control.security.command_intake import TrustedLink

from .helpers import NOW, OBS, TOPIC, body, make_auth, make_config, signed

R = RejectReason
SKEWS = [30.0, -30.0, 3600.0, -3600.0]


def ok(result: object) -> AuthorizedCommand:
    assert isinstance(result, AuthorizedCommand), getattr(result, "ack_reason", result)
    return result


def refused(result: object, reason: RejectReason) -> Rejection:
    assert isinstance(result, Rejection), f"expected {reason}, got {result!r}"
    assert result.reason is reason, result.ack_reason
    return result


@pytest.mark.parametrize("skew", SKEWS)
@pytest.mark.parametrize("name", ["stop", "estop"])
def test_stop_passes_every_timing_rule_at_any_offset(skew: float, name: str) -> None:
    auth = make_auth()
    ok(auth.verify(TOPIC, signed(body(1, name, ttl=10)), NOW + skew))


@pytest.mark.parametrize("skew", SKEWS)
def test_stop_still_needs_a_fresh_counter_and_a_signature(skew: float) -> None:
    auth = make_auth()
    msg = signed(body(1, "stop", ttl=10))
    ok(auth.verify(TOPIC, msg, NOW + skew))
    refused(auth.verify(TOPIC, msg, NOW + skew + 1), R.REPLAYED)
    forged = signed(body(2, "stop", ttl=10), key=OBS)[:-10] + b'AAAAAAAA"}'
    assert isinstance(auth.verify(TOPIC, forged, NOW + skew), Rejection)


@pytest.mark.parametrize("skew", [-30.0, -3600.0])
def test_rover_behind_accepts_the_first_command(skew: float) -> None:
    auth = make_auth()
    ok(auth.verify(TOPIC, signed(body(1, "arm", ttl=10)), NOW + skew, 100.0))
    status = auth.clock_status(NOW + skew + 1, 101.0)
    assert status.offset_s == pytest.approx(-skew)
    assert status.source == "ground" and status.age_s == pytest.approx(1.0)
    # and every later command, in ground time
    ok(auth.verify(TOPIC, signed(body(2, "start", issued=NOW + 20, ttl=10)),
                   NOW + skew + 20.5, 120.5))


@pytest.mark.parametrize("skew", [30.0, 3600.0])
def test_rover_ahead_learns_from_the_first_command_and_accepts_the_next(skew: float) -> None:
    auth = make_auth()
    refused(auth.verify(TOPIC, signed(body(1, "arm", ttl=10)), NOW + skew, 100.0), R.EXPIRED)
    assert auth.clock_status(NOW + skew, 100.0).offset_s == pytest.approx(-skew)
    ok(auth.verify(TOPIC, signed(body(2, "arm", issued=NOW + 2, ttl=10)), NOW + skew + 2.2,
                   102.2))


def test_timing_is_applied_in_ground_time_once_synced() -> None:
    auth = make_auth()  # max_age 60, ttl 120
    ok(auth.verify(TOPIC, signed(body(1, "status", ttl=10)), NOW - 3600, 0.0))
    # a command that expired in ground time is refused though the rover clock says fresh
    refused(auth.verify(TOPIC, signed(body(2, "arm", issued=NOW + 5, ttl=10)),
                        NOW - 3600 + 16, 16.0), R.EXPIRED)


def test_a_step_of_the_rover_clock_mid_run_changes_nothing() -> None:
    auth = make_auth()
    ok(auth.verify(TOPIC, signed(body(1, "status", ttl=10)), NOW - 30, 0.0))
    # NTP arrives: the rover's wall clock jumps by +30 s (and later by -1 h); monotonic on
    ok(auth.verify(TOPIC, signed(body(2, "arm", issued=NOW + 10, ttl=10)), NOW + 10.3, 10.3))
    assert auth.clock_status(NOW + 11, 11.0).offset_s == pytest.approx(0.0, abs=1e-6)
    ok(auth.verify(TOPIC, signed(body(3, "start", issued=NOW + 20, ttl=10)),
                   NOW + 20.3 - 3600, 20.3))
    assert auth.clock_status(NOW + 21 - 3600, 21.0).offset_s == pytest.approx(3600.0)


def test_a_held_back_command_cannot_pull_a_synced_clock_back_far() -> None:
    auth = make_auth()
    ok(auth.verify(TOPIC, signed(body(1, "status", ttl=10)), NOW, 0.0))
    # an attacker suppressed counters 2 and 3 (issued at NOW + 5 and NOW + 6) and
    # delivers them 300 s later: fresh counters, newer than the station's last sample
    refused(auth.verify(TOPIC, signed(body(2, "arm", issued=NOW + 5, ttl=90)), NOW + 300,
                        300.0), R.EXPIRED)
    moved = NOW + 300 - auth.clock.now(NOW + 300, 300.0)
    assert 0.0 < moved <= 10.0 + 1e-9  # the step-back allowance, not 295 s
    refused(auth.verify(TOPIC, signed(body(3, "arm", issued=NOW + 6, ttl=90)), NOW + 300,
                        300.0), R.EXPIRED)
    assert NOW + 300 - auth.clock.now(NOW + 300, 300.0) <= 10.0 + 1e-9
    # an older held-back message of that station (below its latest sample) moves nothing
    before = auth.clock.now(NOW + 300, 300.0)
    refused(auth.verify(TOPIC, signed(body(4, "arm", issued=NOW - 2000, ttl=90)),
                        NOW + 300, 300.0), R.EXPIRED)
    assert auth.clock.now(NOW + 300, 300.0) == before


def test_a_replayed_command_cannot_shift_the_clock() -> None:
    auth = make_auth()
    early = signed(body(1, "status", ttl=10))
    ok(auth.verify(TOPIC, early, NOW, 0.0))
    ok(auth.verify(TOPIC, signed(body(2, "status", issued=NOW + 100, ttl=10)), NOW + 100, 100.0))
    before = auth.clock.now(NOW + 400, 400.0)
    refused(auth.verify(TOPIC, early, NOW + 400, 400.0), R.REPLAYED)
    assert auth.clock.now(NOW + 400, 400.0) == before


def test_a_forward_jump_never_passes_the_command_that_made_it() -> None:
    clock = GroundClock(GroundClockConfig())
    judged = clock.observe("ops-1", NOW + 50, NOW, 0.0)
    assert judged == NOW + 50 and clock.now(NOW, 1.0) == NOW + 51


def test_a_restarted_rover_starts_from_the_persisted_floor(tmp_path) -> None:
    db = tmp_path / "replay.db"
    store = SqliteReplayStore(db, 8)
    ok(make_auth(store).verify(TOPIC, signed(body(1, "status", ttl=10)), NOW, 0.0))
    store.close()
    # power cycle: the rover's clock restarts an hour behind, monotonic from 0
    store2 = SqliteReplayStore(db, 8)
    auth = make_auth(store2)
    assert auth.clock_status(NOW - 3600, 0.0).offset_s == pytest.approx(3600.0)
    assert auth.clock_status(NOW - 3600, 0.0).source == "rover"
    # a held-back command from before the floor cannot drag the clock below it
    refused(auth.verify(TOPIC, signed(body(5, "arm", issued=NOW - 500, ttl=90)), NOW - 3600,
                        1.0), R.EXPIRED)
    assert auth.clock.now(NOW - 3600, 1.0) >= NOW
    store2.close()


def test_unsigned_path_lets_stop_through_at_any_offset() -> None:
    link = TrustedLink(CommandTiming(max_ttl_s=10.0, max_future_s=1.0, max_age_s=30.0))
    stop = b'{"id":"s1","command":"stop","issued_at":%f,"expires_at":%f}' % (NOW, NOW + 5)
    arm = b'{"id":"a1","command":"arm","issued_at":%f,"expires_at":%f}' % (NOW, NOW + 5)
    for skew in SKEWS:
        assert not isinstance(link.admit(stop, NOW + skew), Rejection)
        assert isinstance(link.admit(arm, NOW + skew), Rejection)


def test_safe_direction_commands_are_configurable() -> None:
    cfg = load_config(ground={"safe_direction_commands": ["stop", "estop", "clear_fault"]})
    timing = cfg.ground.command_timing
    assert timing.exempt("clear_fault") and not timing.exempt("arm")
    with pytest.raises(ConfigError, match="ground.safe_direction_commands"):
        load_config(ground={"safe_direction_commands": ["stopp"]})
    import dataclasses
    sec = dataclasses.replace(make_config(), timing=timing)
    auth = SignedCommandAuthenticator(sec, MemoryReplayStore(8), TOPIC)
    ok(auth.verify(TOPIC, signed(body(1, "clear_fault", ttl=10)), NOW + 3600))
