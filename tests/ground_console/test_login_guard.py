"""The login guard's limits and lockouts, with time as plain numbers."""

from __future__ import annotations

from telemetry.ground.console.login_guard import LoginGuard, LoginGuardConfig

CFG = LoginGuardConfig(address_burst=3, address_per_s=1.0, user_failures=2, lockout_s=10.0,
                       lockout_max_s=25.0, device_failures=2, max_entries=4)


def test_an_address_gets_its_burst_then_one_attempt_per_refill() -> None:
    guard = LoginGuard(CFG)
    assert [guard.check(f"u{i}", "10.0.0.9", None, 0.0).allowed for i in range(4)] == \
        [True, True, True, False]
    refused = guard.check("u9", "10.0.0.9", None, 0.5)
    assert not refused.allowed and refused.reason == "address"
    assert abs(refused.retry_after_s - 0.5) < 1e-9
    assert guard.check("u9", "10.0.0.9", None, 1.0).allowed  # one token back after 1 s
    assert guard.check("u9", "10.0.0.8", None, 1.0).allowed  # another address: its own
    assert guard.refused == 2


def test_failures_lock_a_name_with_a_doubling_bounded_lockout() -> None:
    guard = LoginGuard(CFG)
    for now in (0.0, 1.0):
        assert guard.check("alice", f"10.0.0.{now:.0f}", None, now).allowed
        guard.failed("alice", None, now)
    locked = guard.check("alice", "10.9.9.9", None, 2.0)  # any address: the name is locked
    assert not locked.allowed and locked.reason == "user" and locked.retry_after_s == 9.0
    assert guard.check("bob", "10.9.9.9", None, 2.0).allowed  # other names are not
    assert guard.check("alice", "10.9.9.8", None, 11.0).allowed
    guard.failed("alice", None, 11.0)
    guard.failed("alice", None, 11.0)
    assert guard.check("alice", "10.9.9.7", None, 11.0).retry_after_s == 20.0  # doubled
    for now in (40.0, 80.0):
        guard.failed("alice", None, now)
        guard.failed("alice", None, now)
    assert guard.check("alice", "10.9.9.6", None, 80.0).retry_after_s == 25.0  # capped
    guard.succeeded("alice", None)
    assert guard.check("alice", "10.9.9.6", None, 80.0).allowed


def test_a_browser_that_logged_in_before_is_never_locked_out_by_others() -> None:
    guard = LoginGuard(CFG)
    # an attacker floods one address and locks the name
    for _ in range(20):
        if guard.check("alice", "127.0.0.1", None, 0.0).allowed:
            guard.failed("alice", None, 0.0)
    assert not guard.check("alice", "127.0.0.1", None, 0.0).allowed
    # alice, from the same address (an SSH tunnel), with her device cookie, gets through
    assert guard.check("alice", "127.0.0.1", "alice-laptop", 0.0).allowed
    # and a device is limited by its own failures only
    guard.failed("alice", "alice-laptop", 0.0)
    guard.failed("alice", "alice-laptop", 0.0)
    refused = guard.check("alice", "127.0.0.1", "alice-laptop", 0.0)
    assert not refused.allowed and refused.reason == "device"
    assert guard.check("alice", "127.0.0.1", "bob-desk", 0.0).allowed


def test_the_guard_forgets_the_stalest_entries_first() -> None:
    guard = LoginGuard(CFG)
    for i in range(10):
        guard.check("x", f"10.0.0.{i}", None, 0.0)
        guard.failed(f"user{i}", None, 0.0)
    assert len(guard._addresses) == 4 and len(guard._users) == 4
    assert set(guard._addresses) == {f"10.0.0.{i}" for i in range(6, 10)}
