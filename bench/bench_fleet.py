"""Fleet benchmark: N simulated rigs -> one Mosquitto -> recorders sharing a subscription.

Each simulated rig publishes what the demo controller (`rig-control demo`, time scale
5) publishes per wall second, measured from a real run: 1 state, 1 filtered batch of
the fast stream (12 channels x 506 rows, float64), 1 navigation batch (4 x 98),
5 + 5 window statistics (fast and navigation) and about 1.25 events: 14.25 messages
and 6464 channel-samples per second per rig. Publishers run in their own processes
(one MQTT connection per rig, QoS 1); recorders are real `rig-ground record`
processes sharing `$share/bench/...`, writing one PostgreSQL database (this script
starts a durable throwaway cluster: fsync and synchronous commit on) or one SQLite
file each. For N = 10, 50, 100 it prints, per store:

* offered and sustained stored messages/s (stored rows over the span of their
  commit times) and their ratio, stored channel-samples/s;
* CPU of the recorders, the database and the broker (percent of one core);
* end-to-end latency p50/p99: the rig's send time (``t_rig``, stamped when it sends)
  to the recorder's write of the row (``stored_at``, taken as its write transaction
  starts), plus the p99 of the recorders' write durations, added to p99 for the goal
  (a conservative bound); ``rcv p99`` stops at the recorder's receipt;
* ``pub late``: the simulated rigs' worst lateness against their schedule. They share
  the machine with everything else, so a starved publisher sends late (and then the
  offered rate is not sustained: see ``ratio``); a real rig has its own CPU;
* lost: published and acknowledged by the broker, but not in the store.

Goal: >= 50 rigs at the demo's rate (stored/offered >= 0.95), p99 < 1 s, nothing lost
-> "met" / "NOT met" per run, and per store.

    .venv/bin/python bench/bench_fleet.py [--rigs 10,50,100] [--duration 20]
        [--recorders 2] [--stores postgresql,sqlite]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import numpy as np

from telemetry.contract.payloads import BatchBlock, StatsBlock
from telemetry.contract.rig_state import RigState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.pgcluster

from local_broker import Broker  # bench/, this script's directory

from telemetry.contract import Severity
from telemetry.contract.payloads import (
    BatchMessage,
    Envelope,
    EventMessage,
    StateMessage,
    StatsMessage,
    encode,
)
from telemetry.ground.report import build_report
from telemetry.mqtt.adapter import MqttSettings, connect
from tests.pgcluster import PostgresCluster, PostgresUnavailable

FAST = ([f"fast{i}" for i in range(12)], 506)  # channels, rows per wall second
NAV = (["x", "y", "heading", "battery_soc"], 98)
TICK_S = 0.2  # statistics 5 per second; state, batches, an event every 5th tick
MSGS_PER_RIG_S = 2 / TICK_S + 4 + 0.25
SAMPLES_PER_RIG_S = len(FAST[0]) * FAST[1] + len(NAV[0]) * NAV[1]
GOAL_RIGS, GOAL_P99_MS = 50, 1000.0
_TICK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ simulated rigs


class SimulatedRig:
    def __init__(self, rig: str) -> None:
        self.rig = rig
        self.seq: dict[str, int] = {}
        rng = np.random.default_rng(abs(hash(rig)) % 2**32)
        self.fast = rng.normal(size=(FAST[1], len(FAST[0])))
        self.nav = rng.normal(size=(NAV[1], len(NAV[0])))

    def _env(self, stream: str, t: float) -> Envelope:
        seq = self.seq.get(stream, 0)
        self.seq[stream] = seq + 1
        return Envelope(self.rig, 1, seq, t, t, False, False)

    def tick(self, k: int, t: float) -> list[tuple[str, bytes]]:
        p = f"regolith/{self.rig}"
        out = []
        for name, (channels, _) in (("stream0", FAST), ("stream1", NAV)):
            vals = {s: np.zeros(len(channels)) for s in ("mean", "min", "max", "std")}
            out.append((f"{p}/stats/{name}", encode(StatsMessage(
                self._env(f"stats/{name}", t),
                StatsBlock(name, tuple(channels), ("u",) * len(channels), t - TICK_S, TICK_S,
                           1000, vals)))))
        if k % 5 == 0:
            out.append((f"{p}/state", encode(StateMessage(self._env("state", t), RigState(
                mode="digging", extra={"mass_excavated_kg": 0.1 * k, "drum_rpm": 11.5})))))
            for name, (channels, rows), data in (("stream0", FAST, self.fast),
                                                 ("stream1", NAV, self.nav)):
                out.append((f"{p}/batch/{name}", encode(BatchMessage(
                    self._env(f"batch/{name}", t), BatchBlock(name, tuple(channels),
                    ("u",) * len(channels), t - 1.0, 1.0 / rows, data)))))
            severity = Severity.WARNING if k % 20 == 0 else Severity.INFO
            out.append((f"{p}/event/{severity.value}", encode(EventMessage(
                self._env("event", t), "tick", severity, "periodic event", {"k": k}))))
        return out


async def _run_rig(url: str, rig: SimulatedRig, t0: float, end: float,
                   acked: dict[str, float]) -> None:
    settings = MqttSettings.from_url(url, protocol="5", client_id=f"bench-{rig.rig}")
    async with connect(settings) as session:
        k = 0
        while t0 + k * TICK_S < end:
            due = t0 + k * TICK_S
            await asyncio.sleep(max(0.0, due - time.time()))
            now = time.time()  # t_rig: when the rig sends, as a real rig stamps it
            acked["late_max_ms"] = max(acked["late_max_ms"], (now - due) * 1000)
            for topic, payload in rig.tick(k, now):
                await session.publish(topic, payload, qos=1)
                acked["messages"] += 1
                if "/batch/" in topic:
                    acked["samples"] += len(FAST[0]) * FAST[1] if topic.endswith("stream0") \
                        else len(NAV[0]) * NAV[1]
            k += 1


async def publisher_main(url: str, rigs: list[str], duration: float) -> None:
    """Child process: wait for ``GO <t0>`` on stdin, publish, print what was acked."""
    sims = [SimulatedRig(r) for r in rigs]
    print("READY", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    t0 = float(line.split()[1])
    acked = {"messages": 0, "samples": 0, "late_max_ms": 0.0}
    # rigs are independent: spread their phases over the 1 s period of their batches
    offsets = np.linspace(0, 5 * TICK_S, len(sims), endpoint=False)
    await asyncio.gather(*(_run_rig(url, s, t0 + o, t0 + duration, acked)
                           for s, o in zip(sims, offsets, strict=True)))
    print(json.dumps(acked), flush=True)


# ------------------------------------------------------------------ processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICK


def children_of(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


class RecorderProcess:
    """``rig-ground record`` as a child process; its output is read as it comes."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.up = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="recorder-output")

    @classmethod
    async def start(cls, url: str, name: str, store: str) -> RecorderProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telemetry.ground.cli", "--broker", url, "--client-id",
            name, "-v", "record", "--store", store, "--shared", "bench",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        rec = cls(proc)
        try:
            await asyncio.wait_for(rec.up.wait(), 30)
        except TimeoutError:
            sys.exit(f"recorder {name} did not subscribe:\n" + "\n".join(rec.lines))
        return rec

    async def _read(self) -> None:
        assert self.proc.stdout
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if "recorder link up" in line:
                self.up.set()

    async def stop(self) -> float | None:
        """SIGTERM; returns the recorder's write p99 (ms) from its summary line."""
        self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), 60)
        await self._reader
        for line in self.lines:
            if "write_p99_ms=" in line:
                value = line.rsplit("write_p99_ms=", 1)[1].split()[0]
                return None if value == "-" else float(value)
        return None


