"""End to end over a real pseudo-terminal: mission, faults, link trouble."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import deque

from control.core.supervisor import Mode
from firmware_bridge.messages import CommandResult, Reason, ResultStatus

from .control_helpers import SMALL_MISSION, run_mission, simulator, wait_for


async def test_normal_mission_reaches_target_within_expected_cycles():
    async with simulator() as (rig, url):
        _ctl, s = await run_mission(url)
    assert s.mission_complete, s
    assert s.mass_dumped_kg >= SMALL_MISSION.target_kg - 0.5
    # 30 kg bucket, 0.9 full mark: 25 kg is one cycle, two if a stall spilt time
    assert 1 <= s.cycles <= 2
    assert s.final_mode == "idle"
    # what the controller booked matches what the simulator's physics put in the hopper
    assert abs(rig.plant.state.dumped - s.mass_dumped_kg) < 2.0


async def test_rock_strike_stall_is_recovered_or_reported():
    # a hard rock 3 simulated seconds into the dig: more than the motor can push
    async with simulator("rock@14:torque=400,duration=3") as (_rig, url):
        ctl, s = await run_mission(url)
    kinds = [text for _, _, text in ctl.record.events]
    assert s.stalls >= 1 or s.obstacles >= 1, kinds
    assert s.mission_complete or s.obstacles >= 1


class _RecordingOutbox(deque):
    """The firmware's outbox, keeping a copy of every command result it sends."""

    def __init__(self, items) -> None:
        super().__init__(items)
        self.command_results: list[CommandResult] = []

    def append(self, item) -> None:
        if isinstance(item[0], CommandResult):
            self.command_results.append(item[0])
        super().append(item)


async def test_serial_corruption_one_percent_mission_completes():
    # 1 % of the bytes corrupted in both directions from t=2 s on. A re-handshake after a
    # link loss reuses the cached channel table (docs/protocol.md 4.2), so it is short.
    async with simulator("corrupt@2:rate=0.01,duration=100000,direction=both") as (rig, url):
        results = _RecordingOutbox(rig.firmware.outbox)
        rig.firmware.outbox = results
        _ctl, s = await run_mission(url, max_wall_s=90.0)
        counters = rig.link.counters()
    assert s.mission_complete, s
    assert s.link["crc_errors"] > 0  # the controller saw (and dropped) corrupted frames
    assert counters.crc_errors > 0  # ... and so did the firmware: nothing corrupt executed
    # CRC drops every corrupted frame: no command reached the firmware's parser damaged. A
    # refusal for timing (expired, busy) is legitimate on a lossy line; a malformed one is not.
    malformed = {Reason.BAD_LENGTH, Reason.BAD_VALUE, Reason.UNKNOWN_COMMAND,
                 Reason.UNKNOWN_TYPE}
    refused = [r.reason for r in results.command_results if r.status is ResultStatus.REJECTED]
    assert len(results.command_results) > 0
    assert not malformed.intersection(refused), refused


async def test_firmware_reset_mid_dig_rehandshakes_and_resumes_safely():
    async with simulator() as (rig, url):
        from control.core.auto_operator import AutoOperator
        from control.runtime.app import RigController

        from .control_helpers import controller_config

        op = AutoOperator()
        ctl = RigController(controller_config(), url, SMALL_MISSION, operator=op)
        task = asyncio.create_task(ctl.run(until_complete=True, max_wall_s=60.0))
        await wait_for(lambda: ctl.core.mode is Mode.DIGGING, 20.0, "digging")
        op.enabled = False  # the operator looks away: nothing may move by itself
        from firmware_bridge.messages import ResetReason

        rig.reset_firmware(ResetReason.FAULT)
        await wait_for(lambda: ctl.core.stats.link_losses >= 1, 2.0, "link loss seen")
        await wait_for(lambda: ctl.core.mode is Mode.IDLE, 5.0, "re-handshake to idle")
        for _ in range(50):  # half a second of wall time: still stopped, no set-points
            await asyncio.sleep(0.01)
            assert ctl.core.mode is Mode.IDLE and ctl.core.last_setpoints is None
        assert not rig.firmware.motors_enabled
        op.enabled = True  # explicit re-arm and start
        s = await task
    assert s.mission_complete, s


async def test_controller_killed_firmware_watchdog_stops_motors_within_300ms(tmp_path):
    async with simulator(time_scale=4.0) as (rig, url):
        cfg = tmp_path / "c.toml"
        cfg.write_text("[loop]\ntime_scale = 4.0\nrate_hz = 200\n")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "control", "run", "--port", url, "--autonomous",
            "--config", str(cfg), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, cwd=tmp_path)
        try:
            await wait_for(lambda: rig.firmware.motors_enabled
                           and abs(rig.plant.state.omega) > 1.0, 30.0, "drum turning")
            loop = asyncio.get_running_loop()
            os.kill(proc.pid, signal.SIGKILL)
            killed = loop.time()
            await wait_for(lambda: rig.firmware.watchdog_tripped, 0.5, "watchdog trip")
            tripped = loop.time() - killed
            assert tripped < 0.300, f"watchdog tripped {tripped * 1000:.0f} ms after the kill"
            # the controlled stop then brings the drum to rest and removes power
            await wait_for(lambda: not rig.firmware.motors_enabled, 2.0, "motors off")
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
