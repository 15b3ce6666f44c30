"""A whole ground-station bench as separate processes: simulator, controller, console.

``RigBench`` writes the keys (a station key ``ops-1`` with the operator role,
the rover's own key), the controller configuration (signed commands, a site
plan, telemetry every 0.1 s so the live plots get 10 batches a second) and a
two-site mission, then starts ``rig-sim --pty``, ``rig-control run`` and, on
request, ``rig-ground serve``, each with an explicit start-up deadline; their
output goes to log files next to the test's other files. Everything is
stopped with SIGTERM (SIGKILL after a deadline) in reverse order.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from telemetry.contract.keys import generate, write_key_files

# Simulated seconds per wall second. Kept low on purpose: the suite shares two cores with
# other work, and a starved simulator or controller misses the 250 ms link watchdog,
# which (by design) stops the mission until the next arm.
TIME_SCALE = 2.0
RIG = "rig-1"

SITE_PLAN = """
[site_plan]
name = "bench-permit"
clearance_m = 0.3
safety_radius_m = 1.5
slowdown_kg = 5.0

[[site_plan.site]]
name = "A"
x = 1.5
y = 0.0
radius_m = 0.6
quota_kg = 60.0

[[site_plan.site]]
name = "B"
x = 0.0
y = 1.5
radius_m = 0.6
quota_kg = 60.0

[[site_plan.keep_out]]
name = "heritage-1"
kind = "heritage"
polygon = [[3.0, 2.0], [4.5, 2.0], [4.5, 3.5], [3.0, 3.5]]
margin_m = 0.5
"""

MISSION = """
name = "bench-two-sites"
[dump]
x = 0.0
y = 0.0
[[site]]
name = "A"
x = 1.5
y = 0.0
target_kg = {target}
max_cycles = 3
[[site]]
name = "B"
x = 0.0
y = 1.5
target_kg = {target}
max_cycles = 3
"""


class Proc:
    """A child process whose stdout is read by a thread (lines queued, all logged)."""

    def __init__(self, name: str, args: Sequence[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "w")  # closed in stop()
        self.proc = subprocess.Popen(list(args), stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, text=True,
                                     env={**os.environ, **(env or {})})
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, name=f"{name}-stdout", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._log.write(line)
            self._log.flush()
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.name}: no {prefix!r} line within {timeout} s; "
                                     f"log:\n{self.log_text()[-3000:]}")
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode} "
                                         f"before {prefix!r}; log:\n{self.log_text()[-3000:]}"
                                         ) from None
                continue
            if line.startswith(prefix):
                return line

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5.0)
        self._reader.join(5.0)
        self._log.close()
        return self.proc.returncode


class RigBench:
    def __init__(self, workdir: Path, broker_url: str, *, faults: Sequence[str] = (),
                 target_kg: float = 20.0, time_scale: float = TIME_SCALE) -> None:
        self.dir = workdir
        self.time_scale = time_scale
        self.dir.mkdir(parents=True, exist_ok=True)
        self.broker_url = broker_url
        self.faults = list(faults)
        self.target_kg = target_kg
        self.procs: list[Proc] = []
        keys = self.dir / "keys"
        self.station_key, _ = write_key_files(generate("ops-1"), keys)
        # a second operator station (``rig-ground send`` from another desk)
        self.second_key, _ = write_key_files(generate("ops-2"), keys)
        self.rover_key, self.rover_pub = write_key_files(generate("rover"), keys)
        self.site_plan = self.dir / "site-plan.toml"
        self.site_plan.write_text(SITE_PLAN)
        self.config = self.dir / "control.toml"
        self.mission = self.dir / "mission.toml"
        self.mission.write_text(MISSION.format(target=target_kg))
        self._write_config()

    def _write_config(self) -> None:
        from telemetry.contract.keys import load_secret_key

        station = load_secret_key(self.station_key)
        second = load_secret_key(self.second_key)
        d = self.dir
        self.config.write_text(f"""
[loop]
time_scale = {self.time_scale}
rate_hz = {25.0 * self.time_scale}
stats_interval_s = 0.1

[ground]
rig_id = "{RIG}"
outbox_path = "{d / 'outbox.db'}"

[security]
replay_db = "{d / 'replay.db'}"
rover_key_file = "{self.rover_key}"
ledger_path = "{d / 'ledger.jsonl'}"

[security.keys.ops-1]
public_key = "{station.public_key_hex}"
role = "operator"

[security.keys.ops-2]
public_key = "{second.public_key_hex}"
role = "operator"
{SITE_PLAN}""")

    def start_rig(self) -> None:
        link = self.dir / "rig.pty"
        sim_args = [sys.executable, "-m", "sim_hw", "--pty", "--link", str(link),
                    "--time-scale", str(self.time_scale), "--seed", "5"]
        for fault in self.faults:
            sim_args += ["--fault", fault]
        sim = self._start("rig-sim", sim_args)
        url = sim.wait_line("READY ", 30.0).split(None, 1)[1]
        self._start("rig-control", [
            sys.executable, "-m", "control", "run", "--port", url, "--broker", self.broker_url,
            "--config", str(self.config), "--mission", str(self.mission)])

    def start_recorder(self, path: Path) -> Proc:
        """``rig-ground record`` into ``path``; returns once it is subscribed."""
        recorder = self._start("recorder", [
            sys.executable, "-m", "telemetry.ground.cli", "--broker", self.broker_url, "-v",
            "record", "--out", str(path)])
        deadline = time.monotonic() + 30.0
        while "subscribed to" not in recorder.log_text():
            if recorder.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"recorder not subscribed:\n{recorder.log_text()[-2000:]}")
            time.sleep(0.05)  # polling its log under an explicit deadline
        return recorder

    def start_console(self, users: Path, *, limits: Path | None = None,
                      recordings: Path | None = None, extra: Sequence[str] = (),
                      global_extra: Sequence[str] = ()) -> str:
        """``extra``: more ``serve`` options; ``global_extra``: ``rig-ground``'s own."""
        args = [sys.executable, "-m", "telemetry.ground.cli", "--broker", self.broker_url,
                *global_extra, "serve", "--users", str(users), "--key", str(self.station_key),
                "--port", "0", "--site-plan", str(self.site_plan),
                "--rover-key", str(self.rover_pub), "--audit-log", str(self.dir / "audit.jsonl")]
        if recordings is not None:
            args += ["--recordings", str(recordings)]
        if limits is not None:
            args += ["--limits", str(limits)]
        console = self._start("console", [*args, *extra])
        return console.wait_line("READY ", 30.0).split(None, 1)[1]

    def _start(self, name: str, args: Sequence[str]) -> Proc:
        proc = Proc(name, args, self.dir / f"{name}.log")
        self.procs.append(proc)
        return proc

    def stop(self) -> dict[str, int | None]:
        codes = {}
        for proc in reversed(self.procs):
            codes[proc.name] = proc.stop()
        self.procs.clear()
        return codes

    def __enter__(self) -> RigBench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
