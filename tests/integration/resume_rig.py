"""A rover on the bench for the restart tests: the simulator and ``rig-control run`` as
real processes (a real pty between them), a signed ledger and the mission store on disk.

``ResumeBench(tmp, sites)`` writes the controller's configuration (time scale, a small
bucket, the ledger, the mission store) and the mission file; ``start_rig()`` starts the
simulator (``python -m sim_hw`` on a pty); ``start_controller()`` starts ``rig-control
run --autonomous`` (its log in ``controller-<n>.log``); ``wait_log(pattern, timeout)``
waits for a line of the current controller's log, on a deadline; ``kill()`` is SIGKILL,
``stop()`` SIGTERM and returns the printed summary. ``ledger_kg()`` sums the ledger
file per site.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

from control.demo.sim_process import SimulatorProcess
from telemetry.contract.keys import StationKey, public_key_hex, write_key_files

ROOT = Path(__file__).resolve().parents[2]
#: high enough to keep the wall time modest; a machine that cannot keep up slips
TIME_SCALE = 8.0
#: the controller counts a bucket full at 0.9 x this: a 20 kg site takes two loads
BUCKET_KG = 12.0


@dataclass(frozen=True)
class Site:
    name: str
    x: float
    y: float
    target_kg: float


class ResumeBench:
    def __init__(self, tmp: Path, sites: tuple[Site, ...], time_scale: float = TIME_SCALE
                 ) -> None:
        self.dir = tmp
        self.sites = sites
        self.time_scale = time_scale
        self.ledger = tmp / "ledger.jsonl"
        self.store = tmp / "mission.db"
        self.config = tmp / "control.toml"
        self.mission = tmp / "mission.toml"
        self.proc: asyncio.subprocess.Process | None = None
        self.rig: SimulatorProcess | None = None
        self.starts = 0
        rover, _ = write_key_files(StationKey("rover", SigningKey(bytes(range(40, 72)))), tmp)
        station = public_key_hex(SigningKey(bytes(range(32))))
        self.config.write_text(f"""
[loop]
time_scale = {time_scale}
rate_hz = 200.0

[strategy]
bucket_capacity_kg = {BUCKET_KG}

[ground]
outbox_path = "{tmp / 'outbox.db'}"

[mission]
state_path = "{self.store}"

[security]
replay_db = "{tmp / 'replay.db'}"
rover_key_file = "{rover}"
ledger_path = "{self.ledger}"

[security.keys.ops-1]
public_key = "{station}"
role = "operator"
""")
        self.write_mission(sites)

    def write_mission(self, sites: tuple[Site, ...], name: str = "resume") -> None:
        text = f'name = "{name}"\n[dump]\nx = 0.0\ny = 0.0\n'
        for s in sites:
            text += (f'[[site]]\nname = "{s.name}"\nx = {s.x}\ny = {s.y}\n'
                     f"target_kg = {s.target_kg}\nmax_cycles = 8\n")
        self.mission.write_text(text)
        self.sites = sites

    @property
    def log(self) -> Path:
        return self.dir / f"controller-{self.starts}.log"

    async def start_rig(self) -> str:
        """The simulator (``python -m sim_hw`` on a pty); returns the port."""
        # 250 Hz of samples and of physics (the lockstep benches run the plant at 200 Hz):
        # a quarter of the CPU of the defaults, so a busy machine keeps the time scale
        self.rig = SimulatorProcess(["--pty", "--link", str(self.dir / "rig.pty"), "--seed",
                                     "5", "--time-scale", str(self.time_scale), "--rate", "250",
                                     "--plant-rate", "250", "--batch-ms", "20"],
                                    start_timeout=60.0)
        await self.rig.__aenter__()
        return self.rig.url

    async def close(self) -> None:
        """Kill a controller still running; stop the simulator."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self.rig is not None:
            await self.rig.aclose()

    async def start_controller(self, port: str) -> None:
        self.starts += 1
        with open(self.log, "wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "control", "run", "--port", port, "--autonomous",
                "--config", str(self.config), "--mission", str(self.mission), "-v",
                cwd=self.dir, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=log)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_log(self, pattern: str, timeout: float, after: int = 0) -> re.Match[str]:
        """The first match of *pattern* in the current log (from offset *after*) within
        *timeout* wall seconds; fails then, or when the controller has exited."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = rx.search(self.log_text(), after)
            if found is not None:
                return found
            assert self.proc is not None
            assert self.proc.returncode is None, f"controller exited:\n{self.tail()}"
            assert time.monotonic() < deadline, \
                f"no {pattern!r} within {timeout} s\n{self.tail()}"
            await asyncio.sleep(0.01)

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert await asyncio.wait_for(self.proc.wait(), 30) == -signal.SIGKILL

    async def stop(self) -> str:
        """SIGTERM; returns what the controller printed (its summary)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(self.proc.communicate(), 60)
        assert self.proc.returncode == 0, self.tail()
        return out.decode(errors="replace")

    def tail(self, n: int = 4000) -> str:
        return "\n".join(line for line in self.log_text().splitlines()
                         if "simulated time slips" not in line)[-n:]

    def ledger_entries(self) -> list[dict]:
        return [json.loads(line) for line in self.ledger.read_text().splitlines()]

    def ledger_kg(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.ledger_entries():
            out[e["site"]] = out.get(e["site"], 0.0) + e["mass_g"] / 1000.0
        return out


def summary_sites(printed: str) -> dict[str, float]:
    """Delivered kg per site from the summary ``rig-control run`` prints at its exit."""
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"site (\w+)\W+([\d.]+) / [\d.]+ kg", printed)}
