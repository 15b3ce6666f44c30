"""A recorder SIGKILLed mid-stream and restarted with the same client id loses nothing
the broker held for its session: rows are committed before messages are acked, and
the persistent MQTT session keeps the rest (real subprocesses, real Mosquitto).

To make the crash land where it matters, the test holds a lock on the store while the
broker delivers a stretch of messages (its debug log shows each delivery): the
recorder holds them received but not committed when it is killed. A recorder that
acknowledged on receipt would lose exactly those.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import asyncpg
import numpy as np

from telemetry.contract.payloads import BatchBlock
from telemetry.contract.rig_state import RigState
from telemetry.ground.report import build_report
from telemetry.rover.downlink import Downlink, DownlinkConfig
from tests.integration.downlink_helpers import wait_until


def deliveries(broker, client_id: str) -> int:
    return broker.log_text().count(f"Sending PUBLISH to {client_id} ")


class RecorderProcess:
    """``rig-ground record`` in its own process; ``up`` once it has subscribed."""

    def __init__(self, broker_url: str, client_id: str, store: str, shared: str | None):
        self.args = [sys.executable, "-m", "telemetry.ground.cli", "--broker", broker_url,
                     "--client-id", client_id, "-v", "record", "--store", store]
        if shared:
            self.args += ["--shared", shared]
        self.proc: asyncio.subprocess.Process | None = None
        self.log: list[str] = []
        self._reader: asyncio.Task[None] | None = None

    @property
    def up(self) -> bool:
        return any("recorder link up" in line for line in self.log)

    async def start(self) -> None:
        self.log = []
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        self._reader = asyncio.create_task(self._read(), name="recorder-output")
        await wait_until(lambda: self.up or self.proc.returncode is not None, 20,
                         f"{self.args} subscribed")
        assert self.up, "\n".join(self.log)

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        async for line in self.proc.stdout:
            self.log.append(line.decode(errors="replace").rstrip())

    def kill_if_running(self) -> None:
        """Test teardown: never leave a recorder behind a failed test."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()

    async def stop(self, sig: int) -> int:
        assert self.proc and self._reader
        self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), 20)
        await self._reader
        return code


class Rig:
    """A rover downlink publishing a steady mix; counts what it stored per stream."""

    def __init__(self, broker_url: str, outbox: Path) -> None:
        self.config = DownlinkConfig(rig_id="rig-1", outbox_path=outbox, broker_url=broker_url,
                                     event_throttle_s=0)
        self.published: dict[str, int] = {}
        self.dl: Downlink | None = None

    def round(self, i: int) -> None:
        assert self.dl
        rows = np.full((20, 3), float(i), dtype=np.float32)
        self.dl.publish_batch(BatchBlock("load", ["a", "b", "c"], ["N", "N", "N"], float(i), 0.01,
                                         rows))
        self.dl.publish_state(RigState.from_json({"mode": "digging", "i": i}))
        self.dl.publish_event("tick", "info", "tick", i=i)
        for stream in ("batch/load", "state", "event"):
            self.published[stream] = self.published.get(stream, 0) + 1

    async def publish(self, rounds: int, start: int) -> None:
        for i in range(start, start + rounds):
            self.round(i)
            await asyncio.sleep(0.005)  # a steady stream, not one burst
        assert self.dl
        dl = self.dl
        await wait_until(lambda: dl.counters.outbox_depth == 0, 20, "broker took everything")


async def _check_complete(store: str, rig: Rig) -> None:
    async def complete() -> bool:
        reports, _ = await build_report([store])
        return {r.stream: r.unique for r in reports} == rig.published

    deadline = asyncio.get_running_loop().time() + 30
    while not await complete():
        assert asyncio.get_running_loop().time() < deadline, "store never got everything"
        await asyncio.sleep(0.1)
    reports, malformed = await build_report([store])
    assert malformed == 0
    for r in reports:
        assert (r.unique, r.gaps, r.first_seq, r.last_seq) == \
            (rig.published[r.stream], 0, 0, rig.published[r.stream] - 1), r