# ------------------------------------------------------------------ one run


@dataclass
class Result:
    store: str
    rigs: int
    published: int
    offered: float  # published / the publishing window
    stored_rate: float
    samples_rate: float
    recorder_cpu: float
    db_cpu: float | None
    broker_cpu: float
    p50_ms: float
    p99_ms: float
    write_p99_ms: float
    lost: int
    publisher_cpu: float
    receive_p99_ms: float
    publisher_late_ms: float
    recorder_us_per_msg: float

    @property
    def met(self) -> bool:
        return (self.lost == 0 and self.p99_ms + self.write_p99_ms < GOAL_P99_MS
                and self.stored_rate >= 0.95 * self.offered)


async def _stored_rows(kind: str, stores: list[str]) -> int:
    if kind == "postgresql":
        conn = await asyncpg.connect(stores[0])
        try:
            return await conn.fetchval("SELECT count(*) FROM messages WHERE NOT duplicate")
        finally:
            await conn.close()
    total = 0
    for path in stores:
        with sqlite3.connect(path) as db:
            total += db.execute("SELECT COUNT(*) FROM messages WHERE duplicate = 0").fetchone()[0]
    return total


_TIMES = "SELECT stored_at - t_rig, stored_at, received_at - t_rig FROM messages"


async def _latencies(kind: str, stores: list[str]) -> np.ndarray:
    """Columns: stored_at - t_rig, stored_at, received_at - t_rig; a row per message."""
    if kind == "postgresql":
        conn = await asyncpg.connect(stores[0])
        try:
            rows = [tuple(r) for r in await conn.fetch(_TIMES)]
        finally:
            await conn.close()
    else:
        rows = []
        for path in stores:
            with sqlite3.connect(path) as db:
                rows += db.execute(_TIMES).fetchall()
    return np.array(rows, dtype=np.float64).reshape(-1, 3)


