"""A SIGKILL at any point never leaves a hole in the ledger the ground records:
entries on disk that never reached the outbox are republished at start."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from pathlib import Path

from nacl.signing import SigningKey

from telemetry.contract.ledger_format import verify_ledger
from telemetry.contract.payloads import LedgerMessage
from tests.integration.downlink_helpers import collecting, wait_until

ROVER = Path(__file__).with_name("ledger_rover.py")
SEED = bytes(range(32))


class LedgerRover:
    def __init__(self, url: str, tmp: Path) -> None:
        self.argv = [sys.executable, str(ROVER), url, str(tmp / "outbox.db"),
                     str(tmp / "ledger.jsonl"), SEED.hex()]
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None

    async def run(self, *extra: str, kill_after_s: float | None = None,
                  until: str | None = None) -> int:
        self.lines = []
        self.proc = await asyncio.create_subprocess_exec(*self.argv, *extra,
                                                         stdout=asyncio.subprocess.PIPE)
        reader = asyncio.create_task(self._read())
        if kill_after_s is not None:
            await wait_until(lambda: any(x.startswith("written") for x in self.lines), 30,
                             "first entry written")
            await asyncio.sleep(kill_after_s)  # a random moment to kill, not a wait for a result
            self.proc.send_signal(signal.SIGKILL)
        elif until is not None:
            await wait_until(lambda: until in self.lines or self.proc.returncode is not None,
                             60, until)
        code = await asyncio.wait_for(self.proc.wait(), 60)
        await reader
        return code

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        async for line in self.proc.stdout:
            self.lines.append(line.decode().strip())

    def reconciled(self) -> int:
        return next(int(x.split()[1]) for x in self.lines if x.startswith("reconciled"))


async def test_sigkill_at_any_point_leaves_no_ledger_hole_on_the_ground(mosquitto, tmp_path):
    rng = random.Random(12)
    rover = LedgerRover(mosquitto.url, tmp_path)
    async with collecting(mosquitto.url, "regolith/rig-1/ledger") as ground:
        # 1. the worst moment: entry 3 fsynced, then killed before the outbox has it
        assert await rover.run("--die-after", "3") == -signal.SIGKILL
        assert "written 3" in rover.lines
        # 2. killed at random moments while booking, each run first reconciling
        republished = []
        for _ in range(4):
            assert await rover.run(kill_after_s=rng.uniform(0.05, 0.6)) == -signal.SIGKILL
            republished.append(rover.reconciled())
        # 3. a last start: reconcile, deliver everything, exit
        assert await rover.run("--drain", until="drained") == 0
        on_disk = (tmp_path / "ledger.jsonl").read_bytes().splitlines()

        def records() -> dict[int, dict]:
            return {int(m.record["index"]): dict(m.record) for _, m in ground.received
                    if isinstance(m, LedgerMessage)}

        await wait_until(lambda: len(records()) >= len(on_disk), 30, "ledger on the ground")
    got = records()
    assert sorted(got) == list(range(len(on_disk))), "a hole in the ground's ledger"
    report = verify_ledger([got[i] for i in sorted(got)], SigningKey(SEED).verify_key,
                           rig="rig-1")
    assert report.broken is None
    assert report.entries == len(on_disk) >= 10
    assert republished[0] >= 1  # entry 3 reached the outbox only at the next start
