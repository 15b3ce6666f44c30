"""``LockstepRunner``'s hooks: the telemetry callback and notices from outside the core."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from control.core.config import load_config
from control.core.mission import MissionPlan, MissionSite
from control.core.step import LinkDown, LinkUp
from control.core.supervisor import ModeChanged, Trigger
from control.runtime.sensor_feed import SensorFeed
from rig_bench.lockstep import LockstepRunner
from sim_hw.rig import RigConfig

MISSION = MissionPlan("hooks", (MissionSite("A", 1.5, 0.0, 25.0, 4),), dump_x=0.0, dump_y=0.0)


_made: list[LockstepRunner] = []


@pytest.fixture(autouse=True)
def _close_runners() -> Iterator[None]:
    yield
    while _made:
        _made.pop().close()


def runner() -> LockstepRunner:
    cfg = load_config(None, loop={"rate_hz": 50.0})
    _made.append(LockstepRunner(cfg, RigConfig(seed=1, batch_ms=20.0, plant_rate_hz=200),
                                MISSION))
    return _made[-1]


def test_telemetry_gets_the_feed_about_once_a_simulated_second_with_its_rows() -> None:
    r = runner()
    offered: list[tuple[float, int]] = []

    def take(feed: SensorFeed) -> None:
        blocks, _stats = feed.take_telemetry()
        offered.append((r.now, sum(b.samples.shape[0] for b in blocks)))

    r.telemetry = take
    for _ in range(round(5.0 / r.period)):
        r.step()
    assert len(offered) == 5, offered
    assert all(rows > 0 for _t, rows in offered), offered  # each offer carries new rows
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(offered)]
    assert all(abs(g - 1.0) < 2 * r.period for g in gaps), gaps


def test_without_a_telemetry_callback_the_rows_are_dropped_not_kept() -> None:
    with_callback, without = runner(), runner()
    offered: list[int] = []
    with_callback.telemetry = lambda feed: offered.append(
        sum(b.samples.shape[0] for b in feed.take_telemetry()[0]))
    for _ in range(round(3.5 / without.period)):
        with_callback.step()
        without.step()
    blocks, _stats = without.feed.take_telemetry()
    kept = sum(b.samples.shape[0] for b in blocks)  # drained at 1, 2 and 3 s: half a second's
    assert len(offered) == 3 and min(offered) > 0, offered
    assert 0 < kept < 0.75 * min(offered), (kept, offered)


def test_notify_reaches_the_core_at_its_next_step() -> None:
    r = runner()
    while not r.core.mission_running and r.now < 30.0:
        r.step()
    assert r.core.mission_running
    losses = r.core.stats.link_losses
    r.notify(LinkDown("cable pulled"))
    assert r.core.stats.link_losses == losses  # nothing before the next step
    r.step()
    assert r.core.stats.link_losses == losses + 1
    assert not r.core.mission_running
    seen = len(r.events)
    r.notify(LinkUp("regolith-rig-lockstep", reconnect=True))
    r.step()
    changes = [e for e in r.events[seen:] if isinstance(e, ModeChanged)]
    assert any(e.trigger is Trigger.HANDSHAKEN and "reconnect" in e.reason
               for e in changes), changes
