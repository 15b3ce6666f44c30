"""``rig-sim`` as a process: READY line, faults from the command line and a scenario, clean exit."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from firmware_bridge.bridge import Bridge
from firmware_bridge.messages import EventCode

from .helpers import is_event, wait_event

ROOT = Path(__file__).resolve().parents[2]


async def start_sim(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_hw", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    async with asyncio.timeout(10):
        line = (await proc.stdout.readline()).decode()
    assert line.startswith("READY "), line
    return proc, line.split(" ", 1)[1].strip()


async def stop_sim(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    async with asyncio.timeout(10):
        return await proc.wait()


async def test_tcp_with_faults_from_cli_and_scenario(tmp_path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text('[[fault]]\nkind = "overtemp"\nat = 0.3\ntemp = 140\n')
    log = tmp_path / "faults.jsonl"
    proc, url = await start_sim("--tcp", "127.0.0.1:0", "--seed", "2", "--rate", "10000",
                                "--scenario", str(scenario), "--fault", "lowbatt@0.2:soc=10",
                                "--fault-log", str(log))
    try:
        assert url.startswith("socket://127.0.0.1:")
        async with Bridge(url) as bridge:
            assert bridge.info is not None and bridge.info.sample_rate_hz == 10000
            assert bridge.info.batch_samples == 50
            await wait_event(bridge, is_event(EventCode.LOW_BATTERY))
            await wait_event(bridge, is_event(EventCode.OVER_TEMPERATURE))
    finally:
        rc = await stop_sim(proc)
    assert rc == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["kind"] for e in entries] == ["lowbatt", "overtemp"]
    assert entries[0]["sim_time"] == pytest.approx(0.2, abs=0.002)
    assert entries[0]["params"] == {"soc": 10.0} and entries[1]["wall_time"] > 1e9


async def test_pty_symlink_and_clean_sigint(tmp_path) -> None:
    link = tmp_path / "ttyRIG"
    proc, url = await start_sim("--pty", "--link", str(link), "--watchdog-ms", "300")
    assert url == str(link) and os.path.islink(link)
    async with Bridge(url) as bridge:
        assert bridge.info is not None and bridge.info.boot_id == 1
        assert await bridge.get_param(1) == 300  # fixed by the CLI, not by the HELLO
    assert await stop_sim(proc, signal.SIGINT) == 0
    assert not os.path.lexists(link)


async def test_bad_scenario_exits_2_naming_the_entry(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[fault]]\nkind = "rock"\nat = 1\n\n[[fault]]\nkind = "rock"\ntorq = 5\n')
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sim_hw", "--tcp", "127.0.0.1:0", "--scenario", str(bad),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(10):
        out, err = await proc.communicate()
    assert proc.returncode == 2 and out == b""
    assert "fault[1] (rock): unknown key 'torq'" in err.decode()


def test_help_documents_every_option() -> None:
    from sim_hw.cli import build_parser

    text = build_parser().format_help()
    for opt in ("--pty", "--link", "--tcp", "--serial", "--baud", "--seed", "--rate",
                "--batch-ms", "--time-scale", "--watchdog-ms", "--scenario", "--fault",
                "--fault-log", "--soil", "--duration", "--plant-rate", "-v"):
        assert opt in text
    assert "WALL time" in text and "SIMULATED" in text
    for kind in ("rock", "stall", "stuck", "dropout", "spikes", "corrupt", "drop",
                 "disconnect", "reset", "overtemp", "lowbatt", "estop"):
        assert f"  {kind} " in text