async def _publish(broker: Broker, rigs: list[str], duration: float
                   ) -> tuple[list[asyncio.subprocess.Process], float]:
    procs = min(2, len(rigs))  # rigs spread over two publisher processes
    pubs = [await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--publisher", broker.url, "--duration", str(duration),
        *rigs[j::procs], stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        for j in range(procs)]
    for p in pubs:
        assert p.stdout and (await asyncio.wait_for(p.stdout.readline(), 60)).strip() == b"READY"
    t0 = time.time() + 1.0
    for p in pubs:
        assert p.stdin
        p.stdin.write(f"GO {t0}\n".encode())
        await p.stdin.drain()
    return pubs, t0


async def run_once(kind: str, n: int, duration: float, recorders: int,
                   cluster: PostgresCluster | None, workdir: Path) -> Result:
    broker = Broker(workdir, "set_tcp_nodelay true\nlog_dest none\nmax_queued_messages 1000000\n"
                    "max_inflight_messages 0\n")
    broker.start()
    recs: list[RecorderProcess] = []
    try:
        if kind == "postgresql":
            assert cluster is not None
            stores = [cluster.create_database(f"fleet_{n}_{int(time.time() * 1000)}")] * recorders
        else:
            stores = [str(workdir / f"rec-{n}-{i}.db") for i in range(recorders)]
        for i in range(recorders):
            recs.append(await RecorderProcess.start(broker.url, f"bench-rec-{i}", stores[i]))
        db_pids = ([cluster.pid, *children_of(cluster.pid)] if cluster and cluster.pid
                   and kind == "postgresql" else [])
        pubs, t0 = await _publish(broker, [f"rig-{i:03d}" for i in range(n)], duration)
        watched = ([r.proc.pid for r in recs], db_pids, [broker.proc.pid],
                   [p.pid for p in pubs])
        cpu0 = [cpu_seconds(p) for p in watched]
        acked = {"messages": 0, "samples": 0, "late_max_ms": 0.0}
        for p in pubs:
            assert p.stdout
            out = json.loads(await p.stdout.readline())
            acked = {"messages": acked["messages"] + out["messages"],
                     "samples": acked["samples"] + out["samples"],
                     "late_max_ms": max(acked["late_max_ms"], out["late_max_ms"])}
        publisher_cpu = (cpu_seconds(watched[3]) - cpu0[3]) / (time.time() - t0) * 100
        for p in pubs:
            await p.wait()
        deadline = time.monotonic() + 120
        while await _stored_rows(kind, stores) < acked["messages"] \
                and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        wall = time.time() - t0
        cpu = [(cpu_seconds(p) - c0) / wall * 100 for p, c0 in zip(watched, cpu0, strict=True)]
        write_p99 = max((w for w in [await r.stop() for r in recs] if w is not None),
                        default=0.0)
        reports, _ = await build_report(sorted(set(stores)))
        unique = sum(r.unique for r in reports)
        batches: dict[str, int] = {}
        for r in reports:
            batches[r.stream] = batches.get(r.stream, 0) + r.unique
        times = await _latencies(kind, stores)
        latency, stored_at = times[:, 0], times[:, 1]
        span = float(stored_at.max() - stored_at.min()) if stored_at.size > 1 else wall
        samples = batches.get("batch/stream0", 0) * len(FAST[0]) * FAST[1] + \
            batches.get("batch/stream1", 0) * len(NAV[0]) * NAV[1]
        return Result(kind, n, int(acked["messages"]), acked["messages"] / duration,
                      unique / span, samples / span, cpu[0],
                      cpu[1] if db_pids else None, cpu[2],
                      float(np.percentile(latency, 50)) * 1000,
                      float(np.percentile(latency, 99)) * 1000, write_p99,
                      int(acked["messages"]) - unique, publisher_cpu,
                      float(np.percentile(times[:, 2], 99)) * 1000, acked["late_max_ms"],
                      cpu[0] / 100 * wall / max(unique, 1) * 1e6)
    finally:
        for r in recs:
            if r.proc.returncode is None:
                r.proc.kill()
        broker.stop()


