"""The link's timing through a USB-serial adapter: conformance figures by latency timer.

For each line profile (rig-sim's own pty, the proxy without the adapter
profile, then ``rig-noise-proxy --usb`` with each latency timer asked for)
this starts ``rig-sim`` and the proxy as child processes, runs the
conformance harness (every check, ``--allow-motion``, the default 250 ms
watchdog) against the proxy's pty and prints the host-side
timing figures next to their bounds, with the run's tolerance. The machine's
load average is printed too: on a shared machine it, not the adapter, can
decide the host-side figures. Not part of CI.

    .venv/bin/python bench/bench_usb_link.py [--latencies none,proxy,1,16] [--tolerance-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from firmware_bridge.conformance import Outcome, RunConfig, run_conformance

ROOT = Path(__file__).resolve().parents[1]
TIMED = ("reliable.sequence", "estop.latch", "estop.power_cut", "watchdog.stop",
         "linkloss.one_way", "standstill")


@contextlib.asynccontextmanager
async def child(*argv: str) -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 15)).decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"{argv[1]} did not start: {line!r}")
        yield line.removeprefix("READY ").strip()
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def one(latency: str, tolerance: float, tmp: Path) -> list[str]:
    async with child("-m", "sim_hw", "--pty", "--link", str(tmp / f"rig{latency}"),
                     "--time-scale", "4") as rig_url:
        if latency == "none":  # rig-sim's own pty
            url_cm: contextlib.AbstractAsyncContextManager[str] = contextlib.nullcontext(
                rig_url)  # type: ignore[assignment]
        elif latency == "proxy":  # the proxy process without the adapter: its own cost
            url_cm = child("-m", "sim_hw.noise_proxy", rig_url, "--link", str(tmp / "plain"))
        else:
            url_cm = child("-m", "sim_hw.noise_proxy", rig_url, "--usb", "--latency-ms",
                           latency, "--link", str(tmp / f"usb{latency}"))
        async with url_cm as url:
            load = os.getloadavg()[0]
            results = await run_conformance(RunConfig(
                url, allow_motion=True, watchdog_ms=250, tolerance_ms=tolerance))
    passed = sum(r.outcome is Outcome.PASS for r in results)
    by_id = {r.id: r for r in results}
    cells = [f"{by_id[c].measured:7.1f}" if by_id[c].measured is not None else "      -"
             for c in TIMED]
    fails = ",".join(r.id for r in results if r.outcome is Outcome.FAIL) or "-"
    return [f"{latency:>7} {load:5.1f} " + " ".join(cells) + f" {passed:3d}/{len(results)} "
            + fails]


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latencies", default="none,proxy,1,16")
    p.add_argument("--tolerance-ms", type=float, default=20.0)
    args = p.parse_args()
    print(f"conformance through a USB-serial adapter, watchdog 250 ms, tolerance "
          f"{args.tolerance_ms:g} ms; measured ms (bounds: ack 10, e-stop 50, watchdog 250, "
          f"one-way 250, standstill 300)")
    print("latency  load     ack estopev  pwrcut watchdg  oneway standst  pass failed")
    with tempfile.TemporaryDirectory(prefix="bench-usb-") as tmp:
        for latency in args.latencies.split(","):
            for row in await one(latency.strip(), args.tolerance_ms, Path(tmp)):
                print(row, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
