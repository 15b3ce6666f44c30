"""Console under a wrong-password login flood: how long does ``stop`` take to be acked?

Goal (issue 24, defect 1): with 40 clients posting wrong passwords in a loop,
``stop`` is acked within 0.5 s (it took 4.2-5.1 s: the command path's counter
file shared the default thread pool with scrypt, and aiomqtt's intake needed
two loop turns per message on the flooded loop). Starts its own Mosquitto,
``rig-sim``, ``rig-control run`` and ``rig-ground serve`` (the test stack),
logs the operator in, then for each scenario floods the console from a
separate process and sends ``--commands`` stops one after the other, each timed
from request to response (the response carries the rover's ack):

* ``limits on``: the console as shipped (per-address and per-user login limits:
  most of the flood is refused before any hashing);
* ``hashing-bound``: limits raised out of reach (``--login-address-burst`` and
  ``--login-user-failures`` 10**9), so every attempt that fits the scrypt pool is
  hashed: this shows the command path does not wait for the hashing threads.

    .venv/bin/python bench/bench_login_flood.py [--clients 40] [--commands 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from local_broker import Broker  # bench/, this script's directory

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.ground_console.flood import Flood, HttpUser, timed_commands
from tests.ground_console.stack import RIG, RigBench
from tests.ground_console.test_console_browser import add_user

GOAL_S = 0.5
SCENARIOS = {"limits on": [],
             "hashing-bound": ["--login-address-burst", "1000000000",
                               "--login-user-failures", "1000000000"]}


def wait_online(user: HttpUser, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = user.request("GET", "/api/fleet")
        if status == 200 and any(r["rig"] == RIG and r["online"]
                                 for r in json.loads(body)["rigs"]):
            return
        time.sleep(0.2)
    sys.exit(f"{RIG} not online within {timeout} s")


def scenario(workdir: Path, broker: Broker, extra: list[str], clients: int,
             commands: int) -> tuple[list[float], list[float], dict[int, int], float]:
    users = workdir / "users.json"
    add_user(users, "alice", "operator")
    with RigBench(workdir / "stack", broker.url) as bench:
        bench.start_rig()
        port = int(bench.start_console(users, extra=extra).rstrip("/").rsplit(":", 1)[1])
        alice = HttpUser(port)
        assert alice.login("alice", "alice-password-1") == 303
        wait_online(alice, 90.0)
        quiet = timed_commands(alice, RIG, "stop", commands // 2, 0.1)
        flood = Flood(port, "alice", clients)
        flood.start()
        try:
            time.sleep(2.0)  # the flood is in full swing
            before = flood.progress()
            t1 = time.monotonic()
            flooded = timed_commands(alice, RIG, "stop", commands, 0.1)
            rate = (flood.progress() - before) / (time.monotonic() - t1)
        finally:
            statuses = flood.stop()
    return quiet, flooded, statuses, rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=40)
    p.add_argument("--commands", type=int, default=20)
    args = p.parse_args()
    print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-login-flood-") as tmp:
        broker = Broker(Path(tmp))
        broker.start()
        try:
            for name, extra in SCENARIOS.items():
                quiet, flooded, statuses, rate = scenario(Path(tmp) / name.replace(" ", "-"),
                                                          broker, extra, args.clients,
                                                          args.commands)
                flooded.sort()
                p90 = flooded[int(0.9 * (len(flooded) - 1))]
                print(f"{name}: {args.clients} clients, {rate:.0f} login attempts/s answered "
                      f"(by status {dict(sorted(statuses.items()))})")
                print(f"  stop ack, no flood: median {statistics.median(quiet):.3f} s, "
                      f"max {max(quiet):.3f} s ({len(quiet)} commands)")
                print(f"  stop ack, flooded:  median {statistics.median(flooded):.3f} s, "
                      f"p90 {p90:.3f} s, max {flooded[-1]:.3f} s ({len(flooded)} commands)")
                print(f"  goal: every stop acked within {GOAL_S} s under the flood: "
                      f"{'met' if flooded[-1] <= GOAL_S else 'NOT met'}")
        finally:
            broker.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
