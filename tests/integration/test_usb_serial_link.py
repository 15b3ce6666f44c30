"""The link's timing through a USB-serial adapter (``NoiseProxy`` with the USB profile).

The proxy packs the firmware's bytes into 64-byte packets and holds each one
until the latency timer (16 ms, the FTDI default a deployment forgets to
change) expires, with up to 1 ms of jitter (docs/protocol.md section 1.1).
Under that: the whole conformance run passes with the default 250 ms
watchdog, heartbeats are never taken for a loss, and a mission completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from firmware_bridge.bridge import Bridge
from firmware_bridge.conformance import CHECKS
from firmware_bridge.link import MessageReceived
from firmware_bridge.messages import Heartbeat
from sim_hw import PtySpec, Rig, RigConfig
from sim_hw.line_noise import NoiseConfig
from sim_hw.noise_proxy import NoiseProxy
from sim_hw.usb_serial import UsbSerialConfig

from .control_helpers import SMALL_MISSION, run_mission, simulator

USB = UsbSerialConfig()  # 64-byte packets, 16 ms latency timer, 1 ms jitter
# host-side timing on a machine shared with other jobs, as in tests/conformance; the
# figures of a run at the default 20 ms are in docs/protocol.md section 8.3
TOLERANCE = "80"
ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def child(*argv: str) -> AsyncIterator[str]:
    """A child process that prints ``READY <url>``; yields the url, ends it on exit."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(15):
            line = (await proc.stdout.readline()).decode()
        assert line.startswith("READY "), line
        yield line.removeprefix("READY ").strip()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                await proc.wait()


async def test_conformance_passes_through_a_usb_adapter(tmp_path) -> None:
    """rig-sim behind ``rig-noise-proxy --usb`` (16 ms timer): every check, 250 ms watchdog."""
    async with child("-m", "sim_hw", "--pty", "--link", str(tmp_path / "rig"),
                     "--time-scale", "4") as rig_url, \
            child("-m", "sim_hw.noise_proxy", rig_url, "--usb", "--latency-ms", "16",
                  "--link", str(tmp_path / "usb")) as url:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "firmware_bridge", "conformance", url, "--allow-motion",
            "--watchdog-ms", "250", "--tolerance-ms", TOLERANCE, "--json",
            str(tmp_path / "usb.json"), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        async with asyncio.timeout(180):
            out, _ = await proc.communicate()
    table = out.decode()
    assert "against docs/protocol.md 1.2" in table
    report = json.loads((tmp_path / "usb.json").read_text())
    failed = [(c["check"], c["detail"]) for c in report["checks"] if c["result"] != "pass"]
    assert failed == [], table
    assert [c["check"] for c in report["checks"]] == [c.id for c in CHECKS]
    assert report["protocol"] == "1.2" and report["watchdog_ms"] == 250


async def test_heartbeats_through_a_usb_adapter_are_never_a_loss(tmp_path) -> None:
    """200 firmware heartbeats (5 s) through the 16 ms timer: no loss on either end, and
    no gap between two heartbeats near the 250 ms loss timeout."""
    async with Rig(RigConfig(port=PtySpec(str(tmp_path / "rig")), time_scale=4)) as rig:
        assert rig.url is not None
        async with NoiseProxy(rig.url, NoiseConfig(), usb=USB) as proxy:
            async with Bridge(proxy.url) as bridge:
                loop = asyncio.get_running_loop()
                seen: list[float] = []
                async with asyncio.timeout(20):
                    async for ev in bridge.events():
                        if isinstance(ev, MessageReceived) and isinstance(ev.message, Heartbeat):
                            seen.append(loop.time())
                            if len(seen) == 200:
                                break
                host = bridge.link.counters()
            fw = rig.link.counters()
    assert host.links_lost == 0 and fw.links_lost == 0, (host, fw)
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert max(gaps) < 0.125, max(gaps)  # half the loss timeout, at the most


async def test_mission_completes_through_a_usb_adapter() -> None:
    async with simulator(time_scale=4.0) as (_rig, url):
        async with NoiseProxy(url, NoiseConfig(), usb=USB) as proxy:
            _ctl, s = await run_mission(proxy.url, max_wall_s=180.0, time_scale=4.0)
            usb = proxy.usb_to_host
    assert s.mission_complete, s
    assert s.mass_dumped_kg >= SMALL_MISSION.target_kg - 0.5
    assert s.link["links_lost"] == 0, s.link
    # the adapter held bytes back (packetised): on a quiet machine the stream fills its
    # 64-byte packets before the 16 ms timer runs out (8 ms at most in a fresh-clone run),
    # so the timer itself is not reached; the conformance test above covers its effect
    assert usb is not None and usb.delays and max(usb.delays) > 0.001