async def test_sigkilled_sqlite_recorder_resumes_its_session(mosquitto_factory,
                                                             tmp_path: Path) -> None:
    broker = mosquitto_factory(extra_config=["log_type debug"])
    db = tmp_path / "rec.db"
    rec = RecorderProcess(broker.url, "rec-crash", str(db), shared=None)
    try:
        await _sqlite_crash(broker, rec, db, tmp_path)
    finally:
        rec.kill_if_running()


async def _sqlite_crash(broker, rec: RecorderProcess, db: Path, tmp_path: Path) -> None:
    await rec.start()
    rig = Rig(broker.url, tmp_path / "outbox.db")

    def stored() -> int:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COUNT(*) FROM messages WHERE type != 'status'"
                                ).fetchone()[0]

    async with Downlink(rig.config) as rig.dl:
        await asyncio.wait_for(rig.dl.wait_connected(), 10)
        await rig.publish(50, 0)
        await wait_until(lambda: stored() == 150, 20, "rows stored before the lock")
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the recorder can no longer commit
        delivered = deliveries(broker, "rec-crash")
        await rig.publish(50, 50)
        await wait_until(lambda: deliveries(broker, "rec-crash") >= delivered + 150, 20,
                         "deliveries to the blocked recorder")
        assert await rec.stop(signal.SIGKILL) == -signal.SIGKILL
        lock.execute("ROLLBACK")
        lock.close()
        assert stored() == 150, "nothing of the blocked stretch was committed"
        await rig.publish(100, 100)  # nobody listening: the broker's session queue holds these
        await rec.start()
        await rig.publish(100, 200)
        await _check_complete(str(db), rig)
    assert await rec.stop(signal.SIGTERM) == 0
    assert any(line.startswith("received=") for line in rec.log)


async def test_sigkilled_recorder_sharing_a_postgres_store_loses_nothing(
        mosquitto_factory, postgres_url: str, tmp_path: Path) -> None:
    broker = mosquitto_factory(extra_config=["log_type debug"])
    recs = [RecorderProcess(broker.url, f"rec-{i}", postgres_url, shared="ground")
            for i in range(2)]
    try:
        await _postgres_crash(broker, recs, postgres_url, tmp_path)
    finally:
        for r in recs:
            r.kill_if_running()


async def _postgres_crash(broker, recs: list[RecorderProcess], postgres_url: str,
                          tmp_path: Path) -> None:
    for r in recs:
        await r.start()
    rig = Rig(broker.url, tmp_path / "outbox.db")

    async def stored_by(name: str) -> int:
        conn = await asyncpg.connect(postgres_url)
        try:
            return await conn.fetchval("SELECT count(*) FROM messages WHERE recorder = $1",
                                       name)
        finally:
            await conn.close()

    async with Downlink(rig.config) as rig.dl:
        await asyncio.wait_for(rig.dl.wait_connected(), 10)
        await rig.publish(50, 0)
        await _check_complete(postgres_url, rig)
        assert await stored_by("rec-0") > 0 and await stored_by("rec-1") > 0
        lock = await asyncpg.connect(postgres_url)
        blocked = lock.transaction()
        await blocked.start()
        await lock.execute("LOCK TABLE messages IN EXCLUSIVE MODE")  # no recorder commits
        killed_at = await stored_by("rec-0")
        delivered = deliveries(broker, "rec-0")
        await rig.publish(50, 50)
        await wait_until(lambda: deliveries(broker, "rec-0") >= delivered + 50, 20,
                         "deliveries to the blocked recorder")
        assert await recs[0].stop(signal.SIGKILL) == -signal.SIGKILL
        await blocked.rollback()
        await lock.close()
        assert await stored_by("rec-0") == killed_at, "nothing of the blocked stretch committed"
        await rig.publish(100, 100)
        await recs[0].start()
        await rig.publish(100, 200)
        await _check_complete(postgres_url, rig)
    assert await stored_by("rec-0") > killed_at, "the restarted recorder took its share again"
    for r in recs:
        assert await r.stop(signal.SIGTERM) == 0
