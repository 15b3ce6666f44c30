"""A rover whose wall clock is 30 s behind the ground's (issue 22, part A), end to end.

``rig-control run`` runs under the real ``faketime -f -30s`` (its monotonic clock
left alone, ``FAKETIME_DONT_FAKE_MONOTONIC=1``) against the simulator and a real
Mosquitto, with signed commands on; the real ``rig-ground send`` signs with the
ground's clock. Before the fix every command was refused as ``future``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from pathlib import Path

import aiomqtt
import pytest

from telemetry.contract.keys import generate, write_key_files
from telemetry.contract.payloads import StateMessage, decode
from telemetry.contract.rig_state import RigState

from .control_helpers import simulator, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.timeout(400)]
log = logging.getLogger(__name__)

SKEW_S = -30.0


def _faketime() -> str:
    path = shutil.which("faketime")
    assert path, "faketime is not installed: run scripts/ensure-faketime.sh (make test does)"
    return path


def _rover_config(tmp: Path, station_hex: str) -> Path:
    write_key_files(generate("rover-1"), tmp / "keys")
    cfg = tmp / "rover.toml"
    cfg.write_text(f"""
[ground]
rig_id = "rig-1"
outbox_path = "{tmp / 'outbox.db'}"
link_required = false

[security]
replay_db = "{tmp / 'replay.db'}"
rover_key_file = "{tmp / 'keys' / 'rover-1.key'}"
ledger_path = "{tmp / 'ledger.jsonl'}"

[security.keys.ops-1]
public_key = "{station_hex}"
role = "operator"
""")
    return cfg


async def _send(broker_url: str, key: Path, *command: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telemetry.ground.cli", "--broker", broker_url, "--rig", "rig-1",
        "send", *command, "--key", str(key), "--timeout", "20",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(errors="replace")


async def _stop_group(pgid: int) -> None:
    """SIGTERM the faketime wrapper's whole process group (the controller is its child and
    would outlive it, holding the pty the next test's simulator gets); SIGKILL after 30 s."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = loop.time() + 30.0
    while loop.time() < deadline + 5.0:  # a zombie nobody reaps must not hang the test
        await asyncio.sleep(0.1)
        try:
            os.killpg(pgid, signal.SIGKILL if loop.time() > deadline else 0)
        except ProcessLookupError:
            return


async def test_stop_is_accepted_from_a_rover_30_s_behind(mosquitto, tmp_path) -> None:
    faketime = _faketime()
    station = generate("ops-1")
    write_key_files(station, tmp_path / "ground")
    key = tmp_path / "ground" / "ops-1.key"
    cfg = _rover_config(tmp_path, station.public_key_hex)
    env = {**os.environ, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    states: list[RigState] = []
    log_path = tmp_path / "rig-control.log"
    async with simulator(time_scale=1.0) as (_rig, url):
        with open(log_path, "wb") as log_file:  # a file: a full pipe would stall the rover
            proc = await asyncio.create_subprocess_exec(
                faketime, "-f", f"{SKEW_S:+.0f}s", sys.executable, "-m", "control", "run",
                "--port", url, "--config", str(cfg), "--broker", mosquitto.url, cwd=tmp_path,
                env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True)  # faketime does not pass a SIGTERM on: signal the group
        try:
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as ground:
                await ground.subscribe("regolith/rig-1/state", qos=1)

                async def collect() -> None:
                    async for msg in ground.messages:
                        decoded = decode(bytes(msg.payload))
                        if isinstance(decoded, StateMessage):
                            states.append(decoded.state)

                collector = asyncio.create_task(collect())
                await wait_for(lambda: states or proc.returncode is not None, 60,
                               "the controller's first state")
                assert proc.returncode is None
                log.info("first state: %s", states[0])
                code, out = await _send(mosquitto.url, key, "stop")
                log.info("stop: %s", out)
                assert code == 0 and "accepted" in out, out
                # before that command the rover knew only its own clock
                assert states[0].clock_offset_s == 0.0
                assert states[0].clock_source == "rover"
                code, out = await _send(mosquitto.url, key, "status")  # not a safe command
                assert code == 0 and "accepted" in out, out
                await wait_for(lambda: states[-1].clock_source == "ground", 30,
                               "a state with the learnt clock")
                assert states[-1].clock_offset_s == pytest.approx(-SKEW_S, abs=2.0)
                assert states[-1].clock_sync_age_s is not None
                collector.cancel()
        finally:
            await _stop_group(proc.pid)
            await proc.wait()
    tail = log_path.read_text(errors="replace")[-1500:]
    assert json.dumps(states[-1].to_json())  # JSON all the way
    assert "Traceback" not in tail, tail
