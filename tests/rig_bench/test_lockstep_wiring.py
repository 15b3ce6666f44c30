"""One controller driver: the lockstep runner drives the service's own ``RigController``
(the one ``rig-control run`` builds) over the in-memory link, deterministically."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import rig_bench
from control import cli
from control.core.config import load_config
from control.core.mission import MissionPlan, MissionSite
from control.runtime.app import ControlTick, RigController
from firmware_bridge.bridge import Bridge
from rig_bench.lockstep import LockstepRunner
from rig_bench.virtual_clock import VirtualClockLoop
from sim_hw.ports import MemorySpec
from sim_hw.rig import Rig, RigConfig

MISSION = MissionPlan("wiring", (MissionSite("A", 1.5, 0.0, 25.0, 4),), dump_x=0.0, dump_y=0.0)
APP_TASKS = {"firmware-events", "firmware-commands", "telemetry", "control-loop"}


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[RigController]:
    """Every ``RigController`` constructed during the test, whoever constructs it."""
    instances: list[RigController] = []
    original = RigController.__init__

    def recording_init(self: RigController, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        instances.append(self)

    monkeypatch.setattr(RigController, "__init__", recording_init)
    return instances


def runner(seed: int = 1) -> LockstepRunner:
    cfg = load_config(None, loop={"rate_hz": 50.0})
    return LockstepRunner(cfg, RigConfig(seed=seed, batch_ms=20.0, plant_rate_hz=200), MISSION)


def test_the_runner_runs_the_apps_controller_its_tasks_and_its_bridge(made) -> None:
    r = runner()
    try:
        r.step()
        assert made == [r.controller] and type(r.controller) is RigController
        tasks = {t.get_name() for t in asyncio.all_tasks(r.loop)}
        assert APP_TASKS <= tasks, tasks
        assert isinstance(r.controller.bridge, Bridge)
        assert r.controller.bridge.url.startswith("memory://")
        for _ in range(99):
            r.step()
        # every tick the runner saw is one of the app's control loop (its own stats)
        assert r.ticks == 100 == r.controller.loop_stats.ticks
        link = r.controller.bridge.link.counters()
        assert link.frames_rx > 100 and link.crc_errors == 0  # framed bytes, both ways
        assert r.rig.firmware.motors_enabled  # the app's firmware requests reached it
    finally:
        r.close()


def test_rig_control_run_builds_the_same_controller_and_runs_in_lockstep_too(
        made, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``rig-control run --port memory://...`` (the service's entry point, unchanged)
    on the virtual clock, against the simulator served in memory: the class, the
    tasks and the ticks are the lockstep runner's."""
    monkeypatch.chdir(tmp_path)  # the outbox-only downlink writes its file here
    args = cli._parser().parse_args(["run", "--port", "memory://cli-run", "--autonomous",
                                     "--rate", "50"])
    ticks: list[ControlTick] = []
    loop = VirtualClockLoop()

    async def main() -> int:
        async with Rig(RigConfig(port=MemorySpec("cli-run"), seed=1, batch_ms=20.0)):
            run = asyncio.create_task(cli._run(args))
            while not made:
                await asyncio.sleep(0.001)
            ctl = made[0]

            def tick(t: ControlTick) -> None:
                ticks.append(t)
                if len(ticks) == 100:
                    ctl.stop()

            ctl.tick_listeners.append(tick)
            return await run

    try:
        assert loop.run_until_complete(main()) == 0
    finally:
        loop.close()
    assert len(made) == 1 and type(made[0]) is RigController
    assert made[0].port == "memory://cli-run" and len(ticks) == 100
    assert made[0].loop_stats.ticks == 100
    lockstep = runner()
    try:
        lockstep.step()
        assert type(made[1]) is type(made[0]) and made[1] is lockstep.controller
    finally:
        lockstep.close()


def test_the_bench_room_holds_no_second_copy_of_the_wiring() -> None:
    """rig_bench builds no control core, sensor feed or step inputs of its own and
    never steps a core: the app does all of that."""
    forbidden = {"ControlCore", "SensorFeed", "StepInputs", "FirmwareRequests", "Bridge"}
    for path in Path(rig_bench.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(
                    f, ast.Attribute) else ""
                assert name not in forbidden, f"{path.name}:{node.lineno} calls {name}"
                assert not (name == "step" and isinstance(f, ast.Attribute)
                            and ast.unparse(f.value).endswith("core")), \
                    f"{path.name}:{node.lineno} steps a core itself"


def test_a_seed_gives_the_same_run_every_time() -> None:
    seen: list[list[tuple[float, float, float]]] = []
    for _ in range(2):
        r = runner(seed=4)
        trace: list[tuple[float, float, float]] = []
        r.observers.append(lambda x, t=trace: t.append(
            (x.now, x.last_measurements.drum_current, x.last_measurements.cut_depth)))
        try:
            while not r.core.mission_running or r.now < 6.0:
                r.step()
        finally:
            r.close()
        seen.append(trace)
    assert len(seen[0]) >= 300
    assert seen[0] == seen[1]
