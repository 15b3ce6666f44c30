"""enter_realtime: SCHED_FIFO for the loop's thread where permitted, restored after."""

from __future__ import annotations

import logging
import os

from control.runtime.realtime import enter_realtime


def test_priority_zero_leaves_scheduling_alone() -> None:
    before = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    restore = enter_realtime(0)
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before
    restore()
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before


def test_fifo_is_applied_and_restored_or_refused_with_a_warning(caplog) -> None:
    before = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    with caplog.at_level(logging.INFO, logger="control.runtime.realtime"):
        restore = enter_realtime(5)
        during = os.sched_getscheduler(0)
        restore()
    after = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    assert after == before
    if "refused" in caplog.text:  # an unprivileged runner: normal scheduling, said so
        assert during & ~os.SCHED_RESET_ON_FORK == before
    else:
        assert during & ~os.SCHED_RESET_ON_FORK == os.SCHED_FIFO
        assert during & os.SCHED_RESET_ON_FORK  # children (the simulator) do not inherit it


def test_a_refusal_is_a_warning_not_an_error(monkeypatch, caplog) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    with caplog.at_level(logging.WARNING, logger="control.runtime.realtime"):
        restore = enter_realtime(20)
    restore()
    assert "SCHED_FIFO priority 20 refused" in caplog.text