# ------------------------------------------------------------------ report


def print_table(results: list[Result], recorders: int, duration: float, load: str) -> None:
    print(f"fleet benchmark: {recorders} recorders sharing $share/bench; per rig "
          f"{MSGS_PER_RIG_S:g} msgs/s and {SAMPLES_PER_RIG_S} channel-samples/s (the demo's "
          f"rate); {duration:g} s per run; CPU in % of one core, {os.cpu_count()} cores, "
          f"load average {load}")
    print("ratio = stored/offered (goal >= 0.95); p99 = rig send time -> row written; "
          "+write = recorders' write p99; rcv p99 = rig send time -> recorder received; "
          "pub late = simulated rigs' worst lateness against their schedule")
    head = (f"{'store':<10} {'rigs':>4} {'offered/s':>9} {'stored/s':>9} {'ratio':>5} "
            f"{'ch-samples/s':>12} {'rec CPU':>7} {'us/msg':>6} {'db CPU':>6} "
            f"{'mqtt CPU':>8} {'pub CPU':>7} {'p50 ms':>8} {'p99 ms':>8} {'+write':>6} "
            f"{'rcv p99':>8} {'pub late':>8} {'lost':>5}  goal")
    print(head)
    for r in results:
        db = "-" if r.db_cpu is None else f"{r.db_cpu:.0f}%"
        mqtt = f"{r.broker_cpu:.0f}%"
        print(f"{r.store:<10} {r.rigs:>4} {r.offered:>9.1f} {r.stored_rate:>9.1f} "
              f"{r.stored_rate / r.offered:>5.2f} {r.samples_rate:>12,.0f} "
              f"{r.recorder_cpu:>6.0f}% {r.recorder_us_per_msg:>6.0f} {db:>6} {mqtt:>8} "
              f"{r.publisher_cpu:>6.0f}% {r.p50_ms:>8.1f} {r.p99_ms:>8.1f} "
              f"{r.write_p99_ms:>6.1f} {r.receive_p99_ms:>8.1f} {r.publisher_late_ms:>8.0f} "
              f"{r.lost:>5}  {'met' if r.met else 'NOT met'}")
    for store in sorted({r.store for r in results}):
        rows = [r for r in results if r.store == store]
        passing = [r.rigs for r in rows if r.met]
        ok = any(r.met and r.rigs >= GOAL_RIGS for r in rows)
        print(f"goal ({store}): >= {GOAL_RIGS} rigs at the demo's rate, p99 + write < "
              f"{GOAL_P99_MS:.0f} ms, nothing lost: {'met' if ok else 'NOT met'} "
              f"(largest N met: {max(passing) if passing else 'none'})")


async def main(args: argparse.Namespace) -> int:
    kinds = args.stores.split(",")
    cluster = None
    if "postgresql" in kinds:
        try:
            cluster = PostgresCluster(durable=True, settings={"shared_buffers": "256MB"})
            cluster.start()
        except PostgresUnavailable as err:
            sys.exit(f"{err}")
    results = []
    load_before = f"{os.getloadavg()[0]:.1f}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        for kind in kinds:
            for n in (int(x) for x in args.rigs.split(",")):
                print(f"... {kind}, {n} rigs", file=sys.stderr, flush=True)
                results.append(await run_once(kind, n, args.duration, args.recorders,
                                              cluster, workdir))
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    load = f"{load_before} at start, {os.getloadavg()[0]:.1f} at end"
    print_table(results, args.recorders, args.duration, load)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rigs", default="10,50,100")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--recorders", type=int, default=2)
    parser.add_argument("--stores", default="postgresql,sqlite")
    parser.add_argument("--publisher", metavar="BROKER", help=argparse.SUPPRESS)
    parser.add_argument("rig_ids", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publisher:
        asyncio.run(publisher_main(args.publisher, args.rig_ids, args.duration))
        sys.exit(0)
    sys.exit(asyncio.run(main(args)))
