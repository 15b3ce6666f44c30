"""The harness against the simulator: rig-sim on a pty, and --serial over a socat pty pair."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
from collections.abc import AsyncIterator
from pathlib import Path

import serial

from firmware_bridge.conformance import CHECKS, Outcome, RunConfig, run_conformance
from sim_hw import PtySpec, Rig, RigConfig

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = "80"  # ms: host-side timing on a shared machine (see test_harness_loopback)


@contextlib.asynccontextmanager
async def process(*argv: str, ready: bool = True
                  ) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        line = ""
        if ready:
            assert proc.stdout is not None
            async with asyncio.timeout(15):
                line = (await proc.stdout.readline()).decode()
            assert line.startswith("READY "), line
        yield proc, line.removeprefix("READY ").strip()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                await proc.wait()


async def harness_cli(url: str, json_path: Path, *extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "firmware_bridge", "conformance", url, "--allow-motion",
        "--tolerance-ms", TOLERANCE, "--json", str(json_path), *extra, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(120):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    assert b"WARNING: --allow-motion" in err
    return proc.returncode, out.decode()


def assert_all_passed(rc: int, table: str, json_path: Path) -> None:
    report = json.loads(json_path.read_text())
    failed = [c for c in report["checks"] if c["result"] != "pass"]
    assert failed == [], table
    assert rc == 0 and report["passed"] is True
    assert [c["check"] for c in report["checks"]] == [c.id for c in CHECKS]
    assert f"{len(CHECKS)} passed, 0 failed, 0 skipped" in table
    standstill = next(c for c in report["checks"] if c["check"] == "standstill")
    assert standstill["measured"] <= standstill["bound"] == 300


async def test_rig_sim_on_a_pty_passes_the_harness(tmp_path) -> None:
    link = tmp_path / "ttyRIG"
    async with process(sys.executable, "-m", "sim_hw", "--pty", "--link", str(link),
                       "--time-scale", "4") as (_proc, url):
        rc, table = await harness_cli(url, tmp_path / "report.json")
    assert_all_passed(rc, table, tmp_path / "report.json")


async def test_rig_sim_serial_over_socat_passes_the_harness(tmp_path) -> None:
    socat = shutil.which("socat")
    assert socat is not None, "socat is required (scripts/ensure-socat.sh installs it)"
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    async with process(socat, f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}",
                       ready=False):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not (a.exists() and b.exists()):
            assert loop.time() < deadline, "socat made no pty pair"
            await asyncio.sleep(0.02)
        async with process(sys.executable, "-m", "sim_hw", "--serial", str(a), "--baud",
                           "921600", "--time-scale", "4") as (_proc, url):
            assert url == str(a)
            fd = os.open(a, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            try:  # rig-sim set the line speed on its end as on a real port
                assert termios.tcgetattr(fd)[5] == termios.B921600
            finally:
                os.close(fd)
            with serial.Serial(str(b), 921600) as probe:
                assert termios.tcgetattr(probe.fd)[5] == termios.B921600
            rc, table = await harness_cli(str(b), tmp_path / "serial.json", "--baud", "921600")
    assert_all_passed(rc, table, tmp_path / "serial.json")


async def test_watchdog_event_arrives_in_every_trial(tmp_path) -> None:
    """The firmware's watchdog report reaches the host in the next session, 15 times of 15."""
    async with Rig(RigConfig(port=PtySpec(str(tmp_path / "rig")))) as rig:
        assert rig.url is not None
        outcomes = []
        for _ in range(15):
            results = await run_conformance(RunConfig(
                rig.url, allow_motion=True, only=("watchdog.stop",), watchdog_ms=150,
                tolerance_ms=80.0))
            outcomes.append((results[0].outcome, results[0].detail))
        assert rig.firmware.watchdog_tripped is False  # the check re-enabled, then disabled
    assert [o for o, _ in outcomes] == [Outcome.PASS] * 15, outcomes
    assert all("event delivered in the next session" in d for _, d in outcomes)
