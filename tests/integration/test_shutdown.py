"""Shutdown: STOP then ENABLE 0 are the last commands the firmware gets, every
controller task is gone afterwards, and ``rig-control run`` exits soon after SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from control.core.auto_operator import AutoOperator
from control.core.supervisor import Mode
from control.runtime.app import RigController
from firmware_bridge.messages import CommandCode

from .control_helpers import SMALL_MISSION, controller_config, simulator, wait_for

CONTROLLER_TASKS = ("firmware-", "motion-", "estop", "control-loop", "telemetry",
                    "ground-commands", "run-deadline")
SIGTERM_EXIT_S = 2.0  # the service's promise (docs/control.md, "Shutdown")


def _record_commands(rig) -> list[tuple[CommandCode, tuple[float, ...]]]:
    seen: list[tuple[CommandCode, tuple[float, ...]]] = []
    fw = rig.firmware
    original = fw.command

    def spy(cmd, *args, **kwargs):
        seen.append((cmd.code, tuple(cmd.args)))
        return original(cmd, *args, **kwargs)

    fw.command = spy  # the core's public entry for a delivered COMMAND
    return seen


async def test_stop_mid_motion_sends_stop_then_disable_last_and_leaves_no_task() -> None:
    async with simulator() as (rig, url):
        seen = _record_commands(rig)
        ctl = RigController(controller_config(), url, SMALL_MISSION, operator=AutoOperator())
        run = asyncio.create_task(ctl.run(max_wall_s=120))
        await wait_for(lambda: ctl.core.mode in (Mode.DRIVING, Mode.DIGGING) or run.done(),
                       40, "mission under way")
        assert rig.firmware.motors_enabled
        ctl.stop()
        await asyncio.wait_for(run, 30)
        codes = [(c, a) for c, a in seen]
        assert [c for c, _ in codes[-2:]] == [CommandCode.STOP, CommandCode.ENABLE], codes[-4:]
        assert codes[-1][1][0] == 0.0
        await wait_for(lambda: not rig.firmware.motors_enabled, 5, "motors disabled")
        left = [t.get_name() for t in asyncio.all_tasks()
                if t.get_name().startswith(CONTROLLER_TASKS)]
        assert left == []


async def test_rig_control_run_exits_soon_after_sigterm(tmp_path) -> None:
    async with simulator(time_scale=8.0) as (rig, url):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "control", "run", "--port", url, "--autonomous",
            "--time-scale", "8", cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        try:
            await wait_for(lambda: rig.firmware.motors_enabled or proc.returncode is not None,
                           90, "controller armed the rig")
            assert proc.returncode is None
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            took = time.monotonic() - sent
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        assert b"mission complete" in out  # the summary was printed
        await wait_for(lambda: not rig.firmware.motors_enabled, 5, "motors disabled")
    assert took < SIGTERM_EXIT_S, f"exited {took:.2f} s after SIGTERM"
