"""Tiered durability under SIGKILL: what was reported durable survives; only the unconfirmed
tail of the last loop turns may be lost, and it is never half-lost."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from telemetry.contract import parse_topic
from telemetry.contract.payloads import StatusMessage
from tests.integration.downlink_helpers import collecting, wait_until

ROVER = Path(__file__).with_name("rover_tiers.py")


class TieredRover:
    def __init__(self, url: str, outbox: Path) -> None:
        self.url, self.outbox = url, outbox
        self.published: dict[int, tuple[str, int]] = {}
        self.durable: list[int] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.published.clear()
        self.durable.clear()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, str(ROVER), self.url, str(self.outbox),
            stdout=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read(), name="tiers-stdout")

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        async for line in self.proc.stdout:
            parts = line.decode().split()  # a torn last line is ignored
            if len(parts) == 4 and parts[0] == "published":
                self.published[int(parts[1])] = (parts[2], int(parts[3]))
            elif len(parts) == 2 and parts[0] == "durable":
                self.durable.append(int(parts[1]))

    async def kill(self) -> None:
        assert self.proc and self._reader
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._reader


async def test_sigkill_loses_only_the_unconfirmed_tail(mosquitto, tmp_path: Path) -> None:
    outbox = tmp_path / "rover.db"
    async with collecting(mosquitto.url, "regolith/tiers/#") as got:
        rover = TieredRover(mosquitto.url, outbox)
        await rover.start()
        await wait_until(lambda: len(rover.durable) >= 1500, 30, "durable receipts")
        await rover.kill()
        published, durable = dict(rover.published), list(rover.durable)

        def received(boot: int) -> set[tuple[str, int]]:
            return {(parse_topic("regolith", t).stream, m.envelope.seq)
                    for t, m in got.received
                    if not isinstance(m, StatusMessage) and m.envelope.boot == boot}

        # Restart to drain what the first run stored but had not sent.
        await rover.start()
        await wait_until(lambda: {published[n] for n in durable} <= received(1), 30,
                         "every message reported durable")
        await wait_until(lambda: len(rover.durable) >= 100, 30, "second run")
        await rover.kill()
    assert durable == sorted(durable) and durable == list(range(len(durable)))
    first = received(1)
    lost = sorted(n for n, key in published.items() if key not in first)
    # Nothing reported durable is lost; what is lost was published after the last
    # durable report (the loop turns whose commit the kill interrupted), in one piece.
    assert not set(lost) & set(durable)
    assert all(n > durable[-1] for n in lost)
    assert lost == list(range(lost[0], max(published) + 1)) if lost else True
    # A number the ground saw from the first run is never reused without the resend flag.
    seen: set[tuple[str, int]] = set()
    for topic, m in got.received:
        if isinstance(m, StatusMessage):
            continue
        key = (parse_topic("regolith", topic).stream, m.envelope.seq)
        if key in seen:
            assert m.envelope.resend, f"{key} seen twice without the resend flag"
        seen.add(key)
